// Orgs. An org is born with its first admin key, in one batch, so none exists without one.
import { eq } from "drizzle-orm";
import { newId } from "../../lib/crypto";
import type { Db } from "../client";
import { apiKeys, orgs } from "../schema";
import { type ApiKey, type NewKey, newKeyRow } from "./keys";

export type Org = typeof orgs.$inferSelect;
export type OrgTier = Org["tier"];

export async function createOrgWithAdminKey(
  db: Db,
  org: { name: string; tier: OrgTier },
  key: Omit<NewKey, "role">,
): Promise<{ org: Org; key: ApiKey }> {
  const now = Date.now();
  const orgRow: Org = { id: newId("org", now), ...org, createdAt: now };
  const keyRow = newKeyRow(orgRow.id, { ...key, role: "admin" }, now);
  await db.batch([db.insert(orgs).values(orgRow), db.insert(apiKeys).values(keyRow)]);
  return { org: orgRow, key: keyRow };
}

export async function findOrg(db: Db, orgId: string): Promise<Org | undefined> {
  return db.query.orgs.findFirst({ where: eq(orgs.id, orgId) });
}

/** The org after the change, or undefined if there is no such org. */
export async function updateOrg(
  db: Db,
  orgId: string,
  changes: { name?: string; tier?: OrgTier },
): Promise<Org | undefined> {
  const [org] = await db.update(orgs).set(changes).where(eq(orgs.id, orgId)).returning();
  return org;
}
