// Writes from a DeviceHub to the D1 registry: its presence row and its sessions. Every write
// carries a version and D1 keeps only newer ones, so a slow write never undoes a newer one.
import type { DeviceState } from "./state";
import { effectiveStatus } from "./state";
import type { SessionRow } from "./sessions";

export async function writePresence(db: D1Database, s: DeviceState): Promise<void> {
  await db
    .prepare(
      `UPDATE devices SET status = ?, last_seen_at = ?, last_heartbeat_at = ?, metrics = ?,
         current_session_id = ?, last_log_at = ?, presence_version = ?
       WHERE id = ? AND presence_version < ?`,
    )
    .bind(
      effectiveStatus(s),
      s.lastSeenAt,
      s.lastHeartbeatAt,
      s.metrics ? JSON.stringify(s.metrics) : null,
      s.currentSessionId,
      s.lastLogAt,
      s.version,
      s.deviceId,
      s.version,
    )
    .run();
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

/**
 * Upserts sessions. Returns the ids D1 refused because another device of the project
 * already owns that session id.
 */
export async function writeSessions(db: D1Database, s: DeviceState, rows: SessionRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const stmt = db.prepare(UPSERT_SESSION);
  const results = await db.batch(
    rows.map((r) =>
      stmt.bind(
        s.projectId,
        r.session_id,
        s.orgId,
        s.deviceId,
        r.name,
        r.status,
        r.started_at,
        r.completed_at,
        r.total_logs,
        r.error_count,
        r.warning_count,
        r.version,
      ),
    ),
  );
  const unchanged = rows.filter((_, i) => results[i]!.meta.changes === 0).map((r) => r.session_id);
  if (unchanged.length === 0) return [];
  const owners = await db
    .prepare(`SELECT session_id, device_id FROM sessions WHERE project_id = ? AND session_id IN (${unchanged.map(() => "?").join(", ")})`)
    .bind(s.projectId, ...unchanged)
    .all<{ session_id: string; device_id: string }>();
  return owners.results.filter((o) => o.device_id !== s.deviceId).map((o) => o.session_id);
}
