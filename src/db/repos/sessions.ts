// Sessions as the project sees them. Each DeviceHub owns its sessions' live counters and
// flushes them here with a version; D1 keeps the newest version a session's device sent.
import { type SQL, and, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import type { z } from "zod";
import type { Db } from "../client";
import { sessions } from "../schema";
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

/** The device that owns the session id in the project, or null if no device does yet. */
export async function sessionOwner(db: Db, projectId: string, sessionId: string): Promise<string | null> {
  const [row] = await db
    .select({ deviceId: sessions.deviceId })
    .from(sessions)
    .where(and(eq(sessions.projectId, projectId), eq(sessions.sessionId, sessionId)))
    .limit(1);
  return row?.deviceId ?? null;
}

/** A session as a DeviceHub flushes it; `version` grows with every change. */
/** A session as its device's object sends it; `version` orders the writes. */
export type SessionUpsert = SessionFields & { version: number };

// D1 binds at most 100 parameters a statement; an owner lookup binds the project and the ids.
const IDS_PER_LOOKUP = 90;

/**
 * Inserts or updates the device's sessions, in one batch. A row changes only when the same
 * device owns it and sent an older version, so a slow flush never undoes a newer one and no
 * device overwrites another's session. Returns the ids refused because another device of the
 * project already owns them.
 */
export async function upsertSessions(
  db: Db,
  owner: { orgId: string; projectId: string; deviceId: string },
  rows: SessionUpsert[],
): Promise<string[]> {
  const [first, ...rest] = rows.map((r) => {
    const counters = {
      name: r.name,
      status: r.status,
      completedAt: r.completed_at,
      totalLogs: r.total_logs,
      errorCount: r.error_count,
      warningCount: r.warning_count,
      version: r.version,
    };
    return db
      .insert(sessions)
      .values({
        orgId: owner.orgId,
        projectId: owner.projectId,
        deviceId: owner.deviceId,
        sessionId: r.session_id,
        startedAt: r.started_at,
        ...counters,
      })
      .onConflictDoUpdate({
        target: [sessions.projectId, sessions.sessionId],
        set: counters,
        setWhere: and(eq(sessions.deviceId, owner.deviceId), lt(sessions.version, r.version)),
      })
      .returning({ sessionId: sessions.sessionId });
  });
  if (!first) return [];
  const written = new Set((await db.batch([first, ...rest])).flat().map((r) => r.sessionId));
  // A row left unchanged is either this device's own (it already had this version) or another's.
  const unchanged = rows.map((r) => r.session_id).filter((id) => !written.has(id));
  const refused: string[] = [];
  for (let i = 0; i < unchanged.length; i += IDS_PER_LOOKUP) {
    const owners = await db
      .select({ sessionId: sessions.sessionId, deviceId: sessions.deviceId })
      .from(sessions)
      .where(and(eq(sessions.projectId, owner.projectId), inArray(sessions.sessionId, unchanged.slice(i, i + IDS_PER_LOOKUP))));
    refused.push(...owners.filter((o) => o.deviceId !== owner.deviceId).map((o) => o.sessionId));
  }
  return refused;
}
