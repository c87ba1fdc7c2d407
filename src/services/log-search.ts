// GET /logs and the export: one device's hot store, or the whole project's merged by event
// time. Project-wide, the devices the project's hour index lists for the time range are each
// asked for their share of the page (at most FAN_OUT calls in flight) and the answers are
// merged by (timestamp, device id, row id); the cursor is that triple, so a page resumes
// exactly after the last line it returned.
import { z } from "zod";
import type { LogCursor, LogFilter } from "../contract/logs";
import type { Db } from "../db/client";
import { sessionDevicesOfOrg } from "../db/repos/sessions";
import { decodeCursor, encodeCursor } from "../contract/cursor";
import { invalidField, notFound } from "../contract/errors";
import { hourOf, utcDay } from "../lib/time";
import { archivedDevices } from "../db/repos/archive";
import { ftsExpression, searchTerms } from "../contract/fts-query";
import { mergePages, rowId } from "./page-merge";
import { levelNumber } from "../contract/levels";
import { type LogView, presentLog } from "../contract/log-view";
import type { LogSearch } from "../contract/logs";
import { deviceHub } from "../stubs/device-hub";
import { projectHub } from "../stubs/project-hub";
import { deviceOfOrg, projectOfOrg } from "./tenancy";

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
  const hot = await projectHub(env, p.project_id).devicesWithLines(fromHour, toHour);
  // And the devices with archived lines on the range's days (D1's archive index).
  const fromDay = p.from === undefined ? "0000-00-00" : utcDay(p.from / 1000);
  const toDay = p.to === undefined ? "9999-99-99" : utcDay(Math.max(p.to - 1, 0) / 1000);
  const cold = await archivedDevices(db, p.project_id, fromDay, toDay);
  return [...new Set([...hot, ...cold])];
}

export async function searchLogs(env: Env, deviceIds: string[], p: LogSearch): Promise<{ logs: LogView[]; next_cursor: string | null }> {
  const after = decodeCursor(p.cursor, CursorShape) as LogCursor | undefined;
  const match = p.q === undefined || p.q.trim() === "" ? undefined : ftsExpression(p.q);
  if (match === null) return { logs: [], next_cursor: null };
  const terms = match === undefined ? undefined : (searchTerms(p.q!) ?? undefined);
  const filter: Omit<LogFilter, "after" | "limit"> = {
    from: p.from,
    to: p.to,
    levels: p.level?.map(levelNumber),
    module: p.module,
    session_id: p.session_id,
    match,
    terms,
    order: p.order,
  };
  const fetchRows = async (deviceId: string, from: LogCursor | undefined, limit: number) => {
    const { rows, resume } = await deviceHub(env, deviceId).queryLogs({ ...filter, after: from, limit });
    return { rows: rows.map((row) => presentLog(deviceId, row)), resume };
  };
  const { rows: merged, stop } = await mergePages(deviceIds, filter.order, after, p.limit + 1, fetchRows);
  const logs = merged.slice(0, p.limit);
  const last = logs[logs.length - 1];
  // A full page goes on after its last line; a page cut short by a capped archive scan, from where the scan stopped.
  const next =
    merged.length > p.limit && last ? { ts: last.timestamp_us, device_id: last.device_id, id: rowId(last) } : stop;
  return { logs, next_cursor: next ? encodeCursor({ ...next }) : null };
}
