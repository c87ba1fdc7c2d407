// Running the jobs in a test: the cron handler's messages are taken into a queue held here, and
// handed to the Worker's own queue handler in batches of wrangler.toml's max_batch_size, as
// Cloudflare Queues would (workers-sdk's queue-consumer-unit example builds its batches the
// same way, with createMessageBatch and getQueueResult). A retried message comes back with
// one more attempt, up to max_retries, then lands in `dead` (the dead-letter queue). Follow-ups
// the messages enqueue are run too, until nothing is left. So a test sees a cron run's whole
// work done when `runJobs` returns, with nothing left running behind it.
import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index";
import type { JobMessage } from "../../src/jobs/messages";

const QUEUE = "fleetbeat-jobs";

interface Held {
  id: string;
  body: JobMessage;
  attempts: number;
}

/** A queue kept in the test: what was sent, in order, not yet handed to the consumer. */
export class HeldQueue implements Queue<JobMessage> {
  readonly waiting: Held[] = [];
  readonly dead: Held[] = [];
  /** sendBatch calls, and messages the consumer asked to retry. */
  sends = 0;
  retries = 0;

  async send(body: JobMessage): Promise<QueueSendResponse> {
    return this.sendBatch([{ body }]);
  }

  async sendBatch(messages: Iterable<MessageSendRequest<JobMessage>>): Promise<QueueSendBatchResponse> {
    this.sends++;
    for (const m of messages)
      this.waiting.push({ id: crypto.randomUUID(), body: structuredClone(m.body), attempts: 1 });
    return {} as QueueSendBatchResponse;
  }

  async metrics(): Promise<QueueMetrics> {
    return { backlogCount: this.waiting.length, backlogBytes: 0 };
  }

  /** The bodies waiting, and forgets them. */
  takeAll(): JobMessage[] {
    return this.waiting.splice(0).map((m) => m.body);
  }
}

export type JobsEnv = Env & { JOBS: HeldQueue };

/** The env with a held queue in place of the real one (and whatever else `over` replaces). */
export function jobsEnv(over: Partial<Env> = {}): JobsEnv {
  return { ...env, ...over, JOBS: new HeldQueue() } as JobsEnv;
}

/** One consumer invocation on the next max_batch_size messages waiting; retried ones go back (or to `dead`). */
export async function consumeOnce(e: JobsEnv): Promise<{ acked: number; retried: number }> {
  const queue = e.JOBS;
  const taken = queue.waiting.splice(0, env.JOBS_CONSUMER.max_batch_size);
  const batch = createMessageBatch<JobMessage>(
    QUEUE,
    taken.map((m) => ({ id: m.id, timestamp: Date.now(), attempts: m.attempts, body: m.body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, e);
  const result = await getQueueResult(batch, ctx);
  const retried = new Set(result.retryMessages.map((r) => r.msgId));
  queue.retries += retried.size;
  for (const m of taken) {
    if (!retried.has(m.id)) continue;
    // Cloudflare gives a message max_retries retries after its first delivery.
    if (m.attempts > env.JOBS_CONSUMER.max_retries) queue.dead.push(m);
    else queue.waiting.push({ ...m, attempts: m.attempts + 1 });
  }
  return { acked: taken.length - retried.size, retried: retried.size };
}

/** Consumes until nothing is waiting. */
export async function drain(e: JobsEnv): Promise<void> {
  while (e.JOBS.waiting.length > 0) await consumeOnce(e);
}

/** The cron run of `cron` due at `at`, through the Worker's scheduled handler, with all its work done. */
export async function runJobs(cron: string, at: number, e: JobsEnv = jobsEnv()): Promise<JobsEnv> {
  await worker.scheduled(createScheduledController({ cron, scheduledTime: at }), e);
  await drain(e);
  return e;
}
