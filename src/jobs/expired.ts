// Rows kept past their use and then deleted, a bounded number per message: registration tokens
// long expired (hourly), download links a day after they expired (daily). A message that
// deleted its full share answers true, and its follow-up continues.
import type { Db } from "../db/client";
import { deleteDownloadTicketsBefore } from "../db/repos/download-tickets";
import { deleteTokensExpiredBefore } from "../db/repos/tokens";
import { DAY_MS } from "../lib/time";

/** Expired tokens are kept a while so reuse still answers 410/409 rather than 401. */
const TOKEN_KEEP_MS = 30 * DAY_MS;
/** Rows one statement deletes, and statements one message makes. */
const ROWS_PER_DELETE = 500;
export const DELETES_PER_MESSAGE = 20;

/** Repeats `deleteChunk` while chunks come back full, at most DELETES_PER_MESSAGE times; true when more may be left. */
async function deleteInChunks(deleteChunk: (limit: number) => Promise<number>): Promise<boolean> {
  for (let i = 0; i < DELETES_PER_MESSAGE; i++)
    if ((await deleteChunk(ROWS_PER_DELETE)) < ROWS_PER_DELETE) return false;
  return true;
}

export const dropOldTokens = (db: Db, at: number) =>
  deleteInChunks((limit) => deleteTokensExpiredBefore(db, at - TOKEN_KEEP_MS, limit));

export const dropOldTickets = (db: Db, at: number) =>
  deleteInChunks((limit) => deleteDownloadTicketsBefore(db, at - DAY_MS, limit));
