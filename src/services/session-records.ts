// Sessions as people read them. Each project's sessions live in its own object
// (durable-objects/project-hub/sessions.ts), not in D1: a read scoped to a project asks that
// project's object once; a read of the whole org (no project_id) asks every project of the org,
// one call per project (FAN_OUT at a time), and merges what they answer.
import type { z } from "zod";
import type { ListSessions, SessionAfter, SessionStatus, StoredSession } from "../contract/sessions";
import type { Db } from "../db/client";
import { findProjectOfOrg, listProjects } from "../db/repos/projects";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { projectHub } from "../stubs/project-hub";

/** A stored session of a project: what its device's object last sent of it. */
export interface SessionRecord {
  projectId: string;
  sessionId: string;
  deviceId: string;
  name: string;
  status: SessionStatus;
  startedAt: number;
  completedAt: number | null;
  totalLogs: number;
  errorCount: number;
  warningCount: number;
}

export type SessionFilter = Pick<z.output<typeof ListSessions>, "project_id" | "device_id" | "status" | "from" | "to">;

/** Where a page of sessions resumes: the sort key of the last row of the previous page. */
export interface SessionKey {
  startedAt: number;
  projectId: string;
  sessionId: string;
}

const recordOf = (projectId: string, s: StoredSession): SessionRecord => ({
  projectId,
  sessionId: s.session_id,
  deviceId: s.device_id,
  name: s.name,
  status: s.status,
  startedAt: s.started_at,
  completedAt: s.completed_at,
  totalLogs: s.total_logs,
  errorCount: s.error_count,
  warningCount: s.warning_count,
});

/** Projects read per D1 query when a read visits every project of the org. */
const PROJECT_PAGE = 500;

/** The ids of the org's projects, by id (one D1 query per PROJECT_PAGE of them). */
async function orgProjectIds(db: Db, orgId: string): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const page = await listProjects(db, orgId, { afterId: ids[ids.length - 1], limit: PROJECT_PAGE });
    ids.push(...page.map((p) => p.id));
    if (page.length < PROJECT_PAGE) return ids;
  }
}

/** The projects a read visits: the one named (the caller checked it is the org's), or all of the org's. */
const projectsOf = async (db: Db, orgId: string, projectId: string | undefined) =>
  projectId ? [projectId] : orgProjectIds(db, orgId);

/**
 * Where project `projectId` resumes after `a` in the list's order, (started_at, project_id,
 * session_id) descending: in the same project after the row; in a project that sorts after it
 * (a smaller id) at the same started_at or earlier; in one that sorts before it, earlier only.
 */
function afterIn(projectId: string, a: SessionKey): SessionAfter {
  if (projectId === a.projectId) return { started_at: a.startedAt, session_id: a.sessionId };
  return { started_at: projectId < a.projectId ? a.startedAt + 1 : a.startedAt };
}

/**
 * At most `limit` of the org's sessions after `after`, newest first: (started_at, project_id,
 * session_id) descending. A project's own order is its object's; projects merge by started_at,
 * then project id.
 */
export async function listSessions(
  env: Env,
  db: Db,
  orgId: string,
  f: SessionFilter,
  page: { after?: SessionKey; limit: number },
): Promise<SessionRecord[]> {
  const projectIds = await projectsOf(db, orgId, f.project_id);
  const filter = { device_id: f.device_id, status: f.status, from: f.from, to: f.to };
  const pages = await mapLimit(projectIds, FAN_OUT, async (projectId) =>
    (
      await projectHub(env, projectId).listSessions(filter, page.after && afterIn(projectId, page.after), page.limit)
    ).map((s) => recordOf(projectId, s)),
  );
  // A stable sort: rows of one project at one started_at keep their object's order.
  const rank = (r: SessionRecord) => r.projectId;
  return pages
    .flat()
    .sort((x, y) => y.startedAt - x.startedAt || (rank(x) < rank(y) ? 1 : rank(x) > rank(y) ? -1 : 0))
    .slice(0, page.limit);
}

/** Every session of the org with this id (at most one per project), in project id order. */
async function sessionsWithId(
  env: Env,
  db: Db,
  orgId: string,
  sessionId: string,
  projectId?: string,
): Promise<SessionRecord[]> {
  // A project of another org has none of this org's sessions.
  if (projectId !== undefined && !(await findProjectOfOrg(db, orgId, projectId))) return [];
  const projectIds = await projectsOf(db, orgId, projectId);
  const found = await mapLimit(projectIds, FAN_OUT, async (id) => {
    const s = await projectHub(env, id).getSession(sessionId);
    return s ? recordOf(id, s) : null;
  });
  return found.filter((s) => s !== null);
}

/** A session of the org, optionally only in one project; if several projects use the id, the first by project id. */
export async function findSessionOfOrg(
  env: Env,
  db: Db,
  orgId: string,
  sessionId: string,
  projectId?: string,
): Promise<SessionRecord | undefined> {
  return (await sessionsWithId(env, db, orgId, sessionId, projectId))[0];
}

/** Every (project, device) of the org that has a session with this id: at most one per project. */
export async function sessionDevicesOfOrg(
  env: Env,
  db: Db,
  orgId: string,
  sessionId: string,
  projectId?: string,
): Promise<{ deviceId: string; projectId: string }[]> {
  return (await sessionsWithId(env, db, orgId, sessionId, projectId)).map((s) => ({
    deviceId: s.deviceId,
    projectId: s.projectId,
  }));
}

/**
 * Session ids of the project that ran during [from, to) (ms): started before `to`, not ended before `from`;
 * newest first.
 */
export async function projectSessionIds(
  env: Env,
  projectId: string,
  range: { from?: number; to?: number },
  max: number,
): Promise<string[]> {
  return projectHub(env, projectId).sessionIdsBetween(range, max);
}
