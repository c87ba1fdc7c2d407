// A device's sessions ("runs") with live counters. A batch's lines are counted in the device's
// state row (saved in the same transaction as the lines, so no row of the session's own is
// written per batch) and added to the session's row when it ends or when the state's list grows
// long. Reads add what is still pending. The counters live here and are read from here: the
// project's object (../project-hub/sessions.ts) hears of a session when its id is claimed and
// when it ends (with its counts then), never on a schedule. `version` / `flushed_version` say
// whether the project has seen an ended session's row.
import type { EndStatus, SessionFields } from "../../src/contract/sessions";
import type { Sql } from "../storage";

/** Lines, errors and warnings counted for a session and not yet in its row. */
type Pending = Record<string, [number, number, number]>;
/** Sessions with pending counts past which they are folded into their rows at once. */
const PENDING_MAX = 16;

/** A row of the sessions table: `version` / `flushed_version` say whether the project's object has seen it. */
export type SessionRow = SessionFields & { version: number; flushed_version: number } & Record<string, SqlStorageValue>;

export type EndOutcome = { ok: true; session: SessionRow } | { ok: false; code: "not_found" | "conflict" | "before_start"; session?: SessionRow };

export class SessionStore {
  constructor(
    private readonly sql: Sql,
    /** The pending counts in the device's state, and how to change them (the caller saves the state). */
    private readonly pending: { get(): Pending; set(p: Pending): void },
  ) {}

  get(id: string): SessionRow | undefined {
    const row = this.sql.exec<SessionRow>("SELECT * FROM sessions WHERE session_id = ?", id).toArray()[0];
    return row && this.withPending(row);
  }

  private withPending(row: SessionRow): SessionRow {
    const p = this.pending.get()[row.session_id];
    if (!p) return row;
    return { ...row, total_logs: row.total_logs + p[0], error_count: row.error_count + p[1], warning_count: row.warning_count + p[2] };
  }

  /** Creates the session unless it exists; says which happened. */
  ensure(id: string, name: string, startedAt: number): { session: SessionRow; created: boolean } {
    const existing = this.get(id);
    if (existing) return { session: existing, created: false };
    const session = this.sql
      .exec<SessionRow>(
        // The project has the row already (the id was claimed there first): nothing to tell it yet.
        "INSERT INTO sessions (session_id, name, status, started_at, flushed_version) VALUES (?, ?, 'active', ?, 1) RETURNING *",
        id,
        name,
        startedAt,
      )
      .one();
    return { session, created: true };
  }

  /** Counts a batch's lines for the session, in the state (the caller saves it). */
  count(id: string, lines: number, errors: number, warnings: number): void {
    const pending = { ...this.pending.get() };
    const had = pending[id] ?? [0, 0, 0];
    pending[id] = [had[0] + lines, had[1] + errors, had[2] + warnings];
    this.pending.set(pending);
    if (Object.keys(pending).length > PENDING_MAX) this.fold();
  }

  /** Whether counts wait to be added to session rows. */
  anyPending(): boolean {
    return Object.keys(this.pending.get()).length > 0;
  }

  /** Adds the pending counts to the sessions' rows (one row each): the state's list stays short. */
  fold(ids?: string[]): void {
    if (!this.anyPending()) return;
    const pending = { ...this.pending.get() };
    for (const id of ids ?? Object.keys(pending)) {
      const p = pending[id];
      if (!p) continue;
      this.sql.exec(
        `UPDATE sessions SET total_logs = total_logs + ?, error_count = error_count + ?,
           warning_count = warning_count + ?, version = version + 1 WHERE session_id = ?`,
        p[0],
        p[1],
        p[2],
        id,
      );
      delete pending[id];
    }
    this.pending.set(pending);
  }

  /**
   * Ends a session; without a `completedAt` it ends now (never before it started). Its pending
   * counts are added in the same statement, which also records the project as told: the caller tells it
   * at once (and calls unflushed() back if that fails).
   */
  end(id: string, status: EndStatus, completedAt: number | undefined): EndOutcome {
    const session = this.get(id);
    if (!session) return { ok: false, code: "not_found" };
    if (session.status === status) return { ok: true, session }; // a retried end
    if (session.status !== "active") return { ok: false, code: "conflict", session };
    if (completedAt !== undefined && completedAt < session.started_at) return { ok: false, code: "before_start", session };
    completedAt ??= Math.max(Date.now(), session.started_at);
    const pending = { ...this.pending.get() };
    const [lines, errors, warnings] = pending[id] ?? [0, 0, 0];
    const ended = this.sql
      .exec<SessionRow>(
        `UPDATE sessions SET status = ?, completed_at = ?, total_logs = total_logs + ?, error_count = error_count + ?,
           warning_count = warning_count + ?, version = version + 1, flushed_version = version + 1 WHERE session_id = ? RETURNING *`,
        status,
        completedAt,
        lines,
        errors,
        warnings,
        id,
      )
      .one();
    if (pending[id]) {
      delete pending[id];
      this.pending.set(pending);
    }
    return { ok: true, session: ended };
  }

  /** Ended sessions whose end the project has not seen (a write that failed, or an end from before this was kept). */
  untold(limit: number): SessionRow[] {
    return this.sql.exec<SessionRow>("SELECT * FROM sessions WHERE status != 'active' AND version > flushed_version LIMIT ?", limit).toArray();
  }

  /** The project was not told of an end after all (see end): the alarm tells it. */
  notFlushed(id: string): void {
    this.sql.exec("UPDATE sessions SET flushed_version = 0 WHERE session_id = ?", id);
  }

  markFlushed(rows: { session_id: string; version: number }[]): void {
    for (const r of rows) {
      this.sql.exec("UPDATE sessions SET flushed_version = max(flushed_version, ?) WHERE session_id = ?", r.version, r.session_id);
    }
  }

  /** The sessions with these ids, however many (one JSON parameter: SQLite binds at most 100). */
  live(ids: string[]): SessionRow[] {
    if (ids.length === 0) return [];
    return this.sql
      .exec<SessionRow>("SELECT * FROM sessions WHERE session_id IN (SELECT value FROM json_each(?))", JSON.stringify(ids))
      .toArray()
      .map((r) => this.withPending(r));
  }
}
