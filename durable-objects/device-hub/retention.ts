// What a device's object keeps, and for how long: its metric history, RETENTION_MS. (Its lines
// are kept by its log shard, durable-objects/log-shard/retention.ts.) The alarm comes when prune
// has something to delete (the oldest metric row expires), at most once per PRUNE_GAP_MS.
import type { Timers } from "../timers";
import type { MetricHistory } from "./metrics";

const PRUNE_GAP_MS = 60_000;

export class Retention {
  constructor(
    private readonly metrics: MetricHistory,
    timers: Timers,
    /** When the last run was, kept in the device's state; `ran` records a run (saved with the alarm's work). */
    private readonly lastRun: { get(): number; ran(at: number): void },
  ) {
    timers.add({ name: "retention", due: () => this.due(), fire: (now) => this.run(now) });
  }

  private due(): number | null {
    const expiry = this.metrics.nextExpiry();
    return expiry === null ? null : Math.max(expiry, this.lastRun.get() + PRUNE_GAP_MS);
  }

  private run(now: number): void {
    this.metrics.prune(now);
    this.lastRun.ran(now);
  }
}
