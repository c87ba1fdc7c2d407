// GET /logs, the export and the Loki API: lines from the log shards (src/contract/log-shards.ts)
// that hold the scope's devices, merged by (timestamp, device id, row id). A device's or a
// session's search asks the shards of its devices, naming them; a project's asks every shard
// the project uses (D1 lists them), at most LOG_SHARDS.count, however many devices it has. The
// cursor is the merge's triple, so a page resumes exactly after the last line it returned.
import { z } from "zod";
import { decodeCursor, encodeCursor } from "../contract/cursor";
import { invalidField, notFound } from "../contract/errors";
import { ftsExpression, searchTerms } from "../contract/fts-query";
import { levelNumber } from "../contract/levels";
import { shardOf } from "../contract/log-shards";
import { type LogView, presentLog } from "../contract/log-view";
import type { LogCursor, LogFilter, LogSearch } from "../contract/logs";
import type { Db } from "../db/client";
import { shardsInUse } from "../db/repos/log-shards";
import { logShard } from "../stubs/log-shard";
import { MergedLines, rowId } from "./page-merge";
import { sessionDevicesOfOrg } from "./session-records";
import { deviceOfOrg, projectOfOrg } from "./tenancy";

const CursorShape = z.object({ ts: z.number().int(), device_id: z.string(), id: z.number().int() });

/** A shard a search asks, and the devices it asks for there (all of them when absent). */
export interface Source {
  projectId: string;
  shard: number;
  devices?: string[];
}

/** The shards a search must ask, all inside the caller's org. */
export async function searchScope(
  env: Env,
  db: Db,
  orgId: string,
  p: Pick<LogSearch, "project_id" | "device_id" | "session_id">,
): Promise<Source[]> {
  if (p.device_id) {
    const device = await deviceOfOrg(db, orgId, p.device_id);
    if (p.project_id && device.projectId !== p.project_id) throw notFound("device");
    return [{ projectId: device.projectId, shard: shardOf(device.id), devices: [device.id] }];
  }
  if (p.session_id) {
    // Without a project, every project of the org is asked for the session (one call each).
    const inScope = await sessionDevicesOfOrg(env, db, orgId, p.session_id, p.project_id);
    if (inScope.length === 0) throw notFound("session");
    return sourcesOf(inScope.map((r) => ({ projectId: r.projectId, deviceId: r.deviceId })));
  }
  if (!p.project_id)
    throw invalidField("query", "project_id", "project_id, device_id or session_id is required", "missing_scope");
  await projectOfOrg(db, orgId, p.project_id);
  const projectId = p.project_id;
  return (await shardsInUse(db, projectId)).map((shard) => ({ projectId, shard }));
}

/** The shards of these devices, each asked for its own devices only. */
export function sourcesOf(devices: { projectId: string; deviceId: string }[]): Source[] {
  const by = new Map<string, Source>();
  for (const d of devices) {
    const shard = shardOf(d.deviceId);
    const key = `${d.projectId}/${shard}`;
    const s = by.get(key) ?? { projectId: d.projectId, shard, devices: [] };
    if (!s.devices!.includes(d.deviceId)) s.devices!.push(d.deviceId);
    by.set(key, s);
  }
  return [...by.values()];
}

/** The scope narrowed to these devices (a Loki selector on registry labels): only their shards, only them. */
export function narrowTo(sources: Source[], deviceIds: Set<string>): Source[] {
  return sources.flatMap((s) => {
    const left = s.devices
      ? s.devices.filter((d) => deviceIds.has(d))
      : [...deviceIds].filter((d) => shardOf(d) === s.shard);
    return left.length > 0 ? [{ ...s, devices: left }] : [];
  });
}

/**
 * What the shards are asked, from a search's parameters (null: the words can match nothing). Counts
 * (log-counts.ts) use it too.
 */
export function filterOf(p: Omit<LogSearch, "limit" | "cursor">): Omit<LogFilter, "after" | "limit"> | null {
  const match = p.q === undefined || p.q.trim() === "" ? undefined : ftsExpression(p.q);
  if (match === null) return null;
  const terms = match === undefined ? undefined : (searchTerms(p.q!) ?? undefined);
  return {
    from: p.from,
    to: p.to,
    levels: p.level?.map(levelNumber),
    module: p.module,
    session_id: p.session_id,
    match,
    terms,
    order: p.order,
  };
}

/** The merged lines of `sources` after `after`, fetched a share at a time (one call per shard per fetch). */
export function searchStream(
  env: Env,
  sources: Source[],
  p: Omit<LogSearch, "limit" | "cursor">,
  after: LogCursor | undefined,
  pageSize: number,
): MergedLines | null {
  const filter = filterOf(p);
  if (filter === null) return null;
  const byId = new Map(sources.map((s) => [`${s.projectId}/${s.shard}`, s]));
  return new MergedLines([...byId.keys()], filter.order, after, pageSize, async (id, from, limit) => {
    const s = byId.get(id)!;
    const { rows, resume } = await logShard(env, s.projectId, s.shard).query({
      ...filter,
      devices: s.devices,
      after: from,
      limit,
    });
    return { rows: rows.map((row) => presentLog(row.device_id, row)), resume };
  });
}

export async function searchLogs(
  env: Env,
  sources: Source[],
  p: LogSearch,
): Promise<{ logs: LogView[]; next_cursor: string | null }> {
  const after = decodeCursor(p.cursor, CursorShape) as LogCursor | undefined;
  const stream = searchStream(env, sources, p, after, p.limit + 1);
  if (!stream) return { logs: [], next_cursor: null };
  const { rows: merged, stop } = await stream.next(p.limit + 1);
  const logs = merged.slice(0, p.limit);
  const last = logs[logs.length - 1];
  // A full page goes on after its last line; a page cut short by a capped archive scan, from where the scan stopped.
  const next =
    merged.length > p.limit && last ? { ts: last.timestamp_us, device_id: last.device_id, id: rowId(last) } : stop;
  return { logs, next_cursor: next ? encodeCursor({ ...next }) : null };
}
