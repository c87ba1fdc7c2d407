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
}

/**
 * The first `want` lines after `after`, in order, across devices: a k-way merge that holds at
 * most a chunk per device. Each device is first asked for its share of the page; a device
 * whose rows run out while it may have more is asked again (twice as many each time) before
 * anything is taken past it, so the result is exact and memory stays O(page + devices).
 */
export async function mergePages(
  deviceIds: string[],
  order: "asc" | "desc",
  after: LogCursor | undefined,
  want: number,
  fetchRows: (deviceId: string, after: LogCursor | undefined, limit: number) => Promise<LogView[]>,
): Promise<LogView[]> {
  const fetchMore = async (d: DeviceStream) => {
    const rows = await fetchRows(d.id, d.after, d.chunk);
    d.rows.push(...rows);
    d.done = rows.length < d.chunk;
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
    const starved = streams.filter((d) => d.rows.length === 0 && !d.done);
    if (starved.length > 0) await mapLimit(starved, FAN_OUT, fetchMore);
    let best: DeviceStream | undefined;
    for (const d of streams) {
      if (d.rows.length > 0 && (!best || sign * compare(d.rows[0]!, best.rows[0]!) < 0)) best = d;
    }
    if (!best) break;
    out.push(best.rows.shift()!);
  }
  return out;
}

export const rowId = (l: LogView) => Number(l.id.slice(l.id.lastIndexOf(":") + 1));

/** The project-wide order: event time, then device id, then arrival within the device. */
function compare(a: LogView, b: LogView): number {
  if (a.timestamp_us !== b.timestamp_us) return a.timestamp_us - b.timestamp_us;
  if (a.device_id !== b.device_id) return a.device_id < b.device_id ? -1 : 1;
  return rowId(a) - rowId(b);
}
