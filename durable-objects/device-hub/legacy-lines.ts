// The hot store as it was before chunks (chunks.ts): a row per line in `logs`, with four
// indexes and a full-text entry each. Nothing is written here any more; an object that still
// holds such rows moves them into chunks, a bounded number per alarm (retention.ts), and its
// queries read both until the table is empty.
import type { LogCursor, LogFilter } from "../../src/contract/logs";
import type { Sql } from "../storage";
import type { LogRow } from "./rows";

const COLUMNS = "id, ts, level, module, logger, message, thread_id, process_id, session_id, context";

export class LegacyLines {
  /** Known to be empty (memory only; it never fills again). */
  private empty = false;

  constructor(
    private readonly sql: Sql,
    private readonly deviceId: () => string,
  ) {}

  /** Whether any line is left in the table. */
  any(): boolean {
    if (this.empty) return false;
    this.empty = this.sql.exec("SELECT 1 FROM logs LIMIT 1").toArray().length === 0;
    return !this.empty;
  }

  /** Up to `limit` lines in id order, to move into chunks. */
  take(limit: number): LogRow[] {
    return this.sql.exec<LogRow>(`SELECT ${COLUMNS} FROM logs ORDER BY id LIMIT ?`, limit).toArray();
  }

  query(f: LogFilter): LogRow[] {
    if (!this.any()) return [];
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

  /** Deletes these lines from the table and the full-text index (the archive has them). */
  remove(ids: number[]): void {
    const list = JSON.stringify(ids);
    this.sql.exec("INSERT INTO logs_fts (logs_fts, rowid, message) SELECT 'delete', id, message FROM logs WHERE id IN (SELECT value FROM json_each(?))", list);
    this.sql.exec("DELETE FROM logs WHERE id IN (SELECT value FROM json_each(?))", list);
  }
}
