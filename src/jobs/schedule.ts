// Cron Triggers land here; the cron string in wrangler.toml says which job runs.
import { lt } from "drizzle-orm";
import { createDb } from "../db/client";
import { registrationTokens } from "../db/schema";

export const CRON = {
  hourly: "0 * * * *",
  daily: "5 0 * * *",
  monthly: "20 0 1 * *",
} as const;

/** Expired tokens are kept a while so reuse still answers 410/409 rather than 401. */
const TOKEN_KEEP_MS = 30 * 24 * 3600 * 1000;

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
  await createDb(env.DB).delete(registrationTokens).where(lt(registrationTokens.expiresAt, now - TOKEN_KEEP_MS));
}
