// What a shard owes its project: the usage of the lines it stored (logs, log_bytes,
// error_lines, what was reserved against the monthly quota), their time buckets and tallies,
// each device's day, and the change in what its archive holds in R2 (storage_bytes).
//
// Every batch and every archive change gets the next shard sequence, recorded with it in the
// same transaction (the batch in its chunk's record, chunks.ts; an archive change in
// `shard_events`), so counting costs no row of its own. Counts are summed in memory; a
// delivery sends everything after the last sequence the project took, as the range (from,
// through], and the project applies it only when `from` is where it stands: a delivery whose
// answer was lost is answered with where the project stands then, and only the rest goes
// again. After a restart the shard asks first, and rebuilds what the project has not taken from
// the records. Nothing is lost or counted twice, and the project's sequence is the only mark.
import { arrivalBuckets, type BucketRow, lineBuckets } from "../../src/contract/buckets";
import type { DeviceDayRow } from "../../src/contract/fan-in";
import type { TallyRow } from "../../src/contract/tallies";
import { lineTallies } from "../../src/contract/tallies";
import type { OutboxRow } from "../../src/contract/usage";
import { utcDay } from "../../src/lib/time";
import { addBuckets, addTallies, addUsage, deliveryOf, emptyOwed, type Owed, type OwedDelta } from "../device-hub/owed";
import type { Sql } from "../storage";
import type { BatchRecord, ChunkStore } from "./chunks";
import type { ShardRow } from "./rows";

export const EVENTS_SCHEMA = `CREATE TABLE shard_events (
     seq INTEGER PRIMARY KEY,      -- the shard sequence it was counted under
     at INTEGER NOT NULL,          -- ms
     storage_bytes INTEGER NOT NULL -- the change in the archive's bytes in R2
   );`;

/** Counts of a run of sequences. */
interface Piece {
  /** The last sequence it covers. */
  through: number;
  owed: Owed;
  /** day → device → [lines, error lines] */
  devices: Record<string, Record<string, [number, number]>>;
  any: boolean;
}

const emptyPiece = (through: number): Piece => ({ through, owed: emptyOwed(), devices: {}, any: false });

/** What goes to the project: the range and its counts, as ProjectHub.deliverShard takes them. */
export interface ShardDelivery {
  from: number;
  through: number;
  rows: OutboxRow[];
  buckets: BucketRow[];
  tallies: TallyRow[];
  devices: DeviceDayRow[];
}

export class ShardCounts {
  /** The last sequence given. */
  private seq: number;
  /**
   * Sequences through this one were given before this object started: after `taken`, they are read back from
   * the records.
   */
  private readonly startSeq: number;
  /** Where the project stands (the last sequence it took); unknown after a start until it answers. */
  private taken: number | undefined;
  /** Counted since the start (or read back), not yet taken, in order of sequence; the last is open. */
  private pieces: Piece[];
  /** This object's rows written when it last delivered (memory only). */
  private rowsSent = 0;

  constructor(
    private readonly sql: Sql,
    private readonly chunks: ChunkStore,
  ) {
    const events = this.sql.exec<{ s: number | null }>("SELECT max(seq) AS s FROM shard_events").one().s ?? 0;
    this.seq = this.startSeq = Math.max(events, chunks.newestSeq());
    this.pieces = [emptyPiece(this.seq)];
    // A shard that never stored anything owes nothing: the project stands at 0 for it.
    if (this.startSeq === 0) this.taken = 0;
  }

  /** The next sequence, for a batch or event about to be stored. */
  next(): number {
    return ++this.seq;
  }

  private get open(): Piece {
    return this.pieces[this.pieces.length - 1]!;
  }

  /** Counts a batch just stored (after its transaction committed). */
  countBatch(
    deviceId: string,
    record: BatchRecord,
    lines: readonly { ts: number; level: number; module: string; message: string }[],
  ): void {
    addBatch(this.open, deviceId, record, lines);
    this.open.through = Math.max(this.open.through, record.seq);
  }

  /**
   * An archive change of `bytes` in R2, under a new sequence, stored in the caller's
   * transaction (the same as the archive's own change).
   */
  recordStorage(bytes: number, at: number): void {
    if (bytes === 0) return;
    const seq = this.next();
    this.sql.exec("INSERT INTO shard_events (seq, at, storage_bytes) VALUES (?, ?, ?)", seq, at, bytes);
    addUsage(this.open.owed, utcDay(at), { storage_bytes: bytes });
    this.open.any = true;
    this.open.through = Math.max(this.open.through, seq);
  }

  /** Whether counts wait for the project (or the project has not said where it stands since the start). */
  owed(): boolean {
    return this.taken === undefined || this.pieces.some((p) => p.any);
  }

  /** The oldest day counts are owed for, if any. */
  oldestDay(): string | undefined {
    const days = this.pieces.flatMap((p) => Object.keys(p.owed.days));
    return days.length === 0 ? undefined : days.sort()[0];
  }

  /** Whether the project has said where it stands since this object started. */
  get known(): boolean {
    return this.taken !== undefined;
  }

  /**
   * The project stands at `taken`: counts through it are dropped. The first time after a start,
   * what the project has not taken of what was stored before the start is read back.
   */
  heard(taken: number): void {
    if (this.taken === undefined) {
      this.taken = taken;
      if (taken < this.startSeq) this.pieces.unshift(this.readBack(taken));
    }
    this.taken = Math.max(this.taken, taken);
    this.pieces = this.pieces.filter((p, i) => p.through > this.taken! || i === this.pieces.length - 1);
    if (this.open.through <= this.taken && this.open.any) this.pieces[this.pieces.length - 1] = emptyPiece(this.seq);
  }

  /**
   * What goes now: everything counted after where the project stands, sealed (new counts start
   * a new piece). Null when nothing is owed or where the project stands is not known.
   */
  seal(rowsWritten: number): ShardDelivery | null {
    if (this.taken === undefined || !this.pieces.some((p) => p.any)) return null;
    this.pieces.push(emptyPiece(this.seq));
    const sent = this.pieces.slice(0, -1);
    const through = sent[sent.length - 1]!.through;
    const merged = emptyPiece(through);
    for (const p of sent) mergeInto(merged, p);
    const own = Math.max(0, rowsWritten - this.rowsSent);
    const d = deliveryOf({
      ...merged.owed,
      seq: through,
      route: 0,
      rows: own,
      days: merged.owed.days,
      buckets: merged.owed.buckets,
      tallies: merged.owed.tallies,
    });
    const devices: DeviceDayRow[] = [];
    for (const [day, byDevice] of Object.entries(merged.devices)) {
      for (const [device_id, [logs, error_lines]] of Object.entries(byDevice))
        devices.push({ seq: through, day, device_id, logs, error_lines });
    }
    return { from: this.taken, through, rows: d.rows, buckets: d.buckets, tallies: d.tallies, devices };
  }

  /** The project took a delivery sealed at `rowsWritten` rows: where it stands now. */
  delivered(taken: number, rowsWritten: number): void {
    this.rowsSent = rowsWritten;
    this.heard(taken);
  }

  /** Deletes archive events the project has taken (called in the archive's transaction). */
  pruneEvents(): void {
    if (this.taken !== undefined) this.sql.exec("DELETE FROM shard_events WHERE seq <= ?", this.taken);
  }

  /**
   * The counts of every sequence after `taken` stored before this object started, from the chunks' records
   * and the events.
   */
  private readBack(taken: number): Piece {
    const piece = emptyPiece(this.startSeq);
    for (const { deviceId, record, lines } of this.chunks.recordsAfter(taken)) {
      if (record.seq <= this.startSeq) addBatch(piece, deviceId, record, lines);
    }
    for (const e of this.sql.exec<{ seq: number; at: number; storage_bytes: number }>(
      "SELECT seq, at, storage_bytes FROM shard_events WHERE seq > ? AND seq <= ?",
      taken,
      this.startSeq,
    )) {
      addUsage(piece.owed, utcDay(e.at), { storage_bytes: e.storage_bytes });
      piece.any = true;
    }
    return piece;
  }
}

/** Adds a batch's counts to a piece. */
function addBatch(
  piece: Piece,
  deviceId: string,
  record: BatchRecord,
  lines: readonly Pick<ShardRow, "ts" | "level" | "module" | "message">[],
): void {
  if (record.request) {
    // The request that brought the batch: its message in, its answer out, an API call (HTTPS).
    const [device_messages_in, device_messages_out, api_calls] = record.request;
    const request: OwedDelta = { device_messages_in, device_messages_out, api_calls };
    addUsage(piece.owed, utcDay(record.at), request);
    addBuckets(piece.owed, arrivalBuckets(record.at, request).values());
    piece.any = true;
  }
  if (record.lines === 0) return;
  const day = utcDay(record.at);
  let errors = 0;
  for (const l of lines) if (l.level >= 3) errors++;
  const delta: OwedDelta = { logs: record.lines, log_bytes: record.bytes, error_lines: errors };
  if (record.reserved) Object.assign(delta, { reserved_logs: record.reserved[0], reserved_bytes: record.reserved[1] });
  addUsage(piece.owed, day, delta);
  addBuckets(piece.owed, lineBuckets(lines, record.at).values());
  addTallies(piece.owed, day, lineTallies(lines).values());
  const byDevice = (piece.devices[day] ??= {});
  const had = byDevice[deviceId] ?? [0, 0];
  byDevice[deviceId] = [had[0] + record.lines, had[1] + errors];
  piece.any = true;
}

function mergeInto(into: Piece, p: Piece): void {
  for (const [day, delta] of Object.entries(p.owed.days)) addUsage(into.owed, day, delta);
  for (const [key, n] of Object.entries(p.owed.buckets)) into.owed.buckets[key] = (into.owed.buckets[key] ?? 0) + n;
  for (const [key, [lines, errors]] of Object.entries(p.owed.tallies)) {
    const had = into.owed.tallies[key] ?? [0, 0];
    into.owed.tallies[key] = [had[0] + lines, had[1] + errors];
  }
  for (const [day, byDevice] of Object.entries(p.devices)) {
    const to = (into.devices[day] ??= {});
    for (const [device, [lines, errors]] of Object.entries(byDevice)) {
      const had = to[device] ?? [0, 0];
      to[device] = [had[0] + lines, had[1] + errors];
    }
  }
  into.any ||= p.any;
}
