// One-time download links (see schema.ts download_tickets).
import { and, eq, gt, inArray, isNull, lt } from "drizzle-orm";
import type { Db } from "../client";
import { downloadTickets } from "../schema";

export type DownloadTicket = typeof downloadTickets.$inferSelect;

export async function insertDownloadTicket(db: Db, t: Omit<DownloadTicket, "usedAt">): Promise<void> {
  await db.insert(downloadTickets).values({ ...t, usedAt: null });
}

/** Uses the ticket: answers it only if it was unused and unexpired, and marks it used in the same statement. */
export async function redeemDownloadTicket(db: Db, hash: string, now: number): Promise<DownloadTicket | undefined> {
  const [row] = await db
    .update(downloadTickets)
    .set({ usedAt: now })
    .where(and(eq(downloadTickets.hash, hash), isNull(downloadTickets.usedAt), gt(downloadTickets.expiresAt, now)))
    .returning();
  return row;
}

/** Deletes at most `limit` tickets that expired before `before`; answers how many went. */
export async function deleteDownloadTicketsBefore(db: Db, before: number, limit: number): Promise<number> {
  const expired = db
    .select({ hash: downloadTickets.hash })
    .from(downloadTickets)
    .where(lt(downloadTickets.expiresAt, before))
    .limit(limit);
  const result = await db.delete(downloadTickets).where(inArray(downloadTickets.hash, expired));
  return result.meta.changes;
}
