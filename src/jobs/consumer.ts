// The jobs queue's consumer: each message's work (messages.ts), its follow-ups enqueued before
// it is acknowledged, and a retry when it fails (wrangler.toml: max_retries, then the
// dead-letter queue; the hourly run enqueues again whatever day or month is still unwritten).
// A project message whose objects fail for some projects but not all sends those projects on in
// a message of their own, so one broken project never holds its neighbours back, and ends
// alone in the dead-letter queue.
//
// One invocation's worst case, with P = PROJECTS_PER_MESSAGE (25), D = DAYS_PER_MESSAGE (4) and
// B = max_batch_size (5). D1 queries count each statement of a batch; "calls" are everything
// else the Worker asks another service: object RPCs, R2 operations, queue sends.
//
//   message   D1 queries                                   calls
//   page      1                                            2 sendBatch (100 messages + the next page)
//   daily     3 + ⌈P·D/5⌉ inserts + 3 tiers · 2 prune = 29  P·D closeDay + 1 sendBatch = 101
//   monthly   3 + ⌈P·D/5⌉ + 1 + ⌈P/5⌉ = 29                  P·D closeDay + 1 sendBatch = 101
//   tokens    20 (DELETES_PER_MESSAGE)                     1 sendBatch
//   tickets   20                                           1 sendBatch
//   uploads   1 + 2 · 25 (ABORTS_PER_MESSAGE) = 51         2 · 25 R2 (resume, abort) + 1 = 51
//   purges    1 + 20 = 21                                  20 R2 (PURGE_CALLS_PER_MESSAGE) + 1 = 21
//
// So a message makes at most 51 D1 queries and 130 subrequests of any kind (D1 included), and
// an invocation of B messages at most 255 and 650: within 1,000 of each whatever the fleet's
// size, since no line above grows with it. test/integration/jobs-bounds.test.ts counts them.
import { createDb, type Db } from "../db/client";
import { projectsWithTier } from "../db/repos/projects";
import { addDays, utcDay } from "../lib/time";
import { dropOldTickets, dropOldTokens } from "./expired";
import { enqueue, JobMessage, type ProjectJob } from "./messages";
import { pruneProjects } from "./prune";
import { abortStaleUploads, purgeDeletedProjects } from "./r2-cleanup";
import { closeMonths, lastDayOfMonth, previousMonth, writeMissingDays } from "./stats";
import { walkPage } from "./walk";

/** A project message: its projects' days (then pruning, or the month's close); answers its follow-ups. */
async function projectWork(env: Env, db: Db, job: ProjectJob): Promise<JobMessage[]> {
  // Projects deleted since they were enqueued drop out here: nothing is written for them.
  const projects = await projectsWithTier(db, job.projects);
  const today = utcDay(job.at);
  const month = previousMonth(today);
  const through = job.type === "daily" ? addDays(today, -1) : lastDayOfMonth(month);
  const days = await writeMissingDays(env, db, projects, through, job.at);
  if (days.failed.length > 0 && days.failed.length === projects.length) {
    throw new AggregateError(
      days.failed.map((f) => f.error),
      `the objects of ${days.failed.length} projects failed`,
    );
  }
  const more = new Set(days.more);
  if (job.type === "daily") for (const id of await pruneProjects(db, projects, job.at)) more.add(id);
  else await closeMonths(db, days.done, month, job.at);
  for (const f of days.failed)
    console.error(`the ${job.type} work of project ${f.id} failed; it goes on in a message of its own`, f.error);
  const failed = new Set(days.failed.map((f) => f.id));
  // In the message's own order, each set a message.
  return [more, failed].flatMap((ids) =>
    ids.size > 0 ? [{ type: job.type, at: job.at, projects: job.projects.filter((id) => ids.has(id)) }] : [],
  );
}

/** Does one message's work; answers the messages that continue it. */
async function runJob(env: Env, db: Db, job: JobMessage): Promise<JobMessage[]> {
  const again = (more: boolean) => (more ? [job] : []);
  switch (job.type) {
    case "page":
      return walkPage(db, job);
    case "daily":
    case "monthly":
      return projectWork(env, db, job);
    case "tokens":
      return again(await dropOldTokens(db, job.at));
    case "tickets":
      return again(await dropOldTickets(db, job.at));
    case "uploads":
      return again(await abortStaleUploads(env, db, job.at));
    case "purges":
      return again(await purgeDeletedProjects(env, db));
  }
}

/** The queue handler: each message in turn; acknowledged once its follow-ups are enqueued, else retried. */
export async function consumeJobs(batch: MessageBatch, env: Env): Promise<void> {
  const db = createDb(env.DB);
  for (const message of batch.messages) {
    const parsed = JobMessage.safeParse(message.body).data;
    if (!parsed) {
      // A retry cannot make it valid.
      console.error("dropping a jobs message that is not one", message.body);
      message.ack();
      continue;
    }
    try {
      await enqueue(env.JOBS, await runJob(env, db, parsed));
      message.ack();
    } catch (err) {
      console.error(`the ${parsed.type} job failed (attempt ${message.attempts}); it is retried`, err);
      message.retry();
    }
  }
}
