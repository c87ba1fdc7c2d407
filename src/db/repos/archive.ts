// The per-project index of archived device-days (see schema.ts archive_days).
import { and, between, eq, inArray, lt, sql } from "drizzle-orm";
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

/**
 * Forgets at most `limit` device-days of the projects before `before` (their chunks are past
 * the tier's retention), and answers how many went: the caller comes back while `limit` went.
 */
export async function forgetArchiveDays(db: Db, projectIds: string[], before: string, limit: number): Promise<number> {
  if (projectIds.length === 0) return 0;
  const doomed = db
    .select({ rowid: sql`rowid` })
    .from(archiveDays)
    .where(and(inArray(archiveDays.projectId, projectIds), lt(archiveDays.day, before)))
    .limit(limit);
  const result = await db.delete(archiveDays).where(inArray(sql`rowid`, doomed));
  return result.meta.changes;
}
