// The project's time buckets (src/contract/buckets.ts), packed one row per size and UTC day
// (`bucket_days`: every bucket of the day, every metric), so a fold writes a handful of rows
// however many buckets the deliveries brought. Folded in by usage.ts, read as series together
// with what is not folded yet, and pruned when the daily job closes a day, once a size's
// BUCKET_KEEP_DAYS have passed.
import { BUCKET_KEEP_DAYS, BUCKET_MINUTES, type BucketMetric, type BucketMinutes } from "../../src/contract/buckets";
import { DAY_MS, utcDay } from "../../src/lib/time";
import { addCounts, type Delta, metricIndex, slotStart } from "../intake";
import type { Sql } from "../storage";

type Slots = Record<string, number[]>;

/** Adds buckets to their rows: one row written per size and day. */
export function foldBuckets(sql: Sql, buckets: NonNullable<Delta["buckets"]>): void {
  for (const [minutes, days] of Object.entries(buckets)) {
    for (const [day, slots] of Object.entries(days)) {
      const row = sql
        .exec<{ counts: string }>("SELECT counts FROM bucket_days WHERE minutes = ? AND day = ?", Number(minutes), day)
        .toArray()[0];
      const counts = row ? (JSON.parse(row.counts) as Slots) : {};
      for (const [slot, c] of Object.entries(slots)) addCounts((counts[slot] ??= []), c);
      sql.exec(
        "INSERT INTO bucket_days (minutes, day, counts) VALUES (?, ?, ?) ON CONFLICT (minutes, day) DO UPDATE SET counts = excluded.counts",
        Number(minutes),
        day,
        JSON.stringify(counts),
      );
    }
  }
}

export class TimeBuckets {
  constructor(
    private readonly sql: Sql,
    /** What deliveries brought that is not folded yet. */
    private readonly unfolded: () => Delta,
  ) {}

  /** Sum of `metrics` per bucket of `minutes` starting in [from, to) (ms), only buckets with counts. */
  series(
    minutes: BucketMinutes,
    metrics: readonly BucketMetric[],
    from: number,
    to: number,
  ): { start: number; n: number }[] {
    if (!(to > from)) return [];
    const at = metrics.map(metricIndex);
    const [first, last] = [utcDay(from), utcDay(to - 1)];
    const sums = new Map<number, number>();
    const add = (day: string, slots: Slots) => {
      for (const [slot, counts] of Object.entries(slots)) {
        const start = slotStart(minutes, day, slot);
        if (start < from || start >= to) continue;
        const n = at.reduce((s, i) => s + (counts[i] ?? 0), 0);
        if (n > 0) sums.set(start, (sums.get(start) ?? 0) + n);
      }
    };
    const rows = this.sql.exec<{ day: string; counts: string }>(
      "SELECT day, counts FROM bucket_days WHERE minutes = ? AND day BETWEEN ? AND ?",
      minutes,
      first,
      last,
    );
    for (const row of rows) add(row.day, JSON.parse(row.counts) as Slots);
    for (const [day, slots] of Object.entries(this.unfolded().buckets?.[minutes] ?? {}))
      if (day >= first && day <= last) add(day, slots);
    return [...sums].sort((a, b) => a[0] - b[0]).map(([start, n]) => ({ start, n }));
  }

  /** Drops each size's days that ended before its keeping time: one row per size and day. */
  prune(now: number): void {
    for (const minutes of BUCKET_MINUTES) {
      this.sql.exec(
        "DELETE FROM bucket_days WHERE minutes = ? AND day < ?",
        minutes,
        utcDay(now - BUCKET_KEEP_DAYS[minutes] * DAY_MS),
      );
    }
  }
}
