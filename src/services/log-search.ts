// GET /logs and the export: one device's hot store, or the whole project's merged by event
// time. Project-wide, the devices the project's hour index lists for the time range are each
// asked for their share of the page (at most FAN_OUT calls in flight) and the answers are
// merged by (timestamp, device id, row id); the cursor is that triple, so a page resumes
// exactly after the last line it returned.
import { hourOf } from "../../durable-objects/device-hub/hours";
import { z } from "zod";
import type { LogCursor, LogFilter } from "../../durable-objects/device-hub/logs";
import type { Db } from "../db/client";
import { sessionDevicesOfOrg } from "../db/repos/sessions";
import { decodeCursor, encodeCursor } from "../http/cursor";
import { invalidField, notFound } from "../contract/errors";
import { mapLimit } from "../lib/concurrency";
import { ftsExpression } from "./fts-query";
import { levelNumber } from "../contract/levels";
import { type LogView, presentLog } from "../contract/log-view";
import type { LogSearch } from "../contract/logs";
import { deviceHub } from "../stubs/device-hub";
import { projectHub } from "../stubs/project-hub";
import { deviceOfOrg, projectOfOrg } from "./tenancy";

export const FAN_OUT = 32;

const CursorShape = z.object({ ts: z.number().int(), device_id: z.string(), id: z.number().int() });

/** The devices a search must ask, all inside the caller's org. */
export async function searchScope(env: Env, db: Db, orgId: string, p: Pick<LogSearch, "project_id" | "device_id" | "session_id" | "from" | "to">) {
  if (p.device_id) {
    const device = await deviceOfOrg(db, orgId, p.device_id);
    if (p.project_id && device.projectId !== p.project_id) throw notFound("device");
    return [device.id];
  }
  if (p.session_id) {
    const rows = await sessionDevicesOfOrg(db, orgId, p.session_id);
    const inScope = rows.filter((r) => !p.project_id || r.projectId === p.project_id);
    if (inScope.length === 0) throw notFound("session");
    return [...new Set(inScope.map((r) => r.deviceId))];
  }
  if (!p.project_id) throw invalidField("query", "project_id", "project_id, device_id or session_id is required", "missing_scope");
  await projectOfOrg(db, orgId, p.project_id);
  // The project's index of (hour, device): only devices with lines in the range are asked.
  const fromHour = p.from === undefined ? 0 : hourOf(p.from);
  const toHour = p.to === undefined ? Number.MAX_SAFE_INTEGER : hourOf(Math.max(p.to - 1, 0));
  return projectHub(env, p.project_id).devicesWithLines(fromHour, toHour);
}

export async function searchLogs(env: Env, deviceIds: string[], p: LogSearch): Promise<{ logs: LogView[]; next_cursor: string | null }> {
  const after = decodeCursor(p.cursor, CursorShape) as LogCursor | undefined;
  const match = p.q === undefined || p.q.trim() === "" ? undefined : ftsExpression(p.q);
  if (match === null) return { logs: [], next_cursor: null };
  const filter: Omit<LogFilter, "after" | "limit"> = {
    from: p.from,
    to: p.to,
    levels: p.level?.map(levelNumber),
    module: p.module,
    session_id: p.session_id,
    match,
    order: p.order,
  };
  const merged = await mergePages(env, deviceIds, filter, after, p.limit + 1);
  const logs = merged.slice(0, p.limit);
  const last = logs[logs.length - 1];
  const next_cursor =
    merged.length > p.limit && last ? encodeCursor({ ts: last.timestamp_us, device_id: last.device_id, id: rowId(last) }) : null;
  return { logs, next_cursor };
}

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
async function mergePages(env: Env, deviceIds: string[], filter: Omit<LogFilter, "after" | "limit">, after: LogCursor | undefined, want: number) {
  const fetchMore = async (d: DeviceStream) => {
    const rows = await deviceHub(env, d.id).queryLogs({ ...filter, after: d.after, limit: d.chunk });
    d.rows.push(...rows.map((row) => presentLog(d.id, row)));
    d.done = rows.length < d.chunk;
    const last = d.rows[d.rows.length - 1];
    if (last) d.after = { ts: last.timestamp_us, device_id: d.id, id: rowId(last) };
    d.chunk = Math.min(d.chunk * 2, want);
  };
  const share = Math.max(MIN_CHUNK, Math.ceil((2 * want) / Math.max(1, deviceIds.length)));
  const streams: DeviceStream[] = deviceIds.map((id) => ({ id, rows: [], after, chunk: Math.min(share, want), done: false }));
  await mapLimit(streams, FAN_OUT, fetchMore);

  const sign = filter.order === "asc" ? 1 : -1;
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

const rowId = (l: LogView) => Number(l.id.slice(l.id.lastIndexOf(":") + 1));

/** The project-wide order: event time, then device id, then arrival within the device. */
function compare(a: LogView, b: LogView): number {
  if (a.timestamp_us !== b.timestamp_us) return a.timestamp_us - b.timestamp_us;
  if (a.device_id !== b.device_id) return a.device_id < b.device_id ? -1 : 1;
  return rowId(a) - rowId(b);
}
