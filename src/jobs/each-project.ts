// How the jobs walk every project: a page of D1 rows at a time, FAN_OUT projects at once, and
// one project's failure logged and left to the next run, never stopping the others.
import type { Db } from "../db/client";
import { type Project, listAllProjects } from "../db/repos/projects";
import { FAN_OUT, mapLimit } from "../lib/concurrency";

/** Projects read from D1 per page. */
const PAGE = 200;

/** Runs `work` for every project, a page at a time, FAN_OUT at once. */
export async function forEachProject(db: Db, work: (p: Project) => Promise<void>): Promise<void> {
  let afterId: string | undefined;
  for (;;) {
    const page = await listAllProjects(db, { afterId, limit: PAGE });
    await mapLimit(page, FAN_OUT, async (p) => {
      try {
        await work(p);
      } catch (err) {
        // One project's failure must not stop the others; the next run picks it up.
        console.error(`job failed for project ${p.id}`, err);
      }
    });
    if (page.length < PAGE) return;
    afterId = page[page.length - 1]!.id;
  }
}

