// TEMPORARY (replaced by the repos branch): a device's sessions, written by its DeviceHub.
import { and, eq } from "drizzle-orm";
import type { SessionStatus } from "../../contract/sessions";
import type { Db } from "../client";
import { sessions } from "../schema";

export interface SessionUpsert {
  session_id: string;
  name: string;
  status: SessionStatus;
  started_at: number;
  completed_at: number | null;
  total_logs: number;
  error_count: number;
  warning_count: number;
  version: number;
}

export async function sessionOwner(db: Db, projectId: string, sessionId: string): Promise<string | null> {
  const row = await db.query.sessions.findFirst({
    columns: { deviceId: true },
    where: and(eq(sessions.projectId, projectId), eq(sessions.sessionId, sessionId)),
  });
  return row?.deviceId ?? null;
}

const UPSERT_SESSION = `
  INSERT INTO sessions (project_id, session_id, org_id, device_id, name, status, started_at, completed_at,
                        total_logs, error_count, warning_count, version)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (project_id, session_id) DO UPDATE SET
    name = excluded.name, status = excluded.status, completed_at = excluded.completed_at,
    total_logs = excluded.total_logs, error_count = excluded.error_count,
    warning_count = excluded.warning_count, version = excluded.version
  WHERE sessions.device_id = excluded.device_id AND sessions.version < excluded.version`;

export async function upsertSessions(db: Db, owner: { orgId: string; projectId: string; deviceId: string }, rows: SessionUpsert[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const d1 = db.$client;
  const stmt = d1.prepare(UPSERT_SESSION);
  const results = await d1.batch(
    rows.map((r) =>
      stmt.bind(owner.projectId, r.session_id, owner.orgId, owner.deviceId, r.name, r.status, r.started_at, r.completed_at, r.total_logs, r.error_count, r.warning_count, r.version),
    ),
  );
  const unchanged = rows.filter((_, i) => results[i]!.meta.changes === 0).map((r) => r.session_id);
  if (unchanged.length === 0) return [];
  const owners = await d1
    .prepare(`SELECT session_id, device_id FROM sessions WHERE project_id = ? AND session_id IN (${unchanged.map(() => "?").join(", ")})`)
    .bind(owner.projectId, ...unchanged)
    .all<{ session_id: string; device_id: string }>();
  return owners.results.filter((o) => o.device_id !== owner.deviceId).map((o) => o.session_id);
}
