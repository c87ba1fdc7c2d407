// The per-project index of archived device-days (see schema.ts archive_days).
import { and, between, eq, inArray, lt } from "drizzle-orm";
import type { Tier } from "../../contract/tiers";
import type { Db } from "../client";
import { archiveDays, orgs, projects } from "../schema";

export async function indexArchiveDays(db: Db, projectId: string, deviceId: string, days: string[]): Promise<void> {
  if (days.length === 0) return;
  await db
    .insert(archiveDays)
    .values(days.map((day) => ({ projectId, deviceId, day })))
    .onConflictDoNothing();
}

/** Devices with archived lines on days in [fromDay, toDay]. */
export async function archivedDevices(db: Db, projectId: string, fromDay: string, toDay: string): Promise<string[]> {
  const rows = await db
    .selectDistinct({ deviceId: archiveDays.deviceId })
    .from(archiveDays)
    .where(and(eq(archiveDays.projectId, projectId), between(archiveDays.day, fromDay, toDay)));
  return rows.map((r) => r.deviceId);
}

/** Forgets the device-days of `tier`'s projects before `day`: their chunks are past the tier's retention. */
export async function forgetArchiveDays(db: Db, tier: Tier, before: string): Promise<void> {
  const ofTier = db.select({ id: projects.id }).from(projects).innerJoin(orgs, eq(orgs.id, projects.orgId)).where(eq(orgs.tier, tier));
  await db.delete(archiveDays).where(and(lt(archiveDays.day, before), inArray(archiveDays.projectId, ofTier)));
}
