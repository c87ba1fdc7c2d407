// Live-tail tickets: single use, valid TICKET_TTL_MS, stored only as hashes.
import { sha256 } from "../../src/lib/crypto";

const TICKET_TTL_MS = 60_000;

export class Tickets {
  constructor(private readonly sql: SqlStorage) {}

  /** Stores a new ticket's hash; answers when it expires. */
  async mint(secret: string, now: number): Promise<number> {
    const expiresAt = now + TICKET_TTL_MS;
    this.sql.exec("DELETE FROM tickets WHERE expires_at < ?", now);
    this.sql.exec("INSERT INTO tickets (hash, expires_at) VALUES (?, ?)", await sha256(secret), expiresAt);
    return expiresAt;
  }

  /** Uses the ticket up: true only once, and only before it expires. */
  async redeem(secret: string, now: number): Promise<boolean> {
    return this.sql.exec("DELETE FROM tickets WHERE hash = ? AND expires_at >= ? RETURNING hash", await sha256(secret), now).toArray().length > 0;
  }
}
