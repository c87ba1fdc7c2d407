// What a device's object keeps, and for how long: lines leave the hot store when they pass the
// hot window (their hours leave the index), remembered batch ids after BATCH_MEMORY_MS, metric
// minutes after RETENTION_MS. The alarm comes when the oldest thing kept expires, at most once
// per PRUNE_GAP_MS, so a device that logs without pause is not pruned line by line.
import { hourOf } from "../../src/lib/time";
import type { Timers } from "../timers";
import { BATCH_MEMORY_MS, type BatchMemory } from "./batches";
import type { LogHours } from "./hours";
import type { LogStore } from "./logs";
import { type MetricHistory, RETENTION_MS } from "./metrics";

const PRUNE_GAP_MS = 60_000;
/** Lines deleted per run, so one alarm stays short; the next run takes the rest. */
const PRUNE_BATCH = 10_000;
const PRUNED_AT_KEY = "pruned_at";

export class Retention {
  constructor(
    private readonly storage: DurableObjectStorage,
    /** The device's hot window now (its tier can change). */
    private readonly hotWindowMs: () => number,
    private readonly parts: { logs: LogStore; hours: LogHours; batches: BatchMemory<unknown>; metrics: MetricHistory },
    timers: Timers,
  ) {
    timers.add({ name: "retention", due: () => this.due(), fire: (now) => this.prune(now) });
  }

  private due(): number | null {
    const { logs, batches, metrics } = this.parts;
    const oldestLine = logs.oldest();
    const oldestBatch = batches.oldest();
    const oldestMinute = metrics.oldest();
    const expiries = [
      oldestLine === null ? null : Math.floor(oldestLine / 1000) + this.hotWindowMs(),
      oldestBatch === null ? null : oldestBatch + BATCH_MEMORY_MS,
      oldestMinute === null ? null : oldestMinute + RETENTION_MS,
    ].filter((t): t is number => t !== null);
    if (expiries.length === 0) return null;
    return Math.max(Math.min(...expiries), (this.storage.kv.get<number>(PRUNED_AT_KEY) ?? 0) + PRUNE_GAP_MS);
  }

  private prune(now: number): void {
    const edgeUs = (now - this.hotWindowMs()) * 1000;
    this.parts.logs.prune(edgeUs, PRUNE_BATCH);
    this.parts.hours.prune(hourOf(edgeUs) - 1);
    this.parts.batches.prune(now);
    this.parts.metrics.prune(now);
    this.storage.kv.put(PRUNED_AT_KEY, now);
  }
}
