// A device's sessions ("runs") with live counters. A batch's lines are counted in the device's
// state row (saved in the same transaction as the lines, so no row of the session's own is
// written per batch) and added to the session's row when it ends or when the state's list grows
// long. Reads add what is still pending. The counters live here and are read from here: the
// project's object (../project-hub/sessions.ts) hears of a session when its id is claimed and
// when it ends (with its counts then), never on a schedule. `version` / `flushed_version` say
// whether the project has seen an ended session's row.
//
// Timeouts: a session no line and no heartbeat named for SESSION_IDLE_S seconds ends as `timed_out` (the
// device's alarm asks timeOut); a line or heartbeat naming it later makes it active again (named), the one
// time naming a session writes its row. When each active session was last named is kept in the device's state
// too (SessionActivity), which the batch or heartbeat that names it saves anyway: noting it writes no row.
// Past SEEN_MAX sessions the longest silent one's moment goes to its row (`last_active_at`, also written when
// a session is opened) and the state keeps only the earliest such moment, so the alarm knows when to look at
// the rows.
import type { EndedStatus, SessionFields } from "../../src/contract/sessions";
import type { Sql } from "../storage";

/** Lines, errors and warnings counted for a session and not yet in its row. */
type Pending = Record<string, [number, number, number]>;
/** Sessions with pending counts past which they are folded into their rows at once. */
const PENDING_MAX = 16;
/** Active sessions whose last activity the state holds; past it the longest silent goes to its row. */
const SEEN_MAX = 32;
/** Sessions one alarm times out at most (each is told to the project); the rest come with the next. */
const TIME_OUT_MAX = 50;

/**
 * When the device's active sessions were last named (a line, a heartbeat, their opening), kept in
 * its state: `seen` by session (at most SEEN_MAX), and `spilled`, the earliest last activity of
 * the active sessions whose moment only their rows hold (null: none).
 */
export interface SessionActivity {
  seen: Record<string, number>;
  spilled: number | null;
}

/** A row of the sessions table: `version` / `flushed_version` say whether the project's object has seen it. */
export type SessionRow = SessionFields & { version: number; flushed_version: number } & Record<string, SqlStorageValue>;

export type EndOutcome =
  | { ok: true; session: SessionRow }
  | { ok: false; code: "not_found" | "conflict" | "before_start"; session?: SessionRow };

export class SessionStore {
  constructor(
    private readonly sql: Sql,
    /** The pending counts in the device's state, and how to change them (the caller saves the state). */
    private readonly pending: { get(): Pending; set(p: Pending): void },
    /**
     * The sessions' activity in the device's state (undefined before it was kept), and how to change it (the
     * caller saves the state).
     */
    private readonly activity: { get(): SessionActivity | undefined; set(a: SessionActivity): void },
    /** How long a session may go unnamed before it times out (SESSION_IDLE_S). */
    private readonly idleMs: number,
  ) {}

  get(id: string): SessionRow | undefined {
    const row = this.sql.exec<SessionRow>("SELECT * FROM sessions WHERE session_id = ?", id).toArray()[0];
    return row && this.withPending(row);
  }

  private withPending(row: SessionRow): SessionRow {
    const p = this.pending.get()[row.session_id];
    if (!p) return row;
    return {
      ...row,
      total_logs: row.total_logs + p[0],
      error_count: row.error_count + p[1],
      warning_count: row.warning_count + p[2],
    };
  }

  /** Creates the session unless it exists; says which happened. Opening it is its first activity (`now`). */
  ensure(id: string, name: string, startedAt: number, now = Date.now()): { session: SessionRow; created: boolean } {
    const existing = this.get(id);
    if (existing) return { session: existing, created: false };
    const session = this.sql
      .exec<SessionRow>(
        // The project has the row already (the id was claimed there first): nothing to tell it yet.
        "INSERT INTO sessions (session_id, name, status, started_at, flushed_version, last_active_at) VALUES (?, ?, 'active', ?, 1, ?) RETURNING *",
        id,
        name,
        startedAt,
        now,
      )
      .one();
    this.remember(id, now);
    return { session, created: true };
  }

  /**
   * A line or a heartbeat named the session at `at`: an active one's timeout starts again (in the
   * state; the caller saves it). A timed-out one is active again, its completed_at cleared: that
   * row is answered, recorded as told, for the caller to tell the project at once (as for an end).
   * A session the device ended stays ended.
   */
  named(session: Pick<SessionRow, "session_id" | "status">, at: number): SessionRow | undefined {
    if (session.status === "timed_out") {
      const reopened = this.sql
        .exec<SessionRow>(
          `UPDATE sessions SET status = 'active', completed_at = NULL, last_active_at = ?, version = version + 1,
             flushed_version = version + 1 WHERE session_id = ? AND status = 'timed_out' RETURNING *`,
          at,
          session.session_id,
        )
        .toArray()[0];
      if (!reopened) return undefined;
      this.remember(session.session_id, at);
      return this.withPending(reopened);
    }
    if (session.status !== "active") return undefined;
    if (this.activities().seen[session.session_id] === at) return undefined;
    this.remember(session.session_id, at);
    return undefined;
  }

  /**
   * The sessions' activity; for a device from before it was kept, made once from the rows (its active
   * sessions count from now).
   */
  private activities(): SessionActivity {
    const kept = this.activity.get();
    if (kept) return kept;
    this.sql.exec(
      "UPDATE sessions SET last_active_at = ? WHERE status = 'active' AND last_active_at IS NULL",
      Date.now(),
    );
    const rows = this.activeRows();
    rows.sort((a, b) => b.at - a.at);
    const rest = rows.slice(SEEN_MAX);
    const made: SessionActivity = {
      seen: Object.fromEntries(rows.slice(0, SEEN_MAX).map((r) => [r.session_id, r.at])),
      spilled: rest.length > 0 ? Math.min(...rest.map((r) => r.at)) : null,
    };
    this.activity.set(made);
    return made;
  }

  /**
   * Every active session with the last activity its row holds (a scan: only when the state says a row must be
   * read).
   */
  private activeRows(): { session_id: string; at: number }[] {
    return this.sql
      .exec<{ session_id: string; at: number }>(
        "SELECT session_id, coalesce(last_active_at, started_at) AS at FROM sessions WHERE status = 'active'",
      )
      .toArray();
  }

  /**
   * Notes the session's activity in the state; past SEEN_MAX, the longest silent session's moment goes to its
   * row (one row written).
   */
  private remember(id: string, at: number): void {
    const { seen: was, spilled } = this.activities();
    const seen = { ...was, [id]: Math.max(was[id] ?? 0, at) };
    let earliest = spilled;
    const ids = Object.keys(seen);
    if (ids.length > SEEN_MAX) {
      const oldest = ids.reduce((a, b) => (seen[b]! < seen[a]! ? b : a));
      const moment = seen[oldest]!;
      this.sql.exec(
        "UPDATE sessions SET last_active_at = max(coalesce(last_active_at, 0), ?) WHERE session_id = ?",
        moment,
        oldest,
      );
      delete seen[oldest];
      earliest = earliest === null ? moment : Math.min(earliest, moment);
    }
    this.activity.set({ seen, spilled: earliest });
  }

  /** When the alarm must next look for sessions to time out (ms), or null with none active. */
  nextTimeout(): number | null {
    const { seen, spilled } = this.activities();
    let earliest = spilled;
    for (const at of Object.values(seen)) if (earliest === null || at < earliest) earliest = at;
    return earliest === null ? null : earliest + this.idleMs;
  }

  /**
   * Ends as `timed_out` the active sessions nothing named since `now - idleMs`
   * (TIME_OUT_MAX at most), each at its last activity (never before it started); answers them
   * ended, for the caller to tell the project as it tells any end.
   */
  timeOut(now: number): SessionRow[] {
    const before = now - this.idleMs;
    const { seen, spilled } = this.activities();
    const silent = Object.entries(seen).filter(([, at]) => at <= before);
    if (spilled !== null && spilled <= before) {
      // Sessions whose moment only their rows hold: the silent ones go, the earliest of the rest is kept.
      let earliest: number | null = null;
      for (const r of this.activeRows()) {
        if (r.session_id in seen) continue;
        if (r.at <= before) silent.push([r.session_id, r.at]);
        else if (earliest === null || r.at < earliest) earliest = r.at;
      }
      this.activity.set({ seen, spilled: earliest });
    }
    silent.sort((a, b) => a[1] - b[1]);
    const ended: SessionRow[] = [];
    for (const [id, at] of silent.slice(0, TIME_OUT_MAX)) {
      const session = this.get(id);
      if (session?.status !== "active") {
        this.forgetActivity(id);
        continue;
      }
      const outcome = this.end(id, "timed_out", Math.max(at, session.started_at));
      if (outcome.ok) ended.push(outcome.session);
    }
    // The ones left for the next alarm keep their moment: a spilled one goes back to the earliest kept.
    for (const [id, at] of silent.slice(TIME_OUT_MAX)) {
      const a = this.activities();
      if (!(id in a.seen)) this.activity.set({ ...a, spilled: a.spilled === null ? at : Math.min(a.spilled, at) });
    }
    return ended;
  }

  /** The session ended: the state no longer holds its activity. */
  private forgetActivity(id: string): void {
    const a = this.activities();
    if (!(id in a.seen)) return;
    const seen = { ...a.seen };
    delete seen[id];
    this.activity.set({ ...a, seen });
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
   * at once (and calls unflushed() back if that fails). A timed-out session takes the device's
   * own end once (its word outranks the server's guess); any other ended session keeps its status.
   */
  end(id: string, status: EndedStatus, completedAt: number | undefined): EndOutcome {
    const session = this.get(id);
    if (!session) return { ok: false, code: "not_found" };
    if (session.status === status) return { ok: true, session }; // a retried end
    const replacesTimeout = session.status === "timed_out" && status !== "timed_out";
    if (session.status !== "active" && !replacesTimeout) return { ok: false, code: "conflict", session };
    if (completedAt !== undefined && completedAt < session.started_at)
      return { ok: false, code: "before_start", session };
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
    this.forgetActivity(id);
    return { ok: true, session: ended };
  }

  /**
   * Ended sessions whose end the project has not seen (a write that failed, or an end from before
   * this was kept), and reopened ones it was not told of (notFlushed). An active session's row
   * is otherwise ahead of the project's by its folded counts, which the project need not hear.
   */
  untold(limit: number): SessionRow[] {
    return this.sql
      .exec<SessionRow>(
        "SELECT * FROM sessions WHERE version > flushed_version AND (status != 'active' OR flushed_version = 0) LIMIT ?",
        limit,
      )
      .toArray();
  }

  /** The project was not told of an end (or a reopening) after all (see end, named): the alarm tells it. */
  notFlushed(id: string): void {
    this.sql.exec("UPDATE sessions SET flushed_version = 0 WHERE session_id = ?", id);
  }

  markFlushed(rows: { session_id: string; version: number }[]): void {
    for (const r of rows) {
      this.sql.exec(
        "UPDATE sessions SET flushed_version = max(flushed_version, ?) WHERE session_id = ?",
        r.version,
        r.session_id,
      );
    }
  }

  /** The sessions with these ids, however many (one JSON parameter: SQLite binds at most 100). */
  live(ids: string[]): SessionRow[] {
    if (ids.length === 0) return [];
    return this.sql
      .exec<SessionRow>(
        "SELECT * FROM sessions WHERE session_id IN (SELECT value FROM json_each(?))",
        JSON.stringify(ids),
      )
      .toArray()
      .map((r) => this.withPending(r));
  }
}
