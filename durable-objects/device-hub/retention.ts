// What a device's object keeps, and for how long: lines leave the hot store for the archive
// when they pass the hot window (or early, past HOT_STORE.maxLines lines), archived chunks are deleted
// past the tier's archive retention, remembered batch ids after BATCH_MEMORY_MS, metric
// minutes after RETENTION_MS. The alarm comes when the oldest thing kept expires, at most once
// per PRUNE_GAP_MS, so a device that logs without pause is not archived line by line; a run
// that had more to move than it may comes back at once.
import { hourOf } from "../../src/lib/time";
import type { Timers } from "../timers";
import type { LogArchive } from "./archive";
import { BATCH_MEMORY_MS, type BatchMemory } from "./batches";
import type { LogHours } from "./hours";
import type { LogStore } from "./logs";
import { type MetricHistory, RETENTION_MS } from "./metrics";

const PRUNE_GAP_MS = 60_000;
/** Chunks archived per run, so one alarm stays short (up to 200,000 lines); the next run takes the rest. */
const CHUNKS_PER_RUN = 10;
/** Archived chunks deleted per run. */
const DELETES_PER_RUN = 1000;
/**
 * Past `maxLines` the oldest lines are archived whatever their age: a Durable Object holds at
 * most 10 GB, and a hot line costs ~0.5–1 KB with its indexes and full-text entry. (An object,
 * so a test can lower it.)
 */
export const HOT_STORE = { maxLines: 5_000_000 };
const PRUNED_AT_KEY = "pruned_at";

export class Retention {
  /** Whether the last run stopped with more to move (memory only). */
  private behind = false;

  constructor(
    private readonly storage: DurableObjectStorage,
    /** The device's hot window now (its tier can change), and how long archived lines are kept. */
    private readonly hotWindowMs: () => number,
    private readonly archiveMs: () => number,
    private readonly parts: { logs: LogStore; archive: LogArchive; hours: LogHours; batches: BatchMemory<unknown>; metrics: MetricHistory },
    timers: Timers,
  ) {
    timers.add({ name: "retention", due: (now) => this.due(now), fire: (now) => this.run(now) });
  }

  private due(now: number): number | null {
    const { logs, archive, batches, metrics } = this.parts;
    const oldestLine = logs.oldest();
    const oldestChunk = archive.oldestChunkEnd();
    const oldestBatch = batches.oldest();
    const oldestMinute = metrics.oldest();
    const expiries = [
      oldestLine === null ? null : Math.floor(oldestLine / 1000) + this.hotWindowMs(),
      oldestChunk === null ? null : Math.floor(oldestChunk / 1000) + this.archiveMs(),
      oldestBatch === null ? null : oldestBatch + BATCH_MEMORY_MS,
      oldestMinute === null ? null : oldestMinute + RETENTION_MS,
      this.behind || logs.span() > HOT_STORE.maxLines ? now : null,
    ].filter((t): t is number => t !== null);
    if (expiries.length === 0) return null;
    const earliest = Math.min(...expiries);
    return this.behind ? earliest : Math.max(earliest, (this.storage.kv.get<number>(PRUNED_AT_KEY) ?? 0) + PRUNE_GAP_MS);
  }

  private async run(now: number): Promise<void> {
    const { logs, archive, hours, batches, metrics } = this.parts;
    const edgeUs = (now - this.hotWindowMs()) * 1000;
    const early = Math.max(0, logs.span() - HOT_STORE.maxLines);
    const moved = await archive.archive(edgeUs, early, CHUNKS_PER_RUN);
    const deleted = await archive.prune((now - this.archiveMs()) * 1000, DELETES_PER_RUN);
    const oldest = logs.oldest();
    this.behind = deleted === DELETES_PER_RUN || (moved > 0 && oldest !== null && (oldest < edgeUs || logs.span() > HOT_STORE.maxLines));
    hours.prune(hourOf(edgeUs) - 1);
    batches.prune(now);
    metrics.prune(now);
    this.storage.kv.put(PRUNED_AT_KEY, now);
  }
}
