// How the jobs walk projects within one invocation's limits: a Worker invocation may make
// 10,000 subrequests (Workers Paid), and a job spends about 4 per project (an object call and
// a few D1 statements), so one run takes at most JOB_BUDGET projects, FAN_OUT at once. What
// it leaves, the next run continues: the daily and monthly jobs ask D1 which projects still
// lack their row, the hourly walks resume after the last project they reached. One project's
// failure is logged and left to the next run, never stopping the others.
import type { Db } from "../db/client";
import { type Project, listAllProjects } from "../db/repos/projects";
import { FAN_OUT, mapLimit } from "../lib/concurrency";

export const JOB_BUDGET = 2_000;

export async function forEachOf(projects: readonly Project[], work: (p: Project) => Promise<void>): Promise<void> {
  await mapLimit(projects, FAN_OUT, async (p) => {
    try {
      await work(p);
    } catch (err) {
      console.error(`job failed for project ${p.id}`, err);
    }
  });
}

/**
 * The next JOB_BUDGET projects after `afterId` (from the first again once past the last), for
 * jobs that visit every project in turn. Answers the id to continue after, next time.
 */
export async function nextProjects(db: Db, afterId: string | null, budget = JOB_BUDGET): Promise<{ projects: Project[]; next: string | null }> {
  const projects = await listAllProjects(db, { afterId: afterId ?? undefined, limit: budget });
  if (projects.length < budget && afterId !== null) {
    // Wrapped around: the rest from the start, up to the budget.
    projects.push(...(await listAllProjects(db, { limit: budget - projects.length })).filter((p) => p.id <= afterId));
  }
  return { projects, next: projects.length === 0 ? null : projects[projects.length - 1]!.id };
}
