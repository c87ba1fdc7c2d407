// The project's sessions ("runs"): where a session id gets its owner and where an ended
// session's counts are kept. Before, each was a row of D1 (a device opening a session a day is
// 365M rows a year at 1M devices); now the project's object holds them, one row each, so D1
// hears nothing of sessions (docs/presence.md).
//
// - A claim is atomic because the object is single-threaded: the first device of the project to
//   name an id owns it; every other device is answered the owner.
// - A device's object keeps a session's live counters and sends the ended session with its
//   counts and a version; a row changes only for its own device and only to a newer version, so
//   a retried or late write never undoes a newer one or counts twice.
// - Reads: by id, a page newest first (started_at, session_id), ids running in a time range,
//   the names of a list of ids.
//
// Rows written: a claim is 3 (the row, and its entries in the two indexes below); an end is 1
// (it changes no indexed column). Keep the indexes few: each entry is a billed row write.
import type {
  SessionAfter,
  SessionFields,
  SessionListFilter,
  SessionUpsert,
  StoredSession,
} from "../../src/contract/sessions";
import type { Kv, Sql } from "../storage";

/** Set when the project is deleted: nothing is claimed or written any more. */
const RETIRED_KEY = "sessions_retired";
/** Rows a prune deletes per statement (the alarm comes back for more). */
const PRUNE_BATCH = 500;

type Row = StoredSession & Record<string, SqlStorageValue>;

const COLUMNS = "session_id, device_id, name, status, started_at, completed_at, total_logs, error_count, warning_count";

export class ProjectSessions {
  constructor(
    private readonly sql: Sql,
    private readonly kv: Kv,
  ) {}

  private get retired(): boolean {
    return this.kv.get<boolean>(RETIRED_KEY) === true;
  }

  /**
   * Claims the id for the device unless a device has it: answers the owner (this device, or the
   * one that claimed it first), or null once the project is deleted.
   */
  claim(deviceId: string, s: Pick<SessionFields, "session_id" | "name" | "started_at">): string | null {
    if (this.retired) return null;
    this.sql.exec(
      `INSERT INTO sessions (session_id, device_id, name, status, started_at) VALUES (?, ?, ?, 'active', ?)
       ON CONFLICT (session_id) DO NOTHING`,
      s.session_id,
      deviceId,
      s.name,
      s.started_at,
    );
    return this.owner(s.session_id);
  }

  /** The device that owns the id, if any claimed it. */
  owner(sessionId: string): string | null {
    if (this.retired) return null;
    const [row] = this.sql
      .exec<{ device_id: string }>("SELECT device_id FROM sessions WHERE session_id = ?", sessionId)
      .toArray();
    return row?.device_id ?? null;
  }

  /**
   * The device's sessions as it sends them: only its own rows, only to a newer version. A
   * session the project has no row of is the device's own from before sessions moved here (its
   * id was claimed in D1, and the device's object holds it): it is added as the device's.
   */
  update(deviceId: string, rows: SessionUpsert[]): void {
    if (this.retired) return;
    for (const r of rows) {
      this.sql.exec(
        `INSERT INTO sessions (session_id, device_id, name, status, started_at, completed_at, total_logs, error_count, warning_count, version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (session_id) DO UPDATE SET name = excluded.name, status = excluded.status, completed_at = excluded.completed_at,
           total_logs = excluded.total_logs, error_count = excluded.error_count, warning_count = excluded.warning_count, version = excluded.version
         WHERE sessions.device_id = excluded.device_id AND sessions.version < excluded.version`,
        r.session_id,
        deviceId,
        r.name,
        r.status,
        r.started_at,
        r.completed_at,
        r.total_logs,
        r.error_count,
        r.warning_count,
        r.version,
      );
    }
  }

  get(sessionId: string): StoredSession | undefined {
    if (this.retired) return undefined;
    return this.sql.exec<Row>(`SELECT ${COLUMNS} FROM sessions WHERE session_id = ?`, sessionId).toArray()[0];
  }

  /** At most `limit` sessions after `after`, newest first (started_at, then session_id, descending). */
  list(f: SessionListFilter, after: SessionAfter | undefined, limit: number): StoredSession[] {
    if (this.retired) return [];
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (f.device_id !== undefined) where.push("device_id = ?"), args.push(f.device_id);
    if (f.status !== undefined) where.push("status = ?"), args.push(f.status);
    if (f.from !== undefined) where.push("started_at >= ?"), args.push(f.from);
    if (f.to !== undefined) where.push("started_at < ?"), args.push(f.to);
    if (after?.session_id !== undefined)
      where.push("(started_at, session_id) < (?, ?)"), args.push(after.started_at, after.session_id);
    else if (after) where.push("started_at < ?"), args.push(after.started_at);
    return this.sql
      .exec<Row>(
        `SELECT ${COLUMNS} FROM sessions ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY started_at DESC, session_id DESC LIMIT ?`,
        ...args,
        limit,
      )
      .toArray();
  }

  /** The names of these sessions, by id (ids the project has no row of are left out); one read. */
  names(ids: readonly string[]): Record<string, string> {
    if (this.retired || ids.length === 0) return {};
    const rows = this.sql
      .exec<{ session_id: string; name: string }>(
        "SELECT session_id, name FROM sessions WHERE session_id IN (SELECT value FROM json_each(?))",
        JSON.stringify(ids),
      )
      .toArray();
    return Object.fromEntries(rows.map((r) => [r.session_id, r.name]));
  }

  /** Ids of sessions that ran during [from, to): started before `to`, not ended before `from`; newest first. */
  idsBetween(range: { from?: number; to?: number }, max: number): string[] {
    if (this.retired) return [];
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (range.from !== undefined) where.push("(completed_at IS NULL OR completed_at >= ?)"), args.push(range.from);
    if (range.to !== undefined) where.push("started_at < ?"), args.push(range.to);
    return this.sql
      .exec<{ session_id: string }>(
        `SELECT session_id FROM sessions ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY started_at DESC, session_id DESC LIMIT ?`,
        ...args,
        max,
      )
      .toArray()
      .map((r) => r.session_id);
  }

  /**
   * Deletes, at most PRUNE_BATCH at a time, the sessions that ended before `before` (ms), or
   * every session once the project is retired; answers whether rows may be left (a full batch).
   */
  pruneBatch(before: number): boolean {
    const gone = this.retired
      ? this.sql.exec(
          "DELETE FROM sessions WHERE session_id IN (SELECT session_id FROM sessions LIMIT ?) RETURNING session_id",
          PRUNE_BATCH,
        )
      : this.sql.exec(
          `DELETE FROM sessions WHERE session_id IN (
             SELECT session_id FROM sessions WHERE started_at < ? AND completed_at < ? LIMIT ?) RETURNING session_id`,
          before,
          before,
          PRUNE_BATCH,
        );
    return gone.toArray().length >= PRUNE_BATCH;
  }

  /** Whether the project is retired and sessions are left to delete (an object that restarted while deleting them). */
  get leftOver(): boolean {
    return this.retired && this.sql.exec("SELECT 1 FROM sessions LIMIT 1").toArray().length > 0;
  }

  /**
   * The project is deleted: its sessions answer nothing from now on and go PRUNE_BATCH at a time (the caller
   * continues).
   */
  retire(): boolean {
    this.kv.put(RETIRED_KEY, true);
    return this.pruneBatch(0);
  }
}
