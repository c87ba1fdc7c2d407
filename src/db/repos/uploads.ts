// Multipart uploads under way (see schema.ts), and the R2 prefixes of deleted projects.
import { and, eq, lt } from "drizzle-orm";
import type { Db } from "../client";
import { r2Purges, uploads } from "../schema";

export type UploadRecord = typeof uploads.$inferSelect;

export async function insertUpload(db: Db, u: UploadRecord): Promise<void> {
  await db.insert(uploads).values(u);
}

/** The upload `uploadId`, if it is this device's, for this session and path. */
export async function findUpload(db: Db, uploadId: string, deviceId: string, sessionId: string, path: string): Promise<UploadRecord | undefined> {
  const [row] = await db
    .select()
    .from(uploads)
    .where(and(eq(uploads.uploadId, uploadId), eq(uploads.deviceId, deviceId), eq(uploads.sessionId, sessionId), eq(uploads.path, path)))
    .limit(1);
  return row;
}

export async function deleteUpload(db: Db, uploadId: string): Promise<void> {
  await db.delete(uploads).where(eq(uploads.uploadId, uploadId));
}

/** Uploads started before `before` and never completed, oldest first. */
export async function staleUploads(db: Db, before: number, limit: number): Promise<UploadRecord[]> {
  return db.select().from(uploads).where(lt(uploads.createdAt, before)).orderBy(uploads.createdAt).limit(limit);
}

/** Marks R2 prefixes to be emptied by the daily job (a deleted project's). */
export async function addPurges(db: Db, prefixes: string[], now: number): Promise<void> {
  if (prefixes.length === 0) return;
  await db
    .insert(r2Purges)
    .values(prefixes.map((prefix) => ({ prefix, createdAt: now })))
    .onConflictDoNothing();
}

export async function pendingPurges(db: Db, limit: number): Promise<string[]> {
  return (await db.select({ prefix: r2Purges.prefix }).from(r2Purges).orderBy(r2Purges.createdAt).limit(limit)).map((r) => r.prefix);
}

export async function purgeDone(db: Db, prefix: string): Promise<void> {
  await db.delete(r2Purges).where(eq(r2Purges.prefix, prefix));
}
