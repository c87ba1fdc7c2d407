// What a device's object owes its project: usage by UTC day of receipt, counts by time bucket,
// and module and error-message tallies. They are kept in the device's state row (state.ts),
// which every event writes anyway, so counting costs no row of its own.
//
// A delivery first seals what is owed under a sequence number, saved with the state (new
// counts go on accumulating beside it); the project applies each sequence at most once; once
// it has, the sealed part is dropped, and that is saved with the next write. A crash anywhere
// resends the same sequence, which the project ignores: nothing is lost or counted twice.
import type { BucketMetric, BucketMinutes, BucketRow } from "../../src/contract/buckets";
import type { TallyRow } from "../../src/contract/tallies";
import { type OutboxRow, USAGE_FIELDS } from "../../src/contract/usage";

/**
 * The counters of an outbox row: usage; of logs and log_bytes what was reserved against the
 * quota; and the change in the bytes the device's archive holds in R2 (the project's storage).
 */
const OWED_FIELDS = [...USAGE_FIELDS, "reserved_logs", "reserved_bytes", "storage_bytes"] as const;
export type OwedDelta = Partial<Record<(typeof OWED_FIELDS)[number], number>>;

/**
 * Counts owed, not yet sealed: by day; buckets as "minutes:start:metric" → n; tallies as "day\0kind\0key" →
 * [lines, errors].
 */
interface Counts {
  days: Record<string, OwedDelta>;
  buckets: Record<string, number>;
  tallies: Record<string, [number, number]>;
}

interface SealedCounts extends Counts {
  seq: number;
  /**
   * Where the sealed counts go (the project's object, or one of its fan-in objects): they must go there again
   * until taken.
   */
  route: number;
  /** Storage rows written since the last sealed delivery (storage.ts); not usage. */
  rows: number;
}

export interface Owed extends Counts {
  nextSeq: number;
  sealed: SealedCounts | null;
  /** When counts last went to the project (ms): they go at most once per delivery interval. */
  sentAt: number;
  /** The object's rows written as of the last sealed delivery. */
  rowsSealed: number;
}

export const emptyOwed = (): Owed => ({
  days: {},
  buckets: {},
  tallies: {},
  nextSeq: 1,
  sealed: null,
  sentAt: 0,
  rowsSealed: 0,
});

/** The payload of a delivery, as the project takes it. */
export interface Delivery {
  rows: OutboxRow[];
  buckets: BucketRow[];
  tallies: TallyRow[];
  route: number;
}

/** Adds `delta` to what is owed on `day`. */
export function addUsage(owed: Owed, day: string, delta: OwedDelta): void {
  if (!OWED_FIELDS.some((f) => delta[f])) return;
  const into = (owed.days[day] ??= {});
  for (const f of OWED_FIELDS) if (delta[f]) into[f] = (into[f] ?? 0) + delta[f];
}

export function addBuckets(
  owed: Owed,
  buckets: Iterable<{ minutes: BucketMinutes; start: number; metric: BucketMetric; n: number }>,
): void {
  for (const b of buckets) {
    const key = `${b.minutes}:${b.start}:${b.metric}`;
    owed.buckets[key] = (owed.buckets[key] ?? 0) + b.n;
  }
}

export function addTallies(
  owed: Owed,
  day: string,
  tallies: Iterable<{ kind: string; key: string; lines: number; errors: number }>,
): void {
  for (const t of tallies) {
    const key = `${day}\u0000${t.kind}\u0000${t.key}`;
    const had = owed.tallies[key] ?? [0, 0];
    owed.tallies[key] = [had[0] + t.lines, had[1] + t.errors];
  }
}

/** Whether any usage is owed, sealed or not. */
export function anyOwed(owed: Owed): boolean {
  return owed.sealed !== null || Object.keys(owed.days).length > 0;
}

/**
 * Seals what is owed under the next sequence, for `route`, unless a sealed part still waits
 * (it goes again, with its own route). `rowsNow` is the object's rows written so far.
 */
export function seal(owed: Owed, route: number, rowsNow: number): SealedCounts | null {
  if (owed.sealed) return owed.sealed;
  if (Object.keys(owed.days).length === 0) return null;
  owed.sealed = {
    seq: owed.nextSeq++,
    route,
    rows: Math.max(0, rowsNow - owed.rowsSealed),
    days: owed.days,
    buckets: owed.buckets,
    tallies: owed.tallies,
  };
  owed.rowsSealed = rowsNow;
  owed.days = {};
  owed.buckets = {};
  owed.tallies = {};
  return owed.sealed;
}

/** The project has applied the sealed sequence `seq`. */
export function delivered(owed: Owed, seq: number): void {
  if (owed.sealed?.seq === seq) owed.sealed = null;
}

/** The sealed counts as the rows, buckets and tallies of one delivery. */
export function deliveryOf(sealed: SealedCounts): Delivery {
  const seq = sealed.seq;
  const days = Object.keys(sealed.days).sort();
  const rows = days.map((day, i) => {
    const d = sealed.days[day]!;
    const row = { seq, day, ...Object.fromEntries(USAGE_FIELDS.map((f) => [f, d[f] ?? 0])) } as OutboxRow;
    if (d.reserved_logs) row.reserved_logs = d.reserved_logs;
    if (d.reserved_bytes) row.reserved_bytes = d.reserved_bytes;
    if (d.storage_bytes) row.storage_bytes = d.storage_bytes;
    if (i === 0 && sealed.rows > 0) row.rows_written = sealed.rows;
    return row;
  });
  const buckets = Object.entries(sealed.buckets).map(([key, n]) => {
    const [minutes, start, metric] = key.split(":");
    return { seq, minutes: Number(minutes) as BucketMinutes, start: Number(start), metric: metric as BucketMetric, n };
  });
  const tallies = Object.entries(sealed.tallies).map(([key, [lines, errors]]) => {
    const [day, kind, k] = key.split("\u0000");
    return { seq, day: day!, kind: kind as TallyRow["kind"], key: k!, lines, errors };
  });
  return { rows, buckets, tallies, route: sealed.route };
}
