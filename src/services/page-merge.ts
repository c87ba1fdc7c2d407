// The k-way merge behind a project-wide search page: each device's lines come sorted from its
// own object, and the page is the first lines across devices in the project-wide order
// (event time, device id, row id). Pure: the caller says how to fetch a device's rows.
import type { LogView } from "../contract/log-view";
import type { LogCursor } from "../contract/logs";
import { FAN_OUT, mapLimit } from "../lib/concurrency";

/** Rows a device is asked for at a time: enough to fill a page together, never fewer than this. */
const MIN_CHUNK = 20;

interface DeviceStream {
  id: string;
  rows: LogView[];
  /** Where the next fetch resumes (the device's last row so far), and how many it asks for. */
  after: LogCursor | undefined;
  chunk: number;
  done: boolean;
  /** Where the device stopped short (it read as many archive chunks as a page may): nothing past it is known. */
  stall?: LogCursor;
}

/** What a device answers for its share: rows in order, and where it stopped short, if it did. */
export interface DeviceRows {
  rows: LogView[];
  resume?: LogCursor;
}

/**
 * The first `want` lines after `after`, in order, across devices: a k-way merge that holds at
 * most a chunk per device. Each device is first asked for its share of the page; a device
 * whose rows run out while it may have more is asked again (twice as many each time) before
 * anything is taken past it, so the result is exact and memory stays O(page + devices).
 *
 * A device that stops short (its archive scan hit the page's chunk limit) answers where it
 * stopped: the page then ends there (`stop`), since what lies past it on that device is not
 * read yet, and the next page resumes from it.
 */
export async function mergePages(
  deviceIds: string[],
  order: "asc" | "desc",
  after: LogCursor | undefined,
  want: number,
  fetchRows: (deviceId: string, after: LogCursor | undefined, limit: number) => Promise<DeviceRows>,
): Promise<{ rows: LogView[]; stop?: LogCursor }> {
  const fetchMore = async (d: DeviceStream) => {
    const { rows, resume } = await fetchRows(d.id, d.after, d.chunk);
    d.rows.push(...rows);
    d.done = rows.length < d.chunk && !resume;
    d.stall = resume;
    const last = d.rows[d.rows.length - 1];
    if (last) d.after = { ts: last.timestamp_us, device_id: d.id, id: rowId(last) };
    d.chunk = Math.min(d.chunk * 2, want);
  };
  const share = Math.max(MIN_CHUNK, Math.ceil((2 * want) / Math.max(1, deviceIds.length)));
  const streams: DeviceStream[] = deviceIds.map((id) => ({ id, rows: [], after, chunk: Math.min(share, want), done: false }));
  await mapLimit(streams, FAN_OUT, fetchMore);

  const sign = order === "asc" ? 1 : -1;
  const out: LogView[] = [];
  while (out.length < want) {
    const starved = streams.filter((d) => d.rows.length === 0 && !d.done && !d.stall);
    if (starved.length > 0) await mapLimit(starved, FAN_OUT, fetchMore);
    // The first place a device stopped short: nothing at or past it may go in this page.
    let stop: LogCursor | undefined;
    for (const d of streams) if (d.stall && d.rows.length === 0 && (!stop || sign * compareKeys(d.stall, stop) < 0)) stop = d.stall;
    let best: DeviceStream | undefined;
    for (const d of streams) {
      if (d.rows.length > 0 && (!best || sign * compare(d.rows[0]!, best.rows[0]!) < 0)) best = d;
    }
    if (!best || (stop && sign * compareKeys(keyOf(best.rows[0]!), stop) > 0)) return { rows: out, stop };
    out.push(best.rows.shift()!);
  }
  return { rows: out };
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
  if (a.timestamp_us !== b.timestamp_us) return a.timestamp_us - b.timestamp_us;
  if (a.device_id !== b.device_id) return a.device_id < b.device_id ? -1 : 1;
  return rowId(a) - rowId(b);
}
