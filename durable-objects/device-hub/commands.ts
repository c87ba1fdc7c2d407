// A device's command queue: queued -> delivered -> succeeded | failed | rejected, or expired
// when the TTL passes first. Every transition keeps its own timestamp.
//
// One row per command in a table whose key is the table (WITHOUT ROWID): queuing writes one
// row and each transition one more, with no index to keep. What is still open (queued or
// delivered, and when it expires) is kept in memory, read from the table once per object life,
// so the checks every request makes (anything expired? how many queued?) read nothing.
import type { AckOutcome, AckStatus, Actor, CommandRecord } from "../../src/contract/commands";
import type { Sql } from "../storage";

/** A row of the commands table (SqlStorage wants an index signature). */
type CommandRow = CommandRecord & Record<string, SqlStorageValue>;

const OPEN = "status IN ('queued', 'delivered')";

export const COMMANDS_SCHEMA = `CREATE TABLE device_commands (
     id TEXT PRIMARY KEY,
     command TEXT NOT NULL,
     params TEXT,
     status TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     delivered_at INTEGER,
     completed_at INTEGER,
     expired_at INTEGER,
     result TEXT
   ) WITHOUT ROWID;
   INSERT INTO device_commands SELECT id, command, params, status, created_at, expires_at, delivered_at, completed_at, expired_at, result FROM commands;
   DROP TABLE commands;`;

export class CommandQueue {
  /** Open commands: id → status and expiry (memory only, read from the table on first use). */
  private kept?: Map<string, { status: "queued" | "delivered"; expiresAt: number }>;

  constructor(private readonly sql: Sql) {}

  private get open() {
    if (!this.kept) {
      this.kept = new Map();
      for (const r of this.sql.exec<{ id: string; status: "queued" | "delivered"; expires_at: number }>(
        `SELECT id, status, expires_at FROM device_commands WHERE ${OPEN}`,
      )) {
        this.kept.set(r.id, { status: r.status, expiresAt: r.expires_at });
      }
    }
    return this.kept;
  }

  queue(id: string, command: string, params: unknown, ttlMs: number, now: number, sentBy: Actor): CommandRow {
    const row = this.sql
      .exec<CommandRow>(
        `INSERT INTO device_commands (id, command, params, status, created_at, expires_at, sent_by)
         VALUES (?, ?, ?, 'queued', ?, ?, ?) RETURNING *`,
        id,
        command,
        params === undefined ? null : JSON.stringify(params),
        now,
        now + ttlMs,
        JSON.stringify(sentBy),
      )
      .one();
    this.open.set(id, { status: "queued", expiresAt: now + ttlMs });
    return row;
  }

  /** Marks every command whose TTL has passed unacknowledged as expired, at its deadline. */
  /** Marks the open commands past their expiry expired; answers which (for the audit log). */
  expire(now: number): { id: string; command: string }[] {
    const expired: { id: string; command: string }[] = [];
    for (const [id, c] of this.open) {
      if (c.expiresAt > now) continue;
      expired.push(
        this.sql
          .exec<{ id: string; command: string }>(
            "UPDATE device_commands SET status = 'expired', expired_at = expires_at WHERE id = ? RETURNING id, command",
            id,
          )
          .one(),
      );
      this.open.delete(id);
    }
    return expired;
  }

  pendingCount(): number {
    let n = 0;
    for (const c of this.open.values()) if (c.status === "queued") n++;
    return n;
  }

  /** Hands the queued commands to the device, oldest first, and marks them delivered. */
  deliver(now: number, limit: number): CommandRow[] {
    const queued = [...this.open]
      .filter(([, c]) => c.status === "queued")
      .map(([id]) => id)
      .sort()
      .slice(0, limit);
    return queued.map((id) => {
      this.open.set(id, { ...this.open.get(id)!, status: "delivered" });
      return this.sql
        .exec<CommandRow>(
          "UPDATE device_commands SET status = 'delivered', delivered_at = ? WHERE id = ? RETURNING *",
          now,
          id,
        )
        .one();
    });
  }

  ack(id: string, status: AckStatus, result: unknown, now: number): AckOutcome {
    const row = this.get(id);
    if (!row) return { ok: false, code: "not_found" };
    if (row.status === "expired") return { ok: false, code: "gone", command: row };
    if (row.status === status) return { ok: true, command: row }; // a retried ack
    if (row.status !== "queued" && row.status !== "delivered") return { ok: false, code: "conflict", command: row };
    const updated = this.sql
      .exec<CommandRow>(
        `UPDATE device_commands SET status = ?, completed_at = ?, result = ?,
           delivered_at = coalesce(delivered_at, ?) WHERE id = ? RETURNING *`,
        status,
        now,
        result === undefined ? null : JSON.stringify(result),
        now,
        id,
      )
      .one();
    this.open.delete(id);
    return { ok: true, command: updated };
  }

  get(id: string): CommandRow | undefined {
    return this.sql.exec<CommandRow>(`SELECT * FROM device_commands WHERE id = ?`, id).toArray()[0];
  }

  /** Newest first; `before` is the id of the last command of the previous page. */
  history(limit: number, before?: string): CommandRow[] {
    return before
      ? this.sql
          .exec<CommandRow>(`SELECT * FROM device_commands WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
          .toArray()
      : this.sql.exec<CommandRow>(`SELECT * FROM device_commands ORDER BY id DESC LIMIT ?`, limit).toArray();
  }

  nextExpiry(): number | null {
    let next: number | null = null;
    for (const c of this.open.values()) if (next === null || c.expiresAt < next) next = c.expiresAt;
    return next;
  }
}
