// The k-way merge behind a project-wide search page: each source (a log shard) answers its
// lines sorted, and the page is the first lines across sources in the project-wide order
// (event time, device id, row id). Pure: the caller says how to fetch a source's rows.
//
// A MergedLines keeps its sources' rows between pages, so an export reads page after page
// from the same streams: a source is asked again only when its rows run out, never once per page.
import type { LogView } from "../contract/log-view";
import type { LogCursor } from "../contract/logs";
import { FAN_OUT, mapLimit } from "../lib/concurrency";

/** Rows a source is asked for at a time: enough to fill a page together, never fewer than this. */
const MIN_CHUNK = 20;
/**
 * Rows a page may hold from its first fetches. Below it every source is asked for the whole page
 * at once, so however the lines are spread over the sources, a page costs one call per source
 * (64 shards × a page of 256 lines); above it, each source first gets its share.
 */
export const FIRST_FETCH_ROWS = 16_384;

interface SourceStream {
  id: string;
  rows: LogView[];
  /** Where the next fetch resumes (the source's last row so far), and how many it asks for. */
  after: LogCursor | undefined;
  chunk: number;
  done: boolean;
  /** Where the source stopped short (it read as many archive objects as a page may): nothing past it is known. */
  stall?: LogCursor;
}

/** What a source answers for its share: rows in order, and where it stopped short, if it did. */
interface SourceRows {
  rows: LogView[];
  resume?: LogCursor;
}

export type FetchRows = (sourceId: string, after: LogCursor | undefined, limit: number) => Promise<SourceRows>;

/**
 * The lines after `after`, in order, across sources, a page at a time: a k-way merge that
 * holds at most a chunk per source. Each source is first asked for the whole page when that
 * holds at most FIRST_FETCH_ROWS rows, else for its share; a
 * source whose rows run out while it may have more is asked again (twice as many each time)
 * before anything is taken past it, so the result is exact and memory stays O(page + sources).
 *
 * A source that stops short (its archive scan hit the page's object limit) answers where it
 * stopped: the page then ends there (`stop`), since what lies past it in that source is not
 * read yet, and the next page resumes from it.
 */
export class MergedLines {
  private readonly streams: SourceStream[];
  private readonly sign: number;
  private started = false;

  constructor(
    sourceIds: string[],
    order: "asc" | "desc",
    after: LogCursor | undefined,
    /** The page size the first fetches are sized for. */
    private readonly want: number,
    private readonly fetchRows: FetchRows,
  ) {
    const sources = Math.max(1, sourceIds.length);
    const share = sources * want <= FIRST_FETCH_ROWS ? want : Math.max(MIN_CHUNK, Math.ceil((2 * want) / sources));
    this.streams = sourceIds.map((id) => ({ id, rows: [], after, chunk: Math.min(share, want), done: false }));
    this.sign = order === "asc" ? 1 : -1;
  }

  private async fetchMore(d: SourceStream): Promise<void> {
    const { rows, resume } = await this.fetchRows(d.id, d.after, d.chunk);
    d.rows.push(...rows);
    d.done = rows.length < d.chunk && !resume;
    d.stall = resume;
    // A source that stopped short goes on from where it stopped (past its rows); else after its last row.
    const last = d.rows[d.rows.length - 1];
    if (resume) d.after = resume;
    else if (last) d.after = keyOf(last);
    d.chunk = Math.min(d.chunk * 2, this.want);
  }

  /** The next `want` lines (fewer at the end, or where a source stopped short: then `stop`). */
  async next(want: number): Promise<{ rows: LogView[]; stop?: LogCursor }> {
    if (!this.started) {
      this.started = true;
      await mapLimit(this.streams, FAN_OUT, (d) => this.fetchMore(d));
    }
    const sign = this.sign;
    const out: LogView[] = [];
    while (out.length < want) {
      const starved = this.streams.filter((d) => d.rows.length === 0 && !d.done && !d.stall);
      if (starved.length > 0) await mapLimit(starved, FAN_OUT, (d) => this.fetchMore(d));
      // The first place a source stopped short: nothing at or past it may go in this page.
      let stop: LogCursor | undefined;
      for (const d of this.streams)
        if (d.stall && d.rows.length === 0 && (!stop || sign * compareKeys(d.stall, stop) < 0)) stop = d.stall;
      let best: SourceStream | undefined;
      for (const d of this.streams) {
        if (d.rows.length > 0 && (!best || sign * compare(d.rows[0]!, best.rows[0]!) < 0)) best = d;
      }
      if (!best || (stop && sign * compareKeys(keyOf(best.rows[0]!), stop) > 0)) {
        // A later page goes on past the stall: the stalled sources resume from where they stopped.
        for (const d of this.streams) if (d.stall && d.rows.length === 0) d.stall = undefined;
        return { rows: out, stop };
      }
      out.push(best.rows.shift()!);
    }
    return { rows: out };
  }

  /** Whether every source is read to its end. */
  get exhausted(): boolean {
    return this.streams.every((d) => d.rows.length === 0 && d.done && !d.stall);
  }
}

/** The first `want` lines after `after` across sources, and where a source stopped short (see MergedLines). */
export async function mergePages(
  sourceIds: string[],
  order: "asc" | "desc",
  after: LogCursor | undefined,
  want: number,
  fetchRows: FetchRows,
): Promise<{ rows: LogView[]; stop?: LogCursor }> {
  return new MergedLines(sourceIds, order, after, want, fetchRows).next(want);
}

const keyOf = (l: LogView): LogCursor => ({ ts: l.timestamp_us, device_id: l.device_id, id: rowId(l) });

function compareKeys(a: LogCursor, b: LogCursor): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  if (a.device_id !== b.device_id) return a.device_id < b.device_id ? -1 : 1;
  return a.id - b.id;
}

export const rowId = (l: LogView) => Number(l.id.slice(l.id.lastIndexOf(":") + 1));

/** The project-wide order: event time, then device id, then arrival within the device. */
function compare(a: LogView, b: LogView): number {
  return compareKeys(keyOf(a), keyOf(b));
}
