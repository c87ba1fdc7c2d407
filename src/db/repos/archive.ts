// The per-project index of archived device-days (see schema.ts archive_days).
import { and, between, eq, lt } from "drizzle-orm";
import type { Db } from "../client";
import { archiveDays } from "../schema";

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

/** Forgets a project's device-days before `day` (their chunks are gone). */
export async function forgetArchiveDays(db: Db, projectId: string, before: string): Promise<void> {
  await db.delete(archiveDays).where(and(eq(archiveDays.projectId, projectId), lt(archiveDays.day, before)));
}
