// A device's command queue: queued -> delivered -> succeeded | failed | rejected, or expired
// when the TTL passes first. Every transition keeps its own timestamp.
import type { AckOutcome, AckStatus, CommandRecord } from "../../src/contract/commands";

/** A row of the commands table (SqlStorage wants an index signature). */
type CommandRow = CommandRecord & Record<string, SqlStorageValue>;

const OPEN = "status IN ('queued', 'delivered')";

export class CommandQueue {
  constructor(private readonly sql: SqlStorage) {}

  queue(id: string, command: string, params: unknown, ttlMs: number, now: number): CommandRow {
    return this.sql
      .exec<CommandRow>(
        `INSERT INTO commands (id, command, params, status, created_at, expires_at)
         VALUES (?, ?, ?, 'queued', ?, ?) RETURNING *`,
        id,
        command,
        params === undefined ? null : JSON.stringify(params),
        now,
        now + ttlMs,
      )
      .one();
  }

  /** Marks every command whose TTL has passed unacknowledged as expired, at its deadline. */
  expire(now: number): number {
    return this.sql.exec(
      `UPDATE commands SET status = 'expired', expired_at = expires_at WHERE ${OPEN} AND expires_at <= ?`,
      now,
    ).rowsWritten;
  }

  pendingCount(): number {
    return this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM commands WHERE status = 'queued'`).one().n;
  }

  /** Hands the queued commands to the device, oldest first, and marks them delivered. */
  deliver(now: number, limit: number): CommandRow[] {
    return this.sql
      .exec<CommandRow>(
        `UPDATE commands SET status = 'delivered', delivered_at = ?
         WHERE id IN (SELECT id FROM commands WHERE status = 'queued' ORDER BY id LIMIT ?)
         RETURNING *`,
        now,
        limit,
      )
      .toArray()
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  ack(id: string, status: AckStatus, result: unknown, now: number): AckOutcome {
    const row = this.get(id);
    if (!row) return { ok: false, code: "not_found" };
    if (row.status === "expired") return { ok: false, code: "gone", command: row };
    if (row.status === status) return { ok: true, command: row }; // a retried ack
    if (row.status !== "queued" && row.status !== "delivered") return { ok: false, code: "conflict", command: row };
    const updated = this.sql
      .exec<CommandRow>(
        `UPDATE commands SET status = ?, completed_at = ?, result = ?,
           delivered_at = coalesce(delivered_at, ?) WHERE id = ? RETURNING *`,
        status,
        now,
        result === undefined ? null : JSON.stringify(result),
        now,
        id,
      )
      .one();
    return { ok: true, command: updated };
  }

  get(id: string): CommandRow | undefined {
    return this.sql.exec<CommandRow>(`SELECT * FROM commands WHERE id = ?`, id).toArray()[0];
  }

  /** Newest first; `before` is the id of the last command of the previous page. */
  history(limit: number, before?: string): CommandRow[] {
    return before
      ? this.sql.exec<CommandRow>(`SELECT * FROM commands WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit).toArray()
      : this.sql.exec<CommandRow>(`SELECT * FROM commands ORDER BY id DESC LIMIT ?`, limit).toArray();
  }

  nextExpiry(): number | null {
    return this.sql.exec<{ t: number | null }>(`SELECT min(expires_at) AS t FROM commands WHERE ${OPEN}`).one().t;
  }
}
