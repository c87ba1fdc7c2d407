// Multipart uploads under way and their parts (see schema.ts), and the R2 prefixes of deleted projects.
import { and, count, eq, lt, ne, not, sql } from "drizzle-orm";
import type { Db } from "../client";
import { projects, r2Purges, uploadParts, uploads } from "../schema";

export type UploadRecord = typeof uploads.$inferSelect;

export async function insertUpload(db: Db, u: UploadRecord): Promise<void> {
  await db.insert(uploads).values(u);
}

/** How many multipart uploads the device has open. */
export async function countOpenUploads(db: Db, deviceId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(uploads).where(eq(uploads.deviceId, deviceId));
  return row?.n ?? 0;
}

/** The upload `uploadId`, if it is this device's, for this session and path. */
export async function findUpload(
  db: Db,
  uploadId: string,
  deviceId: string,
  sessionId: string,
  path: string,
): Promise<UploadRecord | undefined> {
  const [row] = await db
    .select()
    .from(uploads)
    .where(
      and(
        eq(uploads.uploadId, uploadId),
        eq(uploads.deviceId, deviceId),
        eq(uploads.sessionId, sessionId),
        eq(uploads.path, path),
      ),
    )
    .limit(1);
  return row;
}

/** A part R2 took: its size (replacing an earlier copy of the same number), and the upload is active now. */
export async function recordPart(
  db: Db,
  p: { uploadId: string; partNumber: number; size: number; at: number },
): Promise<void> {
  await db.batch([
    db
      .insert(uploadParts)
      .values({ uploadId: p.uploadId, partNumber: p.partNumber, size: p.size })
      .onConflictDoUpdate({ target: [uploadParts.uploadId, uploadParts.partNumber], set: { size: p.size } }),
    db.update(uploads).set({ activeAt: p.at }).where(eq(uploads.uploadId, p.uploadId)),
  ]);
}

/** The size of each part R2 holds for the upload, by part number. */
export async function partSizes(db: Db, uploadId: string): Promise<Map<number, number>> {
  const rows = await db
    .select({ n: uploadParts.partNumber, size: uploadParts.size })
    .from(uploadParts)
    .where(eq(uploadParts.uploadId, uploadId));
  return new Map(rows.map((r) => [r.n, r.size]));
}

/**
 * The bytes R2 holds in parts of the org's uploads under way, leaving out one upload (all its
 * parts) or one part of it (a part about to be sent again).
 */
export async function pendingBytes(
  db: Db,
  orgId: string,
  except?: { uploadId: string; partNumber?: number },
): Promise<number> {
  const left =
    except === undefined
      ? undefined
      : except.partNumber === undefined
        ? ne(uploadParts.uploadId, except.uploadId)
        : not(and(eq(uploadParts.uploadId, except.uploadId), eq(uploadParts.partNumber, except.partNumber))!);
  const [row] = await db
    .select({ bytes: sql<number>`coalesce(sum(${uploadParts.size}), 0)` })
    .from(uploadParts)
    .innerJoin(uploads, eq(uploads.uploadId, uploadParts.uploadId))
    .innerJoin(projects, eq(projects.id, uploads.projectId))
    .where(and(eq(projects.orgId, orgId), left));
  return Number(row?.bytes ?? 0);
}

/** Forgets a completed or aborted upload and its parts. */
export async function deleteUpload(db: Db, uploadId: string): Promise<void> {
  await db.batch([
    db.delete(uploadParts).where(eq(uploadParts.uploadId, uploadId)),
    db.delete(uploads).where(eq(uploads.uploadId, uploadId)),
  ]);
}

/** Uploads with no part (nor start) since `before`, the longest idle first. */
export async function staleUploads(db: Db, before: number, limit: number): Promise<UploadRecord[]> {
  return db.select().from(uploads).where(lt(uploads.activeAt, before)).orderBy(uploads.activeAt).limit(limit);
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
  return (await db.select({ prefix: r2Purges.prefix }).from(r2Purges).orderBy(r2Purges.createdAt).limit(limit)).map(
    (r) => r.prefix,
  );
}

export async function purgeDone(db: Db, prefix: string): Promise<void> {
  await db.delete(r2Purges).where(eq(r2Purges.prefix, prefix));
}
