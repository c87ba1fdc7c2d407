// R2 housekeeping, a bounded amount per message; a message that did its full share answers
// true and its follow-up continues. Hourly: multipart uploads with no part for a day are
// aborted, which gives their parts' bytes back to the storage quota. Daily: what a deleted
// project held (its files and archive) is deleted.
// (Archived lines past their tier's retention are deleted by each log shard, on its alarm.)
import { UPLOAD_IDLE_MS } from "../contract/artifacts";
import type { Db } from "../db/client";
import { deleteUpload, pendingPurges, purgeDone, staleUploads } from "../db/repos/uploads";

/** Uploads aborted by one message: one R2 call and one D1 batch (two statements) each. */
export const ABORTS_PER_MESSAGE = 25;
/** R2 calls (a list or a delete of up to a thousand keys) one purge message makes. */
export const PURGE_CALLS_PER_MESSAGE = 20;
/** Keys deleted a call, a thousand (R2's most). */
const DELETE_PAGE = 1000;

/** Aborts multipart uploads that had no part for UPLOAD_IDLE_MS, and forgets them and their parts. */
export async function abortStaleUploads(env: Env, db: Db, at: number): Promise<boolean> {
  const stale = await staleUploads(db, at - UPLOAD_IDLE_MS, ABORTS_PER_MESSAGE);
  for (const u of stale) {
    try {
      await env.STORAGE.resumeMultipartUpload(u.key, u.uploadId).abort();
    } catch (err) {
      // Already completed, aborted or expired on R2's side: nothing is left to abort.
      console.log(`upload ${u.uploadId} could not be aborted (${String(err)}); forgetting it`);
    }
    await deleteUpload(db, u.uploadId);
  }
  return stale.length === ABORTS_PER_MESSAGE;
}

/** Deletes what deleted projects left in R2, with at most PURGE_CALLS_PER_MESSAGE R2 calls. */
export async function purgeDeletedProjects(env: Env, db: Db): Promise<boolean> {
  let calls = 0;
  // Each prefix takes one list call at least, so no more can be finished than there are calls.
  const prefixes = await pendingPurges(db, PURGE_CALLS_PER_MESSAGE);
  for (const prefix of prefixes) {
    for (;;) {
      // A list and the delete it may need.
      if (calls + 2 > PURGE_CALLS_PER_MESSAGE) return true;
      const page = await env.STORAGE.list({ prefix, limit: DELETE_PAGE });
      calls++;
      if (page.objects.length === 0) {
        await purgeDone(db, prefix);
        break;
      }
      await env.STORAGE.delete(page.objects.map((o) => o.key));
      calls++;
    }
  }
  return prefixes.length === PURGE_CALLS_PER_MESSAGE;
}
