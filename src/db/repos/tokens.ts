// Registration tokens: minted with a capsule, consumed once by a registering device.
import { and, eq, inArray, isNull, lt } from "drizzle-orm";
import type { Environment } from "../../contract/common";
import { newId } from "../../lib/crypto";
import type { Db } from "../client";
import { registrationTokens } from "../schema";

export type RegistrationToken = typeof registrationTokens.$inferSelect;

export interface NewToken {
  orgId: string;
  projectId: string;
  tokenHash: string;
  deviceType: string;
  environment: Environment;
  name: string | null;
  dsn: string | null;
  expiresAt: number;
}

export async function insertToken(db: Db, t: NewToken): Promise<RegistrationToken> {
  const now = Date.now();
  const row: RegistrationToken = { id: newId("tok", now), ...t, usedAt: null, deviceId: null, createdAt: now };
  await db.insert(registrationTokens).values(row);
  return row;
}

export async function findTokenByHash(db: Db, tokenHash: string): Promise<RegistrationToken | undefined> {
  return db.query.registrationTokens.findFirst({ where: eq(registrationTokens.tokenHash, tokenHash) });
}

/** Marks the token used unless it already is: of two racing registrations exactly one gets true. */
export async function consumeToken(db: Db, tokenId: string, at: number): Promise<boolean> {
  const consumed = await db
    .update(registrationTokens)
    .set({ usedAt: at })
    .where(and(eq(registrationTokens.id, tokenId), isNull(registrationTokens.usedAt)))
    .returning({ id: registrationTokens.id });
  return consumed.length > 0;
}

/** Gives a consumed token back, for a registration that failed before handing anything out. */
export async function releaseToken(db: Db, tokenId: string): Promise<void> {
  await db.update(registrationTokens).set({ usedAt: null, deviceId: null }).where(eq(registrationTokens.id, tokenId));
}

/**
 * Deletes at most `limit` tokens that expired before `cutoff` and says how many went; the
 * caller repeats while a full chunk went, so no single statement grows with the backlog.
 */
export async function deleteTokensExpiredBefore(db: Db, cutoff: number, limit: number): Promise<number> {
  const expired = db
    .select({ id: registrationTokens.id })
    .from(registrationTokens)
    .where(lt(registrationTokens.expiresAt, cutoff))
    .limit(limit);
  const deleted = await db
    .delete(registrationTokens)
    .where(inArray(registrationTokens.id, expired))
    .returning({ id: registrationTokens.id });
  return deleted.length;
}
