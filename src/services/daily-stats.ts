// GET /stats/daily and /stats/monthly: the days and months the jobs wrote to D1 (final, never
// changed again), and with `include_today` the day and month still open, from the projects'
// live exact counters (what the daily job will read when it closes them), marked `final: false`.
// Reading them writes nothing: the open day is not closed by being read.
import type { Db } from "../db/client";
import { liveDeviceCounts } from "../db/repos/devices";
import { findOrg } from "../db/repos/orgs";
import {
  type DailyRow,
  dailyRowOf,
  dailyStatsOf,
  daysOfProjects,
  monthlyStatsOf,
  type StatsScope,
} from "../db/repos/stats";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { DAY_MS, utcDay } from "../lib/time";
import { projectHub } from "../stubs/project-hub";
import { freshCounts } from "./fresh-counts";
import { closeMonth, DAY_COUNTERS } from "./month-close";
import { projectIdsOf } from "./stats-scope";
import { presentDay, presentMonths } from "./usage-stats";

const projectsOf = async (db: Db, scope: StatsScope) =>
  "projectId" in scope ? [scope.projectId] : await projectIdsOf(db, scope.orgId);

/** Each project's open `day` as the daily job would write it now (its row's shape), reading only. */
async function openDays(env: Env, db: Db, projectIds: string[], orgId: string, day: string, now: number) {
  await freshCounts(env, projectIds);
  const devices = await liveDeviceCounts(db, projectIds);
  return mapLimit(projectIds, FAN_OUT, async (id): Promise<DailyRow> => {
    const u = await projectHub(env, id).openDay(day);
    return dailyRowOf({ projectId: id, orgId, date: day, createdAt: now }, u, {
      storageBytes: u.storage_bytes,
      devices: devices.get(id) ?? 0,
      activeDevices: u.active_devices,
    });
  });
}

/** The counters an org's day sums over its projects. */
const SUMMED = [...DAY_COUNTERS, "storageBytes", "devices", "activeDevices"] as const;

/** An org's day: its projects' rows summed, as D1's org query sums them. */
function summed(rows: DailyRow[], day: string): Omit<DailyRow, "projectId" | "orgId" | "createdAt"> {
  const total = { date: day, ...Object.fromEntries(SUMMED.map((k) => [k, 0])) } as Omit<
    DailyRow,
    "projectId" | "orgId" | "createdAt"
  >;
  for (const r of rows) for (const k of SUMMED) total[k] += r[k];
  return total;
}

/**
 * The days from `from` to `to` (default: the 30 days to yesterday, or to today with
 * `include_today`). With `include_today`, today's row (UTC) is added when the range holds it,
 * and every row says whether it is `final`.
 */
export async function dailyStats(
  env: Env,
  db: Db,
  scope: StatsScope,
  orgId: string,
  q: { from?: string; to?: string; include_today?: boolean },
  now: number,
) {
  const today = utcDay(now);
  const to = q.to ?? (q.include_today ? today : utcDay(now - DAY_MS));
  const from = q.from ?? utcDay(Date.parse(to) - 29 * DAY_MS);
  const written = (await dailyStatsOf(db, scope, from, to)).map(presentDay);
  if (!q.include_today) return written;
  const days = written.map((d) => ({ ...d, final: true }));
  if (from > today || to < today || written.some((d) => d.date === today)) return days;
  const open = await openDays(env, db, await projectsOf(db, scope), orgId, today, now);
  const row = "projectId" in scope ? open[0]! : summed(open, today);
  return [...days, { ...presentDay(row), final: false }];
}

/**
 * The months of `year` the monthly job closed. With `include_today`, the current month (when
 * `year` is this year) is added as it stands now, `final: false`: its counters are the projects'
 * live counters for the month, its peak storage the highest of its written days and now, its
 * limits and overage the org's tier's, as the month's close will reckon them.
 */
export async function monthlyStats(
  env: Env,
  db: Db,
  scope: StatsScope,
  orgId: string,
  year: number,
  includeToday: boolean,
  now: number,
) {
  const closed = presentMonths(await monthlyStatsOf(db, scope, year), scope);
  const today = utcDay(now);
  const month = today.slice(0, 7);
  if (!includeToday) return closed;
  const months = closed.map((m) => ({ ...m, final: true }));
  if (Number(today.slice(0, 4)) !== year || closed.some((m) => m.month === month)) return months;
  const tier = (await findOrg(db, orgId))!.tier;
  const ids = await projectsOf(db, scope);
  await freshCounts(env, ids);
  const written = await daysOfProjects(db, ids, `${month}-01`, today);
  const rows = await mapLimit(ids, FAN_OUT, async (id) => {
    const { month: u, storage_bytes } = await projectHub(env, id).usage(month, today);
    const peak = Math.max(storage_bytes, ...written.filter((d) => d.projectId === id).map((d) => d.storageBytes));
    // The month so far as one day of its sums: closeMonth adds the counters and takes the peak.
    const sofar = dailyRowOf({ projectId: id, orgId, date: today, createdAt: now }, u, {
      storageBytes: peak,
      devices: 0,
      activeDevices: 0,
    });
    return closeMonth({ projectId: id, orgId: orgId }, [sofar], tier, month, now);
  });
  const [open] = presentMonths(rows, scope);
  return open ? [...months, { ...open, final: false }] : months;
}
