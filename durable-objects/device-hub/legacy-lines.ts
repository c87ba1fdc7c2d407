// A device's hot logs in its Durable Object's SQLite: one statement writes a whole batch
// (the lines travel as one JSON parameter), FTS5 is fed once per batch, and every query is
// bounded by LIMIT and a keyset cursor.
import type { LogRecord, StoredLine } from "../../src/contract/log-line";
import type { LogCursor, LogFilter } from "../../src/contract/logs";

export type LogRow = LogRecord & Record<string, SqlStorageValue>;

const COLUMNS = "id, ts, level, module, logger, message, thread_id, process_id, session_id, context";

export class LogStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly deviceId: () => string,
  ) {}

  /** Inserts a batch; returns the id of its first line (ids are consecutive within a batch). */
  insert(lines: StoredLine[], sessionId: string | null, receivedAt: number): number {
    if (lines.length === 0) return 0;
    const rows = JSON.stringify(
      lines.map((l) => [l.ts, l.level, l.module, l.logger, l.message, l.thread_id, l.process_id, l.context]),
    );
    this.sql.exec(
      `INSERT INTO logs (ts, level, module, logger, message, thread_id, process_id, context, session_id, received_at)
       SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, ?, ?
       FROM json_each(?)`,
      sessionId,
      receivedAt,
      rows,
    );
    const last = this.sql.exec<{ id: number }>("SELECT last_insert_rowid() AS id").one().id;
    const first = last - lines.length + 1;
    this.sql.exec("INSERT INTO logs_fts (rowid, message) SELECT id, message FROM logs WHERE id >= ?", first);
    return first;
  }

  query(f: LogFilter): LogRow[] {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    const add = (clause: string, ...values: SqlStorageValue[]) => {
      where.push(clause);
      args.push(...values);
    };
    if (f.from !== undefined) add("ts >= ?", f.from);
    if (f.to !== undefined) add("ts < ?", f.to);
    if (f.levels && f.levels.length > 0) add(`level IN (${f.levels.map(() => "?").join(", ")})`, ...f.levels);
    if (f.module !== undefined) add("module = ?", f.module);
    if (f.session_id !== undefined) add("session_id = ?", f.session_id);
    if (f.match !== undefined) add("id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)", f.match);
    if (f.after) add(...this.afterCursor(f.after, f.order));
    const dir = f.order === "asc" ? "ASC" : "DESC";
    return this.sql
      .exec<LogRow>(
        `SELECT ${COLUMNS} FROM logs ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY ts ${dir}, id ${dir} LIMIT ?`,
        ...args,
        f.limit,
      )
      .toArray();
  }

  /** Rows strictly after the cursor in the order (ts, device_id, id), seen from this device. */
  private afterCursor(c: LogCursor, order: "asc" | "desc"): [string, ...SqlStorageValue[]] {
    const me = this.deviceId();
    const later = order === "asc" ? ">" : "<";
    if (me === c.device_id) return [`(ts ${later} ? OR (ts = ? AND id ${later} ?))`, c.ts, c.ts, c.id];
    // A device that sorts after the cursor's device still has rows at the cursor's own timestamp to come.
    const sortsAfter = order === "asc" ? me > c.device_id : me < c.device_id;
    return [sortsAfter ? `ts ${later}= ?` : `ts ${later} ?`, c.ts];
  }

  /** The first line in (ts, id) order, or null when the store is empty. */
  oldestLine(): { ts: number; id: number } | null {
    return this.sql.exec<{ ts: number; id: number }>("SELECT ts, id FROM logs ORDER BY ts, id LIMIT 1").toArray()[0] ?? null;
  }

  /** Up to `limit` of the oldest lines with from ≤ ts < until, in (ts, id) order, whole. */
  oldestOfHour(from: number, until: number, limit: number): LogRow[] {
    return this.sql.exec<LogRow>(`SELECT ${COLUMNS} FROM logs WHERE ts >= ? AND ts < ? ORDER BY ts, id LIMIT ?`, from, until, limit).toArray();
  }

  /** Deletes these lines from the table and the full-text index (the archive has them). */
  remove(ids: number[]): void {
    const list = JSON.stringify(ids);
    this.sql.exec("INSERT INTO logs_fts (logs_fts, rowid, message) SELECT 'delete', id, message FROM logs WHERE id IN (SELECT value FROM json_each(?))", list);
    this.sql.exec("DELETE FROM logs WHERE id IN (SELECT value FROM json_each(?))", list);
  }

  /** About how many lines are held: the span of ids (ids only grow; gaps make this an upper bound). */
  span(): number {
    const r = this.sql.exec<{ lo: number | null; hi: number | null }>("SELECT min(id) AS lo, max(id) AS hi FROM logs").one();
    return r.lo === null || r.hi === null ? 0 : r.hi - r.lo + 1;
  }

  oldest(): number | null {
    return this.sql.exec<{ ts: number | null }>("SELECT min(ts) AS ts FROM logs").one().ts;
  }
}
