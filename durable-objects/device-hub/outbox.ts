// Usage a DeviceHub owes its ProjectHub. Counts are added in the same transaction as the
// work they count, under the open sequence number. A delivery seals every pending sequence
// (new counts go to the next one), the project applies each sequence at most once, and only
// then are the rows deleted: a crash or retry anywhere can neither lose nor double a count.
import { type BucketDeltas, type BucketRow, arrivalBuckets } from "../../src/contract/buckets";
import type { Tallies, TallyRow } from "../../src/contract/tallies";
import { type OutboxRow, USAGE_FIELDS, type UsageDelta } from "../../src/contract/usage";
import { utcDay } from "../../src/lib/time";

const OPEN_SEQ_KEY = "outbox_open_seq";

export class UsageOutbox {
  constructor(private readonly storage: DurableObjectStorage) {}

  private get openSeq(): number {
    return this.storage.kv.get<number>(OPEN_SEQ_KEY) ?? 1;
  }

  /** Counts `delta` on the day of `now`, and what arrived in the buckets of `now`. */
  add(now: number, delta: UsageDelta): void {
    const fields = USAGE_FIELDS.filter((f) => delta[f]);
    if (fields.length === 0) return;
    this.addBuckets(arrivalBuckets(now, delta));
    this.storage.sql.exec(
      `INSERT INTO outbox (seq, day, ${fields.join(", ")}) VALUES (?, ?, ${fields.map(() => "?").join(", ")})
       ON CONFLICT (seq, day) DO UPDATE SET ${fields.map((f) => `${f} = ${f} + excluded.${f}`).join(", ")}`,
      this.openSeq,
      utcDay(now),
      ...fields.map((f) => delta[f]!),
    );
  }

  /** Marks `logs` lines and `bytes` bytes counted on the day of `now` as reserved at the project. */
  addReserved(now: number, logs: number, bytes: number): void {
    this.storage.sql.exec(
      `INSERT INTO outbox (seq, day, reserved_logs, reserved_bytes) VALUES (?, ?, ?, ?)
       ON CONFLICT (seq, day) DO UPDATE SET reserved_logs = reserved_logs + excluded.reserved_logs, reserved_bytes = reserved_bytes + excluded.reserved_bytes`,
      this.openSeq,
      utcDay(now),
      logs,
      bytes,
    );
  }

  /** Module and error-message tallies of a stored batch, on the day of `now`. */
  addTallies(now: number, tallies: Tallies): void {
    const day = utcDay(now);
    for (const t of tallies.values()) {
      this.storage.sql.exec(
        `INSERT INTO outbox_tallies (seq, day, kind, key, lines, errors) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (seq, day, kind, key) DO UPDATE SET lines = lines + excluded.lines, errors = errors + excluded.errors`,
        this.openSeq,
        day,
        t.kind,
        t.key,
        t.lines,
        t.errors,
      );
    }
  }

  /**
   * Bucket counts owed under the open sequence (lines by event time, from the ingest). One
   * statement for all of them: a batch replayed from a spool can span thousands of buckets.
   */
  addBuckets(deltas: BucketDeltas): void {
    if (deltas.size === 0) return;
    this.storage.sql.exec(
      `INSERT INTO outbox_buckets (seq, minutes, start, metric, n)
       SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
       ON CONFLICT (seq, minutes, start, metric) DO UPDATE SET n = n + excluded.n`,
      this.openSeq,
      JSON.stringify([...deltas.values()].map((d) => [d.minutes, d.start, d.metric, d.n])),
    );
  }

  /**
   * Every pending row and bucket, sealed: counts added from now on go to a later sequence.
   * Buckets only ever go with usage rows of their sequence (every bucket count is also a usage count).
   */
  seal(): { rows: OutboxRow[]; buckets: BucketRow[]; tallies: TallyRow[] } {
    const sql = this.storage.sql;
    const rows = sql.exec<OutboxRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox ORDER BY seq, day").toArray();
    if (rows.length === 0) return { rows, buckets: [], tallies: [] };
    const last = rows[rows.length - 1]!.seq;
    this.storage.kv.put(OPEN_SEQ_KEY, Math.max(this.openSeq, last + 1));
    const buckets = sql.exec<BucketRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox_buckets WHERE seq <= ?", last).toArray();
    const tallies = sql.exec<TallyRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox_tallies WHERE seq <= ?", last).toArray();
    return { rows, buckets, tallies };
  }

  /** The project has applied every sequence up to `seq`. */
  delivered(seq: number): void {
    this.storage.sql.exec("DELETE FROM outbox WHERE seq <= ?", seq);
    this.storage.sql.exec("DELETE FROM outbox_buckets WHERE seq <= ?", seq);
    this.storage.sql.exec("DELETE FROM outbox_tallies WHERE seq <= ?", seq);
  }

  pending(): boolean {
    return this.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n > 0;
  }
}
