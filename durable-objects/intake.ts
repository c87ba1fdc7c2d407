// The receiving side of a delivery of counts (a device's, or a fan-in object's), in the
// project's object and in the fan-in objects: one row per sender, `intake(sender, seq, epoch,
// pending, …)`. A delivery that brings fresh sequences rewrites its sender's row, one row
// written whatever it carries: the last sequence applied (a redelivery after a lost answer, a
// retry or a restart is ignored) and, per epoch, what the sender delivered that the receiver
// has not yet taken further (`pending`). A delivery with nothing fresh writes nothing.
//
// Epochs are the receiver's: the project folds every epoch before the open one into its
// aggregate tables (project-hub/usage.ts); a fan-in object seals epochs and delivers each to
// the project under the epoch's number as its sequence (fan-in/outbox.ts). Once an epoch is
// taken, a sender's entries for it are dropped the next time that sender delivers (its row is
// written then anyway); nothing rewrites the rows in between. What is not taken yet is summed in
// memory per epoch, and rebuilt from the rows when the object starts again.
//
// The project's intake rows also keep what its senders last said of their devices' presence
// (`seen`: last seen, metrics; project-hub/presence.ts), in the row each delivery writes anyway.
import type { BucketMetric, BucketMinutes, BucketRow } from "../src/contract/buckets";
import type { DeviceDayRow } from "../src/contract/fan-in";
import type { TallyRow } from "../src/contract/tallies";
import { type OutboxRow, USAGE_FIELDS, type UsageCounters } from "../src/contract/usage";
import { utcDay } from "../src/lib/time";
import type { Sql } from "./storage";

/** Lines and errors. */
export type Pair = [lines: number, errors: number];
type TallyKind = TallyRow["kind"];

/**
 * Counts delivered and not yet taken further, in the shape the project's aggregate rows keep
 * them (so a fold merges like with like). Empty parts are left out.
 */
export interface Delta {
  /** Usage counters by UTC day of receipt. */
  usage?: Record<string, Partial<UsageCounters>>;
  /** Of logs and log_bytes, what had been reserved against the month's quota, by month (YYYY-MM). */
  settled?: Record<string, Pair>;
  /** The devices active on a day, each with its lines and errors. */
  devices?: Record<string, Record<string, Pair>>;
  /** Lines and errors per module and per error-message shape, by day. */
  tallies?: Record<string, Partial<Record<TallyKind, Record<string, Pair>>>>;
  /** Time buckets by size (minutes), then UTC day of the bucket's start, then slot: counts in BUCKET_METRIC_ORDER. */
  buckets?: Record<string, Record<string, Record<string, number[]>>>;
  /** Storage rows the senders' objects wrote (their rows' `rows_written`). */
  rows?: number;
  /** The change in bytes the senders keep in R2 (their rows' `storage_bytes`: a device's archive). */
  storage?: number;
}

/** Where each metric's count sits in a bucket's counts. */
const METRIC_INDEX: Record<BucketMetric, number> = {
  logs_debug: 0,
  logs_info: 1,
  logs_warn: 2,
  logs_error: 3,
  logs_fatal: 4,
  heartbeats: 5,
  device_messages_in: 6,
  device_messages_out: 7,
  api_calls: 8,
};
const BUCKET_METRIC_ORDER = Object.keys(METRIC_INDEX) as BucketMetric[];
export const metricIndex = (metric: BucketMetric): number => METRIC_INDEX[metric];

/** A bucket's start (ms) from its day and slot. */
export const slotStart = (minutes: number, day: string, slot: string): number =>
  Date.parse(day) + Number(slot) * minutes * 60_000;

const addPair = (into: Record<string, Pair>, key: string, p: Pair) => {
  const t = (into[key] ??= [0, 0]);
  t[0] += p[0];
  t[1] += p[1];
};

/** Adds counts array `from` into `into`, index by index. */
export function addCounts(into: number[], from: readonly number[]): void {
  for (let i = 0; i < from.length; i++) into[i] = (into[i] ?? 0) + (from[i] ?? 0);
}

/** Adds `from` into `into` (which it changes and answers). */
export function merge(into: Delta, from: Delta): Delta {
  for (const [day, u] of Object.entries(from.usage ?? {})) {
    const t = ((into.usage ??= {})[day] ??= {});
    for (const f of USAGE_FIELDS) if (u[f]) t[f] = (t[f] ?? 0) + u[f];
  }
  for (const [month, p] of Object.entries(from.settled ?? {})) addPair((into.settled ??= {}), month, p);
  for (const [day, devices] of Object.entries(from.devices ?? {})) {
    const t = ((into.devices ??= {})[day] ??= {});
    for (const [id, p] of Object.entries(devices)) addPair(t, id, p);
  }
  for (const [day, kinds] of Object.entries(from.tallies ?? {})) {
    const t = ((into.tallies ??= {})[day] ??= {});
    for (const [kind, keys] of Object.entries(kinds)) {
      const k = (t[kind as TallyKind] ??= {});
      for (const [key, p] of Object.entries(keys)) addPair(k, key, p);
    }
  }
  for (const [minutes, days] of Object.entries(from.buckets ?? {})) {
    const m = ((into.buckets ??= {})[minutes] ??= {});
    for (const [day, slots] of Object.entries(days)) {
      const d = (m[day] ??= {});
      for (const [slot, counts] of Object.entries(slots)) addCounts((d[slot] ??= []), counts);
    }
  }
  if (from.rows) into.rows = (into.rows ?? 0) + from.rows;
  if (from.storage) into.storage = (into.storage ?? 0) + from.storage;
  return into;
}

/** What a sender delivered, as a delta. */
export interface Delivered {
  rows: OutboxRow[];
  buckets: BucketRow[];
  tallies: TallyRow[];
  devices: DeviceDayRow[];
}

/**
 * The delta of the fresh part of a delivery. Usage, devices and tallies land on `dayOf(day)`
 * (the project moves counts of a closed day to the first open one); buckets keep their own
 * start, and quota settlements the month the row was counted in.
 */
export function deltaOf(fresh: Delivered, dayOf: (day: string) => string = (d) => d): Delta {
  const delta: Delta = {};
  for (const r of fresh.rows) {
    const u = ((delta.usage ??= {})[dayOf(r.day)] ??= {});
    for (const f of USAGE_FIELDS) if (r[f]) u[f] = (u[f] ?? 0) + r[f];
    if (r.reserved_logs || r.reserved_bytes)
      addPair((delta.settled ??= {}), r.day.slice(0, 7), [r.reserved_logs ?? 0, r.reserved_bytes ?? 0]);
    if (r.rows_written) delta.rows = (delta.rows ?? 0) + r.rows_written;
    if (r.storage_bytes) delta.storage = (delta.storage ?? 0) + r.storage_bytes;
  }
  for (const d of fresh.devices)
    addPair(((delta.devices ??= {})[dayOf(d.day)] ??= {}), d.device_id, [d.logs, d.error_lines]);
  for (const t of fresh.tallies)
    addPair((((delta.tallies ??= {})[dayOf(t.day)] ??= {})[t.kind] ??= {}), t.key, [t.lines, t.errors]);
  for (const b of fresh.buckets) {
    const day = utcDay(b.start);
    const slot = String((b.start - Date.parse(day)) / (b.minutes * 60_000));
    const counts: number[] = [];
    counts[METRIC_INDEX[b.metric]] = b.n;
    addCounts(((((delta.buckets ??= {})[b.minutes] ??= {})[day] ??= {})[slot] ??= []), counts);
  }
  return delta;
}

/**
 * A delta as a delivery under sequence `seq` (a fan-in object's epoch): one usage row per day,
 * the quota settlements and the senders' rows on that month's first row, the devices' days,
 * buckets and tallies. The inverse of deltaOf.
 */
export function deliveryOf(seq: number, delta: Delta): Delivered {
  const zero = Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as UsageCounters;
  const rows: OutboxRow[] = Object.entries(delta.usage ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([day, u]) => ({ ...zero, ...u, seq, day }));
  for (const [month, [logs, bytes]] of Object.entries(delta.settled ?? {})) {
    const row = rows.find((r) => r.day.startsWith(month)) ?? rows[rows.push({ ...zero, seq, day: `${month}-01` }) - 1]!;
    row.reserved_logs = logs;
    row.reserved_bytes = bytes;
  }
  if (delta.rows || delta.storage) {
    if (rows.length === 0) rows.push({ ...zero, seq, day: utcDay(Date.now()) });
    if (delta.rows) rows[0]!.rows_written = delta.rows;
    if (delta.storage) rows[0]!.storage_bytes = delta.storage;
  }
  const devices = Object.entries(delta.devices ?? {}).flatMap(([day, ids]) =>
    Object.entries(ids).map(([device_id, [logs, error_lines]]) => ({ seq, day, device_id, logs, error_lines })),
  );
  const tallies = Object.entries(delta.tallies ?? {}).flatMap(([day, kinds]) =>
    Object.entries(kinds).flatMap(([kind, keys]) =>
      Object.entries(keys).map(([key, [lines, errors]]) => ({ seq, day, kind: kind as TallyKind, key, lines, errors })),
    ),
  );
  const buckets: BucketRow[] = [];
  for (const [minutes, days] of Object.entries(delta.buckets ?? {})) {
    for (const [day, slots] of Object.entries(days)) {
      for (const [slot, counts] of Object.entries(slots)) {
        const start = slotStart(Number(minutes), day, slot);
        counts.forEach((n, i) => {
          if (n)
            buckets.push({ seq, minutes: Number(minutes) as BucketMinutes, start, metric: BUCKET_METRIC_ORDER[i]!, n });
        });
      }
    }
  }
  return { rows, buckets, tallies, devices };
}

/** What a receiver stores beside a sender's counts, in the same row write. */
export interface RowMarks {
  /** Storage rows the sender's devices wrote, added to the sender's lifetime sum. */
  senderRows: number;
  /** The sender's own storage rows so far (a fan-in object's): the row keeps the highest. */
  relayRows: number;
  /** The receiver's own storage rows so far, kept where it writes anyway. */
  ownRows: number;
}

interface Sender {
  seq: number;
  /** Entries not taken yet, by epoch. */
  pending: Map<number, Delta>;
}

/** A sender row's pending counts are held under this many characters of JSON. */
const PENDING_MAX_CHARS = 256 * 1024;

export class Intake {
  /** Every epoch at or below this one is taken: folded, or applied by the project. */
  private taken = 0;
  /** The epoch fresh deliveries are counted in. */
  open = 1;
  /** What is not taken yet, summed over the senders, by epoch (memory only: rebuilt by load). */
  readonly epochs = new Map<number, Delta>();
  /** Senders whose rows hold entries not taken yet (memory only: rebuilt by load). */
  private readonly senders = new Map<string, Sender>();
  /** Last sequences already read (memory only). */
  private readonly seqs = new Map<string, number>();

  constructor(private readonly sql: Sql) {}

  /**
   * Rebuilds what is not taken from the rows, once, when the object starts: every entry above
   * `taken`. Answers the newest epoch any row names (0 when none).
   */
  load(taken: number): number {
    this.take(taken);
    const rows = this.sql
      .exec<{ sender: string; seq: number; pending: string }>(
        "SELECT sender, seq, pending FROM intake WHERE epoch > ?",
        taken,
      )
      .toArray();
    for (const row of rows) {
      const s: Sender = { seq: row.seq, pending: new Map() };
      for (const [key, delta] of Object.entries(JSON.parse(row.pending) as Record<string, Delta>)) {
        const epoch = Number(key);
        if (epoch <= taken) continue;
        s.pending.set(epoch, delta);
        merge(this.epoch(epoch), delta);
      }
      this.senders.set(row.sender, s);
    }
    return this.sql.exec<{ e: number | null }>("SELECT max(epoch) AS e FROM intake").one().e ?? 0;
  }

  /** The highest `taken` and `own_rows` any row recorded (what a fan-in object keeps nowhere else). */
  marks(): { taken: number; ownRows: number } {
    const m = this.sql
      .exec<{ taken: number | null; own: number | null }>(
        "SELECT max(taken) AS taken, max(own_rows) AS own FROM intake",
      )
      .one();
    return { taken: m.taken ?? 0, ownRows: m.own ?? 0 };
  }

  /**
   * Sums over every sender: rows its devices wrote, and the highest own total each reported; of the first,
   * what senders named `…/shard/…` wrote.
   */
  rowTotals(): { senderRows: number; relayRows: number; shardRows: number } {
    const t = this.sql
      .exec<{ s: number; r: number; l: number }>(
        "SELECT coalesce(sum(sender_rows), 0) AS s, coalesce(sum(relay_rows), 0) AS r, coalesce(sum(CASE WHEN instr(sender, '/shard/') > 0 THEN sender_rows ELSE 0 END), 0) AS l FROM intake",
      )
      .one();
    return { senderRows: t.s, relayRows: t.r, shardRows: t.l };
  }

  private epoch(e: number): Delta {
    let d = this.epochs.get(e);
    if (!d) this.epochs.set(e, (d = {}));
    return d;
  }

  /**
   * Senders whose counts came within `withinMs`, newest first, at most `max` + 1 (so the caller knows there
   * are more).
   */
  recent(withinMs: number, max: number): string[] {
    return this.sql
      .exec<{ sender: string }>(
        "SELECT sender FROM intake WHERE delivered_at >= ? ORDER BY delivered_at DESC LIMIT ?",
        Date.now() - withinMs,
        max + 1,
      )
      .toArray()
      .map((r) => r.sender);
  }

  /** The last sequence applied from `sender` (0 before the first). */
  last(sender: string): number {
    const known = this.senders.get(sender)?.seq ?? this.seqs.get(sender);
    if (known !== undefined) return known;
    const seq =
      this.sql.exec<{ seq: number }>("SELECT seq FROM intake WHERE sender = ?", sender).toArray()[0]?.seq ?? 0;
    this.seqs.set(sender, seq);
    return seq;
  }

  /** Whether anything is not taken yet. */
  get empty(): boolean {
    return this.epochs.size === 0;
  }

  /** How many senders have counts not taken yet. */
  get pendingSenders(): number {
    return this.senders.size;
  }

  /**
   * Counts `delta` from `sender`, whose sequences are applied through `seq`, in the open epoch:
   * one row written. Answers false, writing nothing, when the sender's row would pass
   * PENDING_MAX_CHARS; the caller then takes the delta further at once and calls `record`.
   */
  add(sender: string, seq: number, delta: Delta, marks: RowMarks, seen?: string): boolean {
    const pending = this.kept(sender);
    pending.set(this.open, merge(structuredClone(pending.get(this.open) ?? {}), delta));
    const json = JSON.stringify(Object.fromEntries(pending));
    if (json.length > PENDING_MAX_CHARS) return false;
    this.write(sender, seq, this.open, json, marks, seen);
    this.senders.set(sender, { seq, pending });
    this.seqs.delete(sender);
    merge(this.epoch(this.open), delta);
    return true;
  }

  /**
   * Records `seq` as applied from `sender` with nothing of it pending here, because the caller
   * took the delivery further in the same transaction. Entries of epochs not taken stay.
   */
  record(sender: string, seq: number, marks: RowMarks, seen?: string): void {
    const pending = this.kept(sender);
    const epoch = Math.max(0, ...pending.keys());
    this.write(sender, seq, epoch, JSON.stringify(Object.fromEntries(pending)), marks, seen);
    if (pending.size > 0) this.senders.set(sender, { seq, pending });
    else {
      this.senders.delete(sender);
      this.seqs.set(sender, seq);
    }
  }

  /** A copy of the sender's entries not taken yet. */
  private kept(sender: string): Map<number, Delta> {
    const s = this.senders.get(sender);
    return new Map([...(s?.pending ?? [])].filter(([e]) => e > this.taken));
  }

  /** Writes the sender's row; `seen` (only where the table has that column, the project's) replaces what it held. */
  private write(sender: string, seq: number, epoch: number, pending: string, m: RowMarks, seen?: string): void {
    const withSeen = seen === undefined ? ["", "", ""] : [", seen", ", ?", ", seen = excluded.seen"];
    this.sql.exec(
      `INSERT INTO intake (sender, seq, epoch, pending, sender_rows, relay_rows, own_rows, taken, delivered_at${withSeen[0]}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?${withSeen[1]})
       ON CONFLICT (sender) DO UPDATE SET seq = excluded.seq, epoch = excluded.epoch, pending = excluded.pending,
         sender_rows = sender_rows + excluded.sender_rows, relay_rows = max(relay_rows, excluded.relay_rows),
         own_rows = excluded.own_rows, taken = excluded.taken, delivered_at = excluded.delivered_at${withSeen[2]}`,
      sender,
      seq,
      epoch,
      pending,
      m.senderRows,
      m.relayRows,
      m.ownRows,
      this.taken,
      Date.now(),
      ...(seen === undefined ? [] : [seen]),
    );
  }

  /** What each sender's row says of its devices' presence (the project's intake only). */
  seenRows(): { sender: string; seen: string }[] {
    return this.sql
      .exec<{ sender: string; seen: string }>("SELECT sender, seen FROM intake WHERE seen IS NOT NULL")
      .toArray();
  }

  /**
   * Every epoch through `epoch` is taken. Memory only: the rows keep their entries until their
   * senders write again, and whoever takes records it durably (the project with its fold, a
   * fan-in object in its next row written).
   */
  take(epoch: number): void {
    this.taken = Math.max(this.taken, epoch);
    this.open = Math.max(this.open, this.taken + 1);
    for (const e of this.epochs.keys()) if (e <= this.taken) this.epochs.delete(e);
    for (const [id, s] of this.senders) {
      for (const e of s.pending.keys()) if (e <= this.taken) s.pending.delete(e);
      if (s.pending.size === 0) {
        this.senders.delete(id);
        this.seqs.set(id, s.seq);
      }
    }
  }

  /** Senders whose name contains `part`. */
  senderNames(part: string): string[] {
    return this.sql
      .exec<{ sender: string }>("SELECT sender FROM intake WHERE instr(sender, ?) > 0", part)
      .toArray()
      .map((r) => r.sender);
  }
}
