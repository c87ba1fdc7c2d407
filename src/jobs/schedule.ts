// Cron Triggers land here; the cron string in wrangler.toml says which job runs.
import { createDb } from "../db/client";
import { deleteTokensExpiredBefore } from "../db/repos/tokens";

export const CRON = {
  hourly: "0 * * * *",
  daily: "5 0 * * *",
  monthly: "20 0 1 * *",
} as const;

/** Expired tokens are kept a while so reuse still answers 410/409 rather than 401. */
const TOKEN_KEEP_MS = 30 * 24 * 3600 * 1000;
/** Tokens deleted per statement; the job repeats until a chunk comes back short. */
const TOKENS_PER_DELETE = 500;

export async function runScheduled(cron: string, scheduledTime: number, env: Env): Promise<void> {
  switch (cron) {
    case CRON.hourly:
      await dropOldTokens(env, scheduledTime);
      return;
    default:
      // The daily snapshot and monthly close arrive with the usage-stats work.
      console.log(`no job for cron "${cron}" yet`);
  }
}

async function dropOldTokens(env: Env, now: number): Promise<void> {
  const db = createDb(env.DB);
  let deleted: number;
  do deleted = await deleteTokensExpiredBefore(db, now - TOKEN_KEEP_MS, TOKENS_PER_DELETE);
  while (deleted === TOKENS_PER_DELETE);
}
