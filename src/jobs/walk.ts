// The walk over every project, a page per queue message: one D1 query lists the page (by id,
// after the last page's last id), one sendBatch enqueues its project messages, and one more
// enqueues the next page. So enqueueing stays within one invocation's limits at any fleet
// size, and a page that fails is retried alone, from its own cursor.
import type { Db } from "../db/client";
import { listProjectIds } from "../db/repos/projects";
import { projectsLacking } from "../db/repos/stats";
import { DAY_MS, utcDay } from "../lib/time";
import { type JobMessage, MESSAGES_PER_PAGE, PROJECTS_PER_MESSAGE } from "./messages";
import { lastDayOfMonth, previousMonth } from "./stats";

type Page = Extract<JobMessage, { type: "page" }>;

export const PAGE_PROJECTS = MESSAGES_PER_PAGE * PROJECTS_PER_MESSAGE;

/**
 * The projects of a page: for the daily work, every project (to prune) or only those still
 * without yesterday's row (to catch up); for the monthly, those without last month's row.
 */
function pageOf(db: Db, page: Page): Promise<string[]> {
  const today = utcDay(page.at);
  const cursor = { afterId: page.after, limit: PAGE_PROJECTS };
  if (page.work === "monthly") {
    const month = previousMonth(today);
    return projectsLacking(db, { month }, Date.parse(lastDayOfMonth(month)) + DAY_MS, cursor);
  }
  const startOfToday = Date.parse(today);
  return page.lacking
    ? projectsLacking(db, { date: utcDay(startOfToday - DAY_MS) }, startOfToday, cursor)
    : listProjectIds(db, { createdBefore: page.at, ...cursor });
}

/**
 * The messages a page sends: its projects' work, PROJECTS_PER_MESSAGE a message, and the next page if this
 * one was full.
 */
export async function walkPage(db: Db, page: Page): Promise<JobMessage[]> {
  const ids = await pageOf(db, page);
  const out: JobMessage[] = [];
  for (let i = 0; i < ids.length; i += PROJECTS_PER_MESSAGE)
    out.push({ type: page.work, at: page.at, projects: ids.slice(i, i + PROJECTS_PER_MESSAGE) });
  if (ids.length === PAGE_PROJECTS) out.push({ ...page, after: ids[ids.length - 1]! });
  return out;
}
