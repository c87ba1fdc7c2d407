// Org API keys. Only the SHA-256 of a secret is stored; a revoked key keeps its row (revoked_at set).
import { and, asc, count, eq, isNull, ne, or, sql } from "drizzle-orm";
import type { Db } from "../client";
import { apiKeys } from "../schema";
import { newId } from "../../lib/crypto";

export type ApiKey = typeof apiKeys.$inferSelect;
export type KeyRole = ApiKey["role"];

export interface NewKey {
  name: string;
  role: KeyRole;
  keyHash: string;
  prefix: string;
}

/** GET /keys has no cursor; an org holds far fewer live keys than this. */
const MAX_KEYS_LISTED = 1000;

const liveIn = (orgId: string) => and(eq(apiKeys.orgId, orgId), isNull(apiKeys.revokedAt));

/** The row of a new key; orgs.ts inserts one with the org itself. */
export const newKeyRow = (orgId: string, k: NewKey, now = Date.now()): ApiKey => ({
  id: newId("key", now),
  orgId,
  ...k,
  createdAt: now,
  revokedAt: null,
});

export async function insertKey(db: Db, orgId: string, k: NewKey): Promise<ApiKey> {
  const row = newKeyRow(orgId, k);
  await db.insert(apiKeys).values(row);
  return row;
}

/** The key a bearer secret names, unless revoked. */
export async function findLiveKeyByHash(db: Db, keyHash: string): Promise<ApiKey | undefined> {
  return db.query.apiKeys.findFirst({ where: and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)) });
}

export async function findLiveKey(db: Db, orgId: string, keyId: string): Promise<ApiKey | undefined> {
  return db.query.apiKeys.findFirst({ where: and(eq(apiKeys.id, keyId), liveIn(orgId)) });
}

/** The org's live keys, oldest first. */
export async function listLiveKeys(db: Db, orgId: string): Promise<ApiKey[]> {
  return db.query.apiKeys.findMany({ where: liveIn(orgId), orderBy: asc(apiKeys.id), limit: MAX_KEYS_LISTED });
}

/**
 * Revokes a live key of the org. One statement, so two admins revoking each other at once
 * cannot both succeed: an admin key is revoked only while another live admin key remains.
 */
export async function revokeKeyUnlessLastAdmin(db: Db, orgId: string, keyId: string): Promise<"revoked" | "not_found" | "last_admin"> {
  const otherAdmins = db
    .select({ n: count() })
    .from(apiKeys)
    .where(and(liveIn(orgId), eq(apiKeys.role, "admin"), ne(apiKeys.id, keyId)));
  const revoked = await db
    .update(apiKeys)
    .set({ revokedAt: Date.now() })
    .where(and(eq(apiKeys.id, keyId), liveIn(orgId), or(ne(apiKeys.role, "admin"), sql`(${otherAdmins}) > 0`)))
    .returning({ id: apiKeys.id });
  if (revoked.length > 0) return "revoked";
  return (await findLiveKey(db, orgId, keyId)) ? "last_admin" : "not_found";
}

/** Live keys of the org, as the tier's api_keys limit counts them. */
export async function countLiveKeys(db: Db, orgId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(apiKeys).where(liveIn(orgId));
  return row!.n;
}

/** Removes a key row outright: only for a key just created and never handed out. */
export async function deleteKeyRow(db: Db, keyId: string): Promise<void> {
  await db.delete(apiKeys).where(eq(apiKeys.id, keyId));
}
