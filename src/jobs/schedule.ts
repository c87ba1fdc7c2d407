// Cron Triggers land here; the cron string in wrangler.toml says which job runs.
import { type Db, createDb } from "../db/client";
import { copyApiHours } from "./hourly";
import { writeDailyStats, writeMonthlyStats } from "./stats";
import { abortStaleUploads, forgetExpiredArchive, purgeDeletedProjects } from "./r2-cleanup";
import { deleteTokensExpiredBefore } from "../db/repos/tokens";
import { deleteDownloadTicketsBefore } from "../db/repos/download-tickets";
import { DAY_MS } from "../lib/time";

export const CRON = {
  hourly: "0 * * * *",
  daily: "5 0 * * *",
  monthly: "20 0 1 * *",
} as const;

/** Expired tokens are kept a while so reuse still answers 410/409 rather than 401. */
const TOKEN_KEEP_MS = 30 * 24 * 3600 * 1000;
/** Tokens deleted per statement; the job repeats until a chunk comes back short. */
const TOKENS_PER_DELETE = 500;

/**
 * Runs the job of a cron string at `scheduledTime`, the moment the trigger was due (tests
 * pass their own). The hourly run also continues what a daily or monthly run left (each takes
 * at most JOB_BUDGET projects; see each-project.ts).
 */
export async function runScheduled(cron: string, scheduledTime: number, env: Env): Promise<void> {
  const db = createDb(env.DB);
  switch (cron) {
    case CRON.hourly:
      await dropOldTokens(db, scheduledTime);
      await abortStaleUploads(env, db, scheduledTime);
      await copyApiHours(env, db, scheduledTime);
      await writeDailyStats(env, db, scheduledTime);
      await writeMonthlyStats(env, db, scheduledTime);
      return;
    case CRON.daily:
      await writeDailyStats(env, db, scheduledTime);
      await forgetExpiredArchive(db, scheduledTime);
      await deleteDownloadTicketsBefore(db, scheduledTime - DAY_MS);
      await purgeDeletedProjects(env, db);
      return;
    case CRON.monthly:
      await writeMonthlyStats(env, db, scheduledTime);
      return;
    default:
      console.log(`no job for cron "${cron}"`);
  }
}

async function dropOldTokens(db: Db, now: number): Promise<void> {
  let deleted: number;
  do deleted = await deleteTokensExpiredBefore(db, now - TOKEN_KEEP_MS, TOKENS_PER_DELETE);
  while (deleted === TOKENS_PER_DELETE);
}
