// Sessions as the project sees them. Each DeviceHub owns its sessions' live counters and
// flushes them here with a version; D1 keeps the newest version a session's device sent.
import { type SQL, and, desc, eq, gte, isNull, lt, or, sql } from "drizzle-orm";
import type { z } from "zod";
import type { Db } from "../client";
import { projects, sessions } from "../schema";
import type { ListSessions, SessionFields } from "../../contract/sessions";

export type SessionRecord = typeof sessions.$inferSelect;

export type SessionFilter = Pick<z.output<typeof ListSessions>, "project_id" | "device_id" | "status" | "from" | "to">;

/** Where a page of sessions resumes: the sort key of the last row of the previous page. */
export interface SessionKey {
  startedAt: number;
  projectId: string;
  sessionId: string;
}

/** At most `limit` of the org's sessions after `after`, newest first. */
export async function listSessions(db: Db, orgId: string, f: SessionFilter, page: { after?: SessionKey; limit: number }): Promise<SessionRecord[]> {
  const t = sessions;
  const a = page.after;
  const conditions: (SQL | undefined)[] = [
    eq(t.orgId, orgId),
    f.project_id ? eq(t.projectId, f.project_id) : undefined,
    f.device_id ? eq(t.deviceId, f.device_id) : undefined,
    f.status ? eq(t.status, f.status) : undefined,
    f.from !== undefined ? gte(t.startedAt, f.from) : undefined,
    f.to !== undefined ? lt(t.startedAt, f.to) : undefined,
    a ? sql`(${t.startedAt}, ${t.projectId}, ${t.sessionId}) < (${a.startedAt}, ${a.projectId}, ${a.sessionId})` : undefined,
  ];
  return db
    .select()
    .from(t)
    .where(and(...conditions))
    .orderBy(desc(t.startedAt), desc(t.projectId), desc(t.sessionId))
    .limit(page.limit);
}

/** A session of the org, optionally only in one project; if several projects use the id, one of them. */
export async function findSessionOfOrg(db: Db, orgId: string, sessionId: string, projectId?: string): Promise<SessionRecord | undefined> {
  const [row] = await db
    .select()
    .from(sessions)
    .where(and(eq(sessions.orgId, orgId), eq(sessions.sessionId, sessionId), projectId ? eq(sessions.projectId, projectId) : undefined))
    .limit(1);
  return row;
}

/** Every (project, device) of the org that has a session with this id: at most one per project. */
export async function sessionDevicesOfOrg(db: Db, orgId: string, sessionId: string): Promise<{ deviceId: string; projectId: string }[]> {
  return db
    .select({ deviceId: sessions.deviceId, projectId: sessions.projectId })
    .from(sessions)
    .where(and(eq(sessions.orgId, orgId), eq(sessions.sessionId, sessionId)));
}

/** A session as its device's object sends it; `version` orders the writes. */
export type SessionUpsert = SessionFields & { version: number };

type Owner = { orgId: string; projectId: string; deviceId: string };

/**
 * The one place a session id gets its owner: the first device of a project to name an id
 * claims it, atomically (D1 takes one write at a time, and the row's key is the project and
 * the id). Answers the owning device: this one, or the one that claimed it first. Null when
 * the project no longer exists: nothing is written for a deleted project.
 */
export async function claimSession(db: Db, owner: Owner, s: Pick<SessionFields, "session_id" | "name" | "started_at">): Promise<string | null> {
  const claim = db
    .insert(sessions)
    .select(
      db
        .select({
          projectId: projects.id,
          sessionId: sql<string>`${s.session_id}`.as("session_id"),
          orgId: projects.orgId,
          deviceId: sql<string>`${owner.deviceId}`.as("device_id"),
          name: sql<string>`${s.name}`.as("name"),
          status: sql<"active">`'active'`.as("status"),
          startedAt: sql<number>`${s.started_at}`.as("started_at"),
          completedAt: sql<null>`NULL`.as("completed_at"),
          totalLogs: sql<number>`0`.as("total_logs"),
          errorCount: sql<number>`0`.as("error_count"),
          warningCount: sql<number>`0`.as("warning_count"),
          version: sql<number>`0`.as("version"),
        })
        .from(projects)
        .where(and(eq(projects.id, owner.projectId), eq(projects.orgId, owner.orgId))),
    )
    .onConflictDoNothing();
  const [, rows] = await db.batch([claim, ownerQuery(db, owner.projectId, s.session_id)]);
  return rows[0]?.deviceId ?? null;
}

const ownerQuery = (db: Db, projectId: string, sessionId: string) =>
  db
    .select({ deviceId: sessions.deviceId })
    .from(sessions)
    .where(and(eq(sessions.projectId, projectId), eq(sessions.sessionId, sessionId)))
    .limit(1);

/** The device that owns a session id in a project, if any has claimed it. */
export async function sessionOwner(db: Db, projectId: string, sessionId: string): Promise<string | null> {
  const [row] = await ownerQuery(db, projectId, sessionId);
  return row?.deviceId ?? null;
}

/**
 * Writes the device's sessions' counters and status, in one batch. Only rows the device
 * claimed change, and only to a newer version, so a slow flush never undoes a newer one, no
 * device overwrites another's session, and a deleted project's rows never come back.
 */
export async function updateSessions(db: Db, owner: Owner, rows: SessionUpsert[]): Promise<void> {
  const [first, ...rest] = rows.map((r) =>
    db
      .update(sessions)
      .set({
        name: r.name,
        status: r.status,
        completedAt: r.completed_at,
        totalLogs: r.total_logs,
        errorCount: r.error_count,
        warningCount: r.warning_count,
        version: r.version,
      })
      .where(
        and(
          eq(sessions.projectId, owner.projectId),
          eq(sessions.sessionId, r.session_id),
          eq(sessions.deviceId, owner.deviceId),
          lt(sessions.version, r.version),
        ),
      ),
  );
  if (first) await db.batch([first, ...rest]);
}

/** Session ids of the project that ran during [from, to) (ms): started before `to`, not ended before `from`; newest first. */
export async function projectSessionIds(db: Db, projectId: string, range: { from?: number; to?: number }, max: number): Promise<string[]> {
  const rows = await db
    .select({ id: sessions.sessionId })
    .from(sessions)
    .where(
      and(
        eq(sessions.projectId, projectId),
        range.from !== undefined ? or(isNull(sessions.completedAt), gte(sessions.completedAt, range.from)) : undefined,
        range.to !== undefined ? lt(sessions.startedAt, range.to) : undefined,
      ),
    )
    .orderBy(desc(sessions.startedAt))
    .limit(max);
  return rows.map((r) => r.id);
}
