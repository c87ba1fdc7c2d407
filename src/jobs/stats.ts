// The stats jobs. Daily: one immutable daily_stats row per project for every finished UTC day
// not yet written (so a missed run is back-filled by the next). Monthly: one monthly_stats
// row per project for every finished month, derived from daily_stats only, after making sure
// every day of that month has its row. Both walk the projects a page at a time with bounded
// concurrency, at most JOB_BUDGET projects a run (the next run continues), and both can be run
// again, or late, without changing a number already written.
import { countLiveDevices } from "../db/repos/devices";
import { findOrg } from "../db/repos/orgs";
import type { Project } from "../db/repos/projects";
import { insertDailyStats, insertMonthlyStats, lastDailyDate, projectDays, projectsLacking } from "../db/repos/stats";
import type { Db } from "../db/client";
import { DAY_MS, addDays, utcDay } from "../lib/time";
import { projectHub } from "../stubs/project-hub";
import { JOB_BUDGET, forEachOf } from "./each-project";
import { closeMonth } from "./month-close";

/** How far back a missed day is still written (older days have left the project's counters' reach). */
const BACKFILL_DAYS = 62;

const lastDayOfMonth = (month: string) => {
  const [y, m] = month.split("-").map(Number);
  return utcDay(Date.UTC(y!, m!, 0));
};

/**
 * Writes one day of one project: closes the day in its ProjectHub and stores the answer, with
 * `devices`, the project's live devices as the job counted them once for all its days.
 */
async function writeDay(env: Env, db: Db, p: Project, day: string, devices: number, now: number): Promise<void> {
  const usage = await projectHub(env, p.id).closeDay(day);
  await insertDailyStats(db, {
    projectId: p.id,
    orgId: p.orgId,
    date: day,
    logs: usage.logs,
    logBytes: usage.log_bytes,
    sessions: usage.sessions,
    heartbeats: usage.heartbeats,
    deviceMessagesIn: usage.device_messages_in,
    deviceMessagesOut: usage.device_messages_out,
    apiCalls: usage.api_calls,
    commands: usage.commands,
    artifactBytes: usage.artifact_bytes,
    errorLines: usage.error_lines,
    storageBytes: usage.storage_bytes,
    devices,
    activeDevices: usage.active_devices,
    createdAt: now,
  });
}

/** Every finished day of the project not yet written, oldest first, up to `through`. */
async function writeMissingDays(env: Env, db: Db, p: Project, through: string, now: number): Promise<void> {
  const created = utcDay(p.createdAt);
  const earliest = utcDay(now - BACKFILL_DAYS * DAY_MS);
  const last = await lastDailyDate(db, p.id);
  let day = last ? addDays(last, 1) : created > earliest ? created : earliest;
  if (day > through) return;
  const devices = await countLiveDevices(db, p.id);
  for (; day <= through; day = addDays(day, 1)) await writeDay(env, db, p, day, devices, now);
}

/**
 * The daily job (and the hourly catch-up): for the projects still missing yesterday's row,
 * every finished day not yet written. At most JOB_BUDGET projects a run; the next run continues.
 */
export async function writeDailyStats(env: Env, db: Db, now: number, budget = JOB_BUDGET): Promise<void> {
  const yesterday = utcDay(now - DAY_MS);
  const todo = await projectsLacking(db, { date: yesterday }, Date.parse(yesterday) + DAY_MS, budget);
  await forEachOf(todo, (p) => writeMissingDays(env, db, p, yesterday, now));
}

/**
 * The monthly job (and the hourly catch-up): every project's last finished month, once all
 * its days are written. At most JOB_BUDGET projects a run; the next run continues.
 */
export async function writeMonthlyStats(env: Env, db: Db, now: number): Promise<void> {
  const month = previousMonth(utcDay(now));
  const todo = await projectsLacking(db, { month }, Date.parse(lastDayOfMonth(month)) + DAY_MS, JOB_BUDGET);
  await forEachOf(todo, async (p) => {
    // A daily run still fanning out must never leave the month closed on partial days.
    await writeMissingDays(env, db, p, lastDayOfMonth(month), now);
    const days = await projectDays(db, p.id, `${month}-01`, lastDayOfMonth(month));
    const tier = (await findOrg(db, p.orgId))?.tier ?? "free";
    await insertMonthlyStats(db, closeMonth({ projectId: p.id, orgId: p.orgId }, days, tier, month, now));
  });
}

/** The month before the one `day` is in, YYYY-MM. */
function previousMonth(day: string): string {
  const [y, m] = day.split("-").map(Number);
  return utcDay(Date.UTC(y!, m! - 2, 1)).slice(0, 7);
}
