// R2 housekeeping. Hourly: multipart uploads with no part for a day are aborted, which gives
// their parts' bytes back to the storage quota. Daily: what a deleted project held (its files
// and archive) is deleted, a bounded amount per run; whatever is left, the next run continues.
// (Archived lines past their tier's retention are deleted by each log shard, on its alarm.)
import { UPLOAD_IDLE_MS } from "../contract/artifacts";
import type { Db } from "../db/client";
import { deleteUpload, pendingPurges, purgeDone, staleUploads } from "../db/repos/uploads";

/** Uploads aborted per run. */
const ABORTS_MAX = 500;
/** Keys deleted per run, a thousand per call (R2's most). */
const DELETE_PAGE = 1000;
const DELETES_MAX = 50_000;

/** Aborts multipart uploads that had no part for UPLOAD_IDLE_MS, and forgets them and their parts. */
export async function abortStaleUploads(env: Env, db: Db, now: number): Promise<number> {
  const stale = await staleUploads(db, now - UPLOAD_IDLE_MS, ABORTS_MAX);
  for (const u of stale) {
    try {
      await env.STORAGE.resumeMultipartUpload(u.key, u.uploadId).abort();
    } catch (err) {
      // Already completed, aborted or expired on R2's side: nothing is left to abort.
      console.log(`upload ${u.uploadId} could not be aborted (${String(err)}); forgetting it`);
    }
    await deleteUpload(db, u.uploadId);
  }
  return stale.length;
}

/** Deletes what deleted projects left in R2, up to DELETES_MAX keys a run. */
export async function purgeDeletedProjects(env: Env, db: Db): Promise<number> {
  let deleted = 0;
  for (const prefix of await pendingPurges(db, 100)) {
    for (;;) {
      if (deleted >= DELETES_MAX) return deleted;
      const page = await env.STORAGE.list({ prefix, limit: DELETE_PAGE });
      if (page.objects.length === 0) {
        await purgeDone(db, prefix);
        break;
      }
      await env.STORAGE.delete(page.objects.map((o) => o.key));
      deleted += page.objects.length;
    }
  }
  return deleted;
}
