// The project's time buckets (src/contract/buckets.ts): written by UsageCounts.apply with the
// outbox rows they came with, read as series, and pruned by the alarm once a size's
// BUCKET_KEEP_DAYS have passed.
import { BUCKET_KEEP_DAYS, BUCKET_MINUTES, type BucketMetric, type BucketMinutes } from "../../src/contract/buckets";
import { DAY_MS } from "../../src/lib/time";
import type { Timers } from "../timers";

const PRUNE_EVERY_MS = 6 * 3600_000;
const PRUNED_AT_KEY = "buckets_pruned_at";

export class TimeBuckets {
  constructor(
    private readonly storage: DurableObjectStorage,
    timers: Timers,
  ) {
    timers.add({ name: "bucket pruning", due: () => this.due(), fire: (now) => this.prune(now) });
  }

  /** Sum of `metrics` per bucket of `minutes` starting in [from, to) (ms), only buckets with counts. */
  series(minutes: BucketMinutes, metrics: readonly BucketMetric[], from: number, to: number): { start: number; n: number }[] {
    return this.storage.sql
      .exec<{ start: number; n: number }>(
        `SELECT start, sum(n) AS n FROM buckets WHERE minutes = ? AND metric IN (${metrics.map(() => "?").join(", ")}) AND start >= ? AND start < ?
         GROUP BY start ORDER BY start`,
        minutes,
        ...metrics,
        from,
        to,
      )
      .toArray();
  }

  private due(): number | null {
    if (this.storage.sql.exec("SELECT 1 FROM buckets LIMIT 1").toArray().length === 0) return null;
    return (this.storage.kv.get<number>(PRUNED_AT_KEY) ?? 0) + PRUNE_EVERY_MS;
  }

  private prune(now: number): void {
    for (const minutes of BUCKET_MINUTES) {
      this.storage.sql.exec("DELETE FROM buckets WHERE minutes = ? AND start < ?", minutes, now - BUCKET_KEEP_DAYS[minutes] * DAY_MS);
    }
    this.storage.kv.put(PRUNED_AT_KEY, now);
  }
}
