// The stats work of one queue message (src/jobs/messages.ts), for at most PROJECTS_PER_MESSAGE
// projects. Daily: one immutable daily_stats row per project for every finished UTC day not yet
// written (so a missed run is back-filled by the next). Monthly: one monthly_stats row per
// project for its last finished month, derived from daily_stats only, after making sure every
// day of that month has its row. Both can run again, or late, or twice at once, without
// changing a number already written: the project's object answers a closed day the same way
// every time, and a row's key makes a second write do nothing.
//
// What one message costs, at most (P projects, D = DAYS_PER_MESSAGE): P·D calls to project
// objects; in D1, two queries and ⌈P·D/5⌉ inserts for the days, and for the month one query and
// ⌈P/5⌉ inserts (consumer.ts sums a message). A project with more days to write than D
// continues in a follow-up message.
import { TIERS } from "../contract/tiers";
import type { Db } from "../db/client";
import { liveDeviceCounts } from "../db/repos/devices";
import type { ProjectWithTier } from "../db/repos/projects";
import {
  type DailyRow,
  dailyRowOf,
  daysOfProjects,
  insertDailyRows,
  insertMonthlyRows,
  lastDailyDates,
} from "../db/repos/stats";
import { mapLimit } from "../lib/concurrency";
import { addDays, DAY_MS, utcDay } from "../lib/time";
import { closeMonth } from "../services/month-close";
import { projectHub } from "../stubs/project-hub";
import { DAYS_PER_MESSAGE } from "./messages";

/** How far back a missed day is still written (older days have left the project's counters' reach). */
const BACKFILL_DAYS = 62;
/** Projects whose days are being closed at once. */
const IN_FLIGHT = 8;

export const lastDayOfMonth = (month: string) => {
  const [y, m] = month.split("-").map(Number);
  return utcDay(Date.UTC(y!, m!, 0));
};

/** The month before the one `day` is in, YYYY-MM. */
export function previousMonth(day: string): string {
  const [y, m] = day.split("-").map(Number);
  return utcDay(Date.UTC(y!, m! - 2, 1)).slice(0, 7);
}

/** What writing the days of some projects came to. */
export interface DaysWritten {
  /** Projects whose days are all written through the day asked. */
  done: ProjectWithTier[];
  /** Projects with days still to write after this message's share (a follow-up continues). */
  more: string[];
  /** Projects whose object failed to answer; their days are left for a retry. */
  failed: { id: string; error: unknown }[];
}

/** One day of one project as its object closes it, with `devices`, the live devices the job counted. */
async function closedDay(env: Env, p: ProjectWithTier, day: string, devices: number, at: number): Promise<DailyRow> {
  // The project's object prunes its sessions by the tier's archive retention as it closes the day.
  const usage = await projectHub(env, p.id).closeDay(day, TIERS[p.tier].archive_retention_days);
  return dailyRowOf({ projectId: p.id, orgId: p.orgId, date: day, createdAt: at }, usage, {
    storageBytes: usage.storage_bytes,
    devices,
    activeDevices: usage.active_devices,
  });
}

/**
 * Writes every finished day of the projects not yet written, oldest first, through `through`,
 * at most DAYS_PER_MESSAGE a project. Two D1 queries (their last days, their devices), then the rows five a statement.
 */
export async function writeMissingDays(
  env: Env,
  db: Db,
  projects: ProjectWithTier[],
  through: string,
  at: number,
): Promise<DaysWritten> {
  const ids = projects.map((p) => p.id);
  const last = await lastDailyDates(db, ids);
  const earliest = utcDay(at - BACKFILL_DAYS * DAY_MS);
  const firstOf = (p: ProjectWithTier) => {
    const written = last.get(p.id);
    if (written) return addDays(written, 1);
    const created = utcDay(p.createdAt);
    // biome-ignore lint/complexity/useMathMinMax: days as YYYY-MM-DD text, which Math.max cannot compare
    return created > earliest ? created : earliest;
  };
  const todo = projects.filter((p) => firstOf(p) <= through);
  const devices =
    todo.length > 0
      ? await liveDeviceCounts(
          db,
          todo.map((p) => p.id),
        )
      : new Map<string, number>();
  const result: DaysWritten = { done: projects.filter((p) => firstOf(p) > through), more: [], failed: [] };
  const rows = await mapLimit(todo, IN_FLIGHT, async (p) => {
    const days: DailyRow[] = [];
    let day = firstOf(p);
    try {
      // In order: closing a day closes every day before it.
      for (; day <= through && days.length < DAYS_PER_MESSAGE; day = addDays(day, 1))
        days.push(await closedDay(env, p, day, devices.get(p.id) ?? 0, at));
    } catch (error) {
      result.failed.push({ id: p.id, error });
      return [];
    }
    if (day <= through) result.more.push(p.id);
    else result.done.push(p);
    return days;
  });
  await insertDailyRows(db, rows.flat());
  return result;
}

/**
 * Closes the last finished month of the projects whose days of it are all written: sums of
 * their days, on the org's tier as it is now. One D1 query, then one statement per five months.
 */
export async function closeMonths(db: Db, projects: ProjectWithTier[], month: string, at: number): Promise<void> {
  if (projects.length === 0) return;
  const days = await daysOfProjects(
    db,
    projects.map((p) => p.id),
    `${month}-01`,
    lastDayOfMonth(month),
  );
  const rows = projects.map((p) =>
    closeMonth(
      { projectId: p.id, orgId: p.orgId },
      days.filter((d) => d.projectId === p.id),
      p.tier,
      month,
      at,
    ),
  );
  await insertMonthlyRows(db, rows);
}
