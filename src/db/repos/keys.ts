// Org API keys. Only the SHA-256 of a secret is stored; a revoked key keeps its row (revoked_at set).
import { and, asc, count, eq, isNull, ne, or, sql } from "drizzle-orm";
import type { Tier } from "../../contract/tiers";
import { newId } from "../../lib/crypto";
import type { Db } from "../client";
import { apiKeys, orgs } from "../schema";
import { constantRow } from "./projects";

export type ApiKey = typeof apiKeys.$inferSelect;
export type KeyRole = ApiKey["role"];

export interface NewKey {
  name: string;
  role: KeyRole;
  keyHash: string;
  prefix: string;
  /** The key that creates it (none for an org's first key). */
  createdBy?: string | null;
}

/** GET /keys has no cursor; an org holds far fewer live keys than this. */
const MAX_KEYS_LISTED = 1000;

const liveIn = (orgId: string) => and(eq(apiKeys.orgId, orgId), isNull(apiKeys.revokedAt));

/** The row of a new key; orgs.ts inserts one with the org itself. */
export const newKeyRow = (orgId: string, k: NewKey, now = Date.now()): ApiKey => ({
  id: newId("key", now),
  orgId,
  ...k,
  createdBy: k.createdBy ?? null,
  createdAt: now,
  revokedAt: null,
});

export async function insertKey(db: Db, orgId: string, k: NewKey): Promise<ApiKey> {
  const row = newKeyRow(orgId, k);
  await db.insert(apiKeys).values(row);
  return row;
}

/**
 * Adds the key only while the org holds fewer than `max` live keys, in one statement, and
 * counts its live keys after it in the same batch.
 */
export async function insertKeyWithinLimit(
  db: Db,
  orgId: string,
  k: NewKey,
  max: number,
): Promise<{ created: ApiKey | undefined; used: number }> {
  const row = newKeyRow(orgId, k);
  const held = db.select({ n: count() }).from(apiKeys).where(liveIn(orgId));
  const [stored, [after]] = await db.batch([
    db
      .insert(apiKeys)
      .select((qb) =>
        qb
          .select(constantRow(apiKeys, row))
          .from(orgs)
          .where(and(eq(orgs.id, orgId), sql`(${held}) < ${max}`)),
      )
      .returning(),
    held,
  ]);
  return { created: stored[0], used: after!.n };
}

/** The key a bearer secret names, unless revoked, with its org's tier (for its rate limit): one read. */
export async function findLiveKeyByHash(db: Db, keyHash: string): Promise<(ApiKey & { tier: Tier }) | undefined> {
  const [row] = await db
    .select({ key: apiKeys, tier: orgs.tier })
    .from(apiKeys)
    .innerJoin(orgs, eq(orgs.id, apiKeys.orgId))
    .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)))
    .limit(1);
  return row && { ...row.key, tier: row.tier };
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
export async function revokeKeyUnlessLastAdmin(
  db: Db,
  orgId: string,
  keyId: string,
): Promise<"revoked" | "not_found" | "last_admin"> {
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
