// What travels on the jobs queue (wrangler.toml `fleetbeat-jobs`): the cron trigger enqueues,
// the consumer does the work, one message at a time (src/jobs/consumer.ts). Every message
// names the moment its cron run was due (`at`), so a retry or a late delivery does the same
// work as the first try would have. A message whose work is not finished sends its follow-up
// before it is acknowledged, so nothing is left behind however large the fleet.
import { z } from "zod";

/** Projects one message carries: each costs up to DAYS_PER_MESSAGE object calls and D1 rows. */
export const PROJECTS_PER_MESSAGE = 25;
/** Days written for one project by one message; a longer back-fill continues in a follow-up. */
export const DAYS_PER_MESSAGE = 4;
/** Project messages one page message enqueues (one sendBatch: Queues takes at most 100). */
export const MESSAGES_PER_PAGE = 100;

const at = z.number().int().nonnegative();
const projects = z.array(z.string().min(1)).min(1).max(PROJECTS_PER_MESSAGE);

export const JobMessage = z.discriminatedUnion("type", [
  /**
   * A page of the project walk: lists the next MESSAGES_PER_PAGE × PROJECTS_PER_MESSAGE projects
   * after `after` (all of them, or only those still lacking the row), enqueues their work, and
   * then itself for the next page.
   */
  z.object({
    type: z.literal("page"),
    work: z.enum(["daily", "monthly"]),
    at,
    lacking: z.boolean(),
    after: z.string().nullable(),
  }),
  /** Each project's finished days not yet written (up to yesterday), then its pruning by the tier's retention. */
  z.object({ type: z.literal("daily"), at, projects }),
  /** Each project's last finished month, once every day of it is written. */
  z.object({ type: z.literal("monthly"), at, projects }),
  /** Registration tokens long expired. */
  z.object({ type: z.literal("tokens"), at }),
  /** Download links expired a day ago. */
  z.object({ type: z.literal("tickets"), at }),
  /** Multipart uploads with no part for a day. */
  z.object({ type: z.literal("uploads"), at }),
  /** Devices D1 still shows online well past their deadline, by id after `after`. */
  /** What deleted projects left in R2. */
  z.object({ type: z.literal("purges"), at }),
]);
export type JobMessage = z.output<typeof JobMessage>;
export type ProjectJob = Extract<JobMessage, { type: "daily" | "monthly" }>;

/** Where messages go: the JOBS binding (a test may hand its own). */
export type JobQueue = Pick<Queue<JobMessage>, "sendBatch">;

/** Sends `messages`, at most 100 a call (Queues' sendBatch limit). */
export async function enqueue(queue: JobQueue, messages: readonly JobMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 100)
    await queue.sendBatch(messages.slice(i, i + 100).map((body) => ({ body })));
}
