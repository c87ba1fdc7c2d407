// A device's sessions ("runs") with live counters, updated in the same transaction as the
// lines they count. `version` / `flushed_version` say which rows D1 has not seen yet.
import type { EndStatus, SessionFields } from "../../src/contract/sessions";

/** A row of the sessions table: `version` / `flushed_version` say whether D1 has seen it. */
export type SessionRow = SessionFields & { version: number; flushed_version: number } & Record<string, SqlStorageValue>;

export type EndOutcome = { ok: true; session: SessionRow } | { ok: false; code: "not_found" | "conflict" | "before_start"; session?: SessionRow };

export class SessionStore {
  constructor(private readonly sql: SqlStorage) {}

  get(id: string): SessionRow | undefined {
    return this.sql.exec<SessionRow>("SELECT * FROM sessions WHERE session_id = ?", id).toArray()[0];
  }

  /** Creates the session unless it exists; says which happened. */
  ensure(id: string, name: string, startedAt: number): { session: SessionRow; created: boolean } {
    const existing = this.get(id);
    if (existing) return { session: existing, created: false };
    const session = this.sql
      .exec<SessionRow>(
        "INSERT INTO sessions (session_id, name, status, started_at) VALUES (?, ?, 'active', ?) RETURNING *",
        id,
        name,
        startedAt,
      )
      .one();
    return { session, created: true };
  }

  count(id: string, lines: number, errors: number, warnings: number): void {
    this.sql.exec(
      `UPDATE sessions SET total_logs = total_logs + ?, error_count = error_count + ?,
         warning_count = warning_count + ?, version = version + 1 WHERE session_id = ?`,
      lines,
      errors,
      warnings,
      id,
    );
  }

  /** Ends a session; without a `completedAt` it ends now (never before it started). */
  end(id: string, status: EndStatus, completedAt: number | undefined): EndOutcome {
    const session = this.get(id);
    if (!session) return { ok: false, code: "not_found" };
    if (session.status === status) return { ok: true, session }; // a retried end
    if (session.status !== "active") return { ok: false, code: "conflict", session };
    if (completedAt !== undefined && completedAt < session.started_at) return { ok: false, code: "before_start", session };
    completedAt ??= Math.max(Date.now(), session.started_at);
    const ended = this.sql
      .exec<SessionRow>(
        "UPDATE sessions SET status = ?, completed_at = ?, version = version + 1 WHERE session_id = ? RETURNING *",
        status,
        completedAt,
        id,
      )
      .one();
    return { ok: true, session: ended };
  }

  unflushed(limit: number): SessionRow[] {
    return this.sql.exec<SessionRow>("SELECT * FROM sessions WHERE version > flushed_version LIMIT ?", limit).toArray();
  }

  markFlushed(rows: { session_id: string; version: number }[]): void {
    for (const r of rows) {
      this.sql.exec("UPDATE sessions SET flushed_version = max(flushed_version, ?) WHERE session_id = ?", r.version, r.session_id);
    }
  }

  /** The sessions with these ids, however many (one JSON parameter: SQLite binds at most 100). */
  live(ids: string[]): SessionRow[] {
    if (ids.length === 0) return [];
    return this.sql.exec<SessionRow>("SELECT * FROM sessions WHERE session_id IN (SELECT value FROM json_each(?))", JSON.stringify(ids)).toArray();
  }
}
