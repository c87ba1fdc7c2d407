// What a shard keeps, and for how long: lines leave the hot store for the archive an
// event-time hour at a time (all its devices' lines of the hour together), once the whole hour
// has passed the project's hot window (or early, past HOT_STORE.maxLines lines); archived
// objects are deleted past the tier's archive retention; chunks left open by a device that fell
// silent are closed after their hour, so the full-text index finds their words. The alarm comes
// when the oldest thing kept expires, at most once per PRUNE_GAP_MS; a run that had more to do
// than it may comes back at once.
import type { Timers } from "../timers";
import type { LogArchive } from "./archive";
import type { ChunkStore } from "./chunks";

const PRUNE_GAP_MS = 60_000;
/** Archive objects written per run, so one alarm stays short (up to 200,000 lines); the next run takes the rest. */
const OBJECTS_PER_RUN = 10;
/** Archived objects deleted per run. */
const DELETES_PER_RUN = 1000;
/** Quiet open chunks closed per run. */
const CLOSES_PER_RUN = 500;
/**
 * Past `maxLines` the oldest lines are archived whatever their age: a Durable Object holds at
 * most 10 GB, and a hot line costs ~200–400 bytes in its chunk with the full-text index. (An
 * object, so a test can lower it.)
 */
export const HOT_STORE = { maxLines: 20_000_000 };
const HOUR_MS = 3_600_000;

export class Retention {
  /** Whether the last run stopped with more to do (memory only). */
  private behind = false;
  /** When the last run was (memory only: after a restart, a run may come at once). */
  private lastRun = 0;

  constructor(
    private readonly parts: { logs: ChunkStore; archive: LogArchive },
    /** The project's hot window and archive retention now (its tier can change). */
    private readonly hotWindowMs: () => number,
    private readonly archiveMs: () => number,
    timers: Timers,
  ) {
    timers.add({ name: "retention", due: (now) => this.due(now), fire: (now) => this.run(now) });
  }

  private due(now: number): number | null {
    const { logs, archive } = this.parts;
    const oldestLine = logs.oldest();
    const oldestObject = archive.oldestObjectEnd();
    const expiries = [
      // The end of the oldest line's hour: hours go whole.
      oldestLine === null ? null : Math.floor(oldestLine / 1000 / HOUR_MS + 1) * HOUR_MS + this.hotWindowMs(),
      oldestObject === null ? null : Math.floor(oldestObject / 1000) + this.archiveMs(),
      // Open chunks of the last hour close at the next one's start.
      oldestLine === null ? null : (Math.floor(now / HOUR_MS) + 1) * HOUR_MS,
      this.behind || logs.span() > HOT_STORE.maxLines ? now : null,
    ].filter((t): t is number => t !== null);
    if (expiries.length === 0) return null;
    const earliest = Math.min(...expiries);
    return this.behind ? earliest : Math.max(earliest, this.lastRun + PRUNE_GAP_MS);
  }

  private async run(now: number): Promise<void> {
    const { logs, archive } = this.parts;
    this.lastRun = now;
    const closed = logs.closeQuiet(Math.floor(now / HOUR_MS), CLOSES_PER_RUN);
    const edgeUs = (now - this.hotWindowMs()) * 1000;
    const early = Math.max(0, logs.span() - HOT_STORE.maxLines);
    const moved = await archive.archive(edgeUs, early, OBJECTS_PER_RUN);
    const deleted = await archive.prune((now - this.archiveMs()) * 1000, DELETES_PER_RUN);
    const oldest = logs.oldest();
    const hourDue = oldest !== null && Math.floor(oldest / (HOUR_MS * 1000) + 1) * HOUR_MS * 1000 <= edgeUs;
    this.behind =
      closed === CLOSES_PER_RUN ||
      deleted === DELETES_PER_RUN ||
      (moved > 0 && (hourDue || logs.span() > HOT_STORE.maxLines));
  }
}
