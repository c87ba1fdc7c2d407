// Usage an object owes the project's object: a DeviceHub's own counts, or what a fan-in
// object (fan-in/) gathered from its devices. Counts are added in the same transaction as the
// work they count, under the open sequence number. A delivery seals every pending sequence
// (new counts go to the next one), the receiver applies each sequence at most once, and only
// then are the rows deleted: a crash or retry anywhere can neither lose nor double a count.
import type { BucketMetric, BucketMinutes, BucketRow } from "../src/contract/buckets";
import type { TallyRow } from "../src/contract/tallies";
import { type OutboxRow, USAGE_FIELDS } from "../src/contract/usage";

const OPEN_SEQ_KEY = "outbox_open_seq";
/** Where the sealed rows went (see seal): they must go there again until one delivery takes them. */
const SEALED_ROUTE_KEY = "outbox_sealed_route";

/** The columns of an outbox row: the usage counters and, of logs and log_bytes, what was reserved. */
const OUTBOX_FIELDS = [...USAGE_FIELDS, "reserved_logs", "reserved_bytes"] as const;
export type OutboxDelta = Partial<Record<(typeof OUTBOX_FIELDS)[number], number>>;

/** Counts by time bucket, keyed by bucket size, start (ms) and metric. */
type BucketCount = { minutes: BucketMinutes; start: number; metric: BucketMetric; n: number };
/** Lines and errors of a module or an error message's shape, on a UTC day. */
type TallyCount = Omit<TallyRow, "seq">;

export interface Sealed {
  rows: OutboxRow[];
  buckets: BucketRow[];
  tallies: TallyRow[];
  /** The route the rows were sealed for (see seal). */
  route: number;
}

export class UsageOutbox {
  constructor(protected readonly storage: DurableObjectStorage) {}

  protected get openSeq(): number {
    return this.storage.kv.get<number>(OPEN_SEQ_KEY) ?? 1;
  }

  /** Counts `delta` on `day` (YYYY-MM-DD). */
  add(day: string, delta: OutboxDelta): void {
    const fields = OUTBOX_FIELDS.filter((f) => delta[f]);
    if (fields.length === 0) return;
    this.storage.sql.exec(
      `INSERT INTO outbox (seq, day, ${fields.join(", ")}) VALUES (?, ?, ${fields.map(() => "?").join(", ")})
       ON CONFLICT (seq, day) DO UPDATE SET ${fields.map((f) => `${f} = ${f} + excluded.${f}`).join(", ")}`,
      this.openSeq,
      day,
      ...fields.map((f) => delta[f]!),
    );
  }

  /** Module and error-message tallies, each on its day. One statement for all of them. */
  addTallies(tallies: Iterable<TallyCount>): void {
    const items = [...tallies].map((t) => [t.day, t.kind, t.key, t.lines, t.errors]);
    if (items.length === 0) return;
    this.storage.sql.exec(
      `INSERT INTO outbox_tallies (seq, day, kind, key, lines, errors)
       SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) WHERE true
       ON CONFLICT (seq, day, kind, key) DO UPDATE SET lines = lines + excluded.lines, errors = errors + excluded.errors`,
      this.openSeq,
      JSON.stringify(items),
    );
  }

  /**
   * Bucket counts owed under the open sequence. One statement for all of them: a batch
   * replayed from a spool can span thousands of buckets.
   */
  addBuckets(buckets: Iterable<BucketCount>): void {
    const items = [...buckets].map((d) => [d.minutes, d.start, d.metric, d.n]);
    if (items.length === 0) return;
    this.storage.sql.exec(
      `INSERT INTO outbox_buckets (seq, minutes, start, metric, n)
       SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
       ON CONFLICT (seq, minutes, start, metric) DO UPDATE SET n = n + excluded.n`,
      this.openSeq,
      JSON.stringify(items),
    );
  }

  /**
   * Every pending row, bucket and tally, sealed: counts added from now on go to a later
   * sequence. Buckets and tallies only ever go with usage rows of their sequence (each of
   * them is also a usage count).
   *
   * `route` says where this delivery goes (the project's object, or one of its fan-in
   * objects). Rows sealed before and not yet taken keep the route they were sealed for, and
   * it is answered: a receiver that applied them but whose answer was lost must be the one to
   * see them again, because only it knows it has them.
   */
  seal(route: number): Sealed {
    const sql = this.storage.sql;
    const rows = sql.exec<OutboxRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox ORDER BY seq, day").toArray();
    if (rows.length === 0) return { rows, buckets: [], tallies: [], route };
    const last = rows[rows.length - 1]!.seq;
    this.storage.kv.put(OPEN_SEQ_KEY, Math.max(this.openSeq, last + 1));
    const earlier = this.storage.kv.get<number>(SEALED_ROUTE_KEY);
    if (earlier === undefined) this.storage.kv.put(SEALED_ROUTE_KEY, route);
    const buckets = sql.exec<BucketRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox_buckets WHERE seq <= ?", last).toArray();
    const tallies = sql.exec<TallyRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox_tallies WHERE seq <= ?", last).toArray();
    return { rows, buckets, tallies, route: earlier ?? route };
  }

  /** The receiver has applied every sequence up to `seq`. */
  delivered(seq: number): void {
    this.storage.sql.exec("DELETE FROM outbox WHERE seq <= ?", seq);
    this.storage.sql.exec("DELETE FROM outbox_buckets WHERE seq <= ?", seq);
    this.storage.sql.exec("DELETE FROM outbox_tallies WHERE seq <= ?", seq);
    this.storage.kv.delete(SEALED_ROUTE_KEY);
  }

  /** Whether anything is owed: asked on every request (by the sender and the alarm), so one row at most, not a count. */
  pending(): boolean {
    return this.storage.sql.exec("SELECT 1 FROM outbox LIMIT 1").toArray().length > 0;
  }
}

