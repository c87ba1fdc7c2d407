// Cron Triggers land here, and only enqueue: the cron string in wrangler.toml says which
// messages go on the jobs queue; the queue's consumer (consumer.ts) does the work, a bounded
// amount per message, with retries. Enqueueing is a handful of messages whatever the fleet's
// size: the project walk is itself a message that enqueues the next page (walk.ts).
import { enqueue, type JobMessage, type JobQueue } from "./messages";

export const CRON = {
  hourly: "0 * * * *",
  daily: "5 0 * * *",
  monthly: "20 0 1 * *",
} as const;

/**
 * A trigger without a cron string: wrangler dev's banner suggests `/cdn-cgi/local/scheduled`,
 * which sends "". It runs every job at once, as if each cron had just fired: each job only does
 * what is past its time (finished days and months still unwritten, expired tokens and tickets,
 * stale uploads, deleted projects' files), and written rows never change, so this is safe at
 * any hour.
 */
const BARE = "";

/**
 * The messages of a cron run due at `at`. The hourly run also enqueues the projects still
 * lacking yesterday's or last month's row: a day or month that a daily or monthly run left
 * unwritten (a message that went to the dead-letter queue) is written within the hour.
 */
function scheduledMessages(cron: string, at: number): JobMessage[] {
  switch (cron) {
    case CRON.hourly:
      return [
        { type: "tokens", at },
        { type: "uploads", at },
        { type: "page", work: "daily", at, lacking: true, after: null },
        { type: "page", work: "monthly", at, lacking: true, after: null },
      ];
    case CRON.daily:
      return [
        { type: "page", work: "daily", at, lacking: false, after: null },
        { type: "tickets", at },
        { type: "purges", at },
      ];
    case CRON.monthly:
      return [{ type: "page", work: "monthly", at, lacking: true, after: null }];
    case BARE:
      // The daily walk of every project covers the hourly's catch-up of days (and prunes); the
      // hourly's monthly walk is the monthly run's own.
      return [
        { type: "tokens", at },
        { type: "uploads", at },
        { type: "page", work: "daily", at, lacking: false, after: null },
        { type: "page", work: "monthly", at, lacking: true, after: null },
        { type: "tickets", at },
        { type: "purges", at },
      ];
    default:
      console.log(`no job for cron "${cron}"`);
      return [];
  }
}

/** The scheduled handler: enqueues the run's messages (one sendBatch). */
export async function runScheduled(cron: string, at: number, queue: JobQueue): Promise<void> {
  await enqueue(queue, scheduledMessages(cron, at));
}
