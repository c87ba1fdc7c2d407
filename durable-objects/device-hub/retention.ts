// What a device's object keeps, and for how long: lines leave the hot store for the archive
// an event-time hour at a time, once the whole hour has passed the hot window (or early, past
// HOT_STORE.maxLines lines), archived chunks are deleted past the tier's archive retention,
// metric hours after RETENTION_MS. The alarm comes when the oldest thing kept expires, at most
// once per PRUNE_GAP_MS; a run that had more to do than it may comes back at once. An object
// that still holds lines in the store before chunks moves them into chunks first, a bounded
// number per run.
import { hourOf } from "../../src/lib/time";
import type { ObjectStorage } from "../storage";
import type { Timers } from "../timers";
import type { LogArchive } from "./archive";
import { BATCH_MEMORY_MS, type BatchMemory } from "./batches";
import type { ChunkStore } from "./chunks";
import type { LogHours } from "./hours";
import type { LegacyLines } from "./legacy-lines";
import { type MetricHistory, RETENTION_MS } from "./metrics";

const PRUNE_GAP_MS = 60_000;
/** Chunks archived per run, so one alarm stays short (up to 200,000 lines); the next run takes the rest. */
const CHUNKS_PER_RUN = 10;
/** Archived chunks deleted per run. */
const DELETES_PER_RUN = 1000;
/**
 * Past `maxLines` the oldest lines are archived whatever their age: a Durable Object holds at
 * most 10 GB, and a hot line costs ~200–400 bytes in its chunk with the full-text index. (An object,
 * so a test can lower it.)
 */
export const HOT_STORE = { maxLines: 5_000_000 };
/** Lines of the store before chunks moved into chunks per run. */
const ADOPT_PER_RUN = 50_000;
const HOUR_MS = 3_600_000;

export class Retention {
  /** Whether the last run stopped with more to move (memory only). */
  private behind = false;

  constructor(
    private readonly storage: ObjectStorage,
    /** The device's hot window now (its tier can change), and how long archived lines are kept. */
    private readonly hotWindowMs: () => number,
    private readonly archiveMs: () => number,
    private readonly parts: {
      logs: ChunkStore;
      legacy: LegacyLines;
      archive: LogArchive;
      hours: LogHours;
      batches: BatchMemory<unknown>;
      metrics: MetricHistory;
    },
    timers: Timers,
    /** When the last run was, kept in the device's state; `ran` records a run (saved with the alarm's work). */
    private readonly lastRun: { get(): number; ran(at: number): void },
  ) {
    timers.add({ name: "retention", due: (now) => this.due(now), fire: (now) => this.run(now) });
  }

  private due(now: number): number | null {
    const { logs, legacy, archive, batches, metrics } = this.parts;
    const oldestLine = logs.oldest();
    const oldestChunk = archive.oldestChunkEnd();
    const oldestBatch = batches.oldest();
    const oldestMinute = metrics.oldest();
    const expiries = [
      // The end of the oldest line's hour: hours go whole.
      oldestLine === null ? null : Math.floor(oldestLine / 1000 / HOUR_MS + 1) * HOUR_MS + this.hotWindowMs(),
      oldestChunk === null ? null : Math.floor(oldestChunk / 1000) + this.archiveMs(),
      oldestBatch === null ? null : oldestBatch + BATCH_MEMORY_MS,
      oldestMinute === null ? null : oldestMinute + RETENTION_MS,
      this.behind || legacy.any() || logs.span() > HOT_STORE.maxLines ? now : null,
    ].filter((t): t is number => t !== null);
    if (expiries.length === 0) return null;
    const earliest = Math.min(...expiries);
    return this.behind ? earliest : Math.max(earliest, this.lastRun.get() + PRUNE_GAP_MS);
  }

  private async run(now: number): Promise<void> {
    const { logs, legacy, archive, hours, batches, metrics } = this.parts;
    const adopting = legacy.any();
    if (adopting) this.adopt();
    const edgeUs = (now - this.hotWindowMs()) * 1000;
    const early = Math.max(0, logs.span() - HOT_STORE.maxLines);
    const moved = await archive.archive(edgeUs, early, CHUNKS_PER_RUN);
    const deleted = await archive.prune((now - this.archiveMs()) * 1000, DELETES_PER_RUN);
    const oldest = logs.oldest();
    const hourDue = oldest !== null && Math.floor(oldest / (HOUR_MS * 1000) + 1) * HOUR_MS * 1000 <= edgeUs;
    this.behind = adopting || deleted === DELETES_PER_RUN || (moved > 0 && (hourDue || logs.span() > HOT_STORE.maxLines));
    hours.prune(hourOf(edgeUs) - 1);
    batches.prune(now);
    metrics.prune(now);
    this.lastRun.ran(now);
  }

  /** Moves a run's share of the lines kept before chunks into chunks, in one transaction. */
  private adopt(): void {
    const { logs, legacy } = this.parts;
    const rows = legacy.take(ADOPT_PER_RUN);
    this.storage.transactionSync(() => {
      logs.adopt(rows);
      legacy.remove(rows.map((r) => r.id));
    });
  }
}
