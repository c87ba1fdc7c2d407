// Live-tail tickets: single use, valid TICKET_TTL_MS, stored only as hashes, each with the
// org key that minted it (a revoked key's tickets open nothing).
import { sha256 } from "../../src/lib/crypto";
import type { Sql } from "../storage";

const TICKET_TTL_MS = 60_000;

/** The org key a ticket acts for. */
export interface TicketHolder {
  orgId: string;
  keyId: string;
}

export class Tickets {
  constructor(private readonly sql: Sql) {}

  /** Stores a new ticket's hash; answers when it expires. */
  async mint(secret: string, holder: TicketHolder, now: number): Promise<number> {
    const expiresAt = now + TICKET_TTL_MS;
    this.sql.exec("DELETE FROM tickets WHERE expires_at < ?", now);
    this.sql.exec(
      "INSERT INTO tickets (hash, expires_at, org_id, key_id) VALUES (?, ?, ?, ?)",
      await sha256(secret),
      expiresAt,
      holder.orgId,
      holder.keyId,
    );
    return expiresAt;
  }

  /** Uses the ticket up: its holder, once, and only before it expires; else null. */
  async redeem(secret: string, now: number): Promise<TicketHolder | null> {
    const [row] = this.sql
      .exec<{ org_id: string | null; key_id: string | null }>(
        "DELETE FROM tickets WHERE hash = ? AND expires_at >= ? RETURNING org_id, key_id",
        await sha256(secret),
        now,
      )
      .toArray();
    return row?.org_id && row.key_id ? { orgId: row.org_id, keyId: row.key_id } : null;
  }

  /** The project is gone: no ticket opens anything any more. */
  clear(): void {
    this.sql.exec("DELETE FROM tickets");
  }
}
