// daily_stats and monthly_stats: rows written once by the jobs (a second write of the same
// key does nothing), read by the stats API for a project or summed over an org.
import { and, asc, eq, getTableColumns, gt, gte, inArray, lt, lte, max, notExists, sql, sum } from "drizzle-orm";
import type { UsageCounters } from "../../contract/usage";
import type { Db } from "../client";
import { dailyStats, monthlyStats, projects } from "../schema";

export type DailyRow = typeof dailyStats.$inferSelect;
export type MonthlyRow = typeof monthlyStats.$inferSelect;

/** Either one project, or every project of an org summed. */
export type StatsScope = { projectId: string } | { orgId: string };

/**
 * A project's day as its row: the counters as its object answers them (snake_case), and what
 * the object does not count (the live devices, the storage of the day or the month's peak).
 */
export function dailyRowOf(
  of: { projectId: string; orgId: string; date: string; createdAt: number },
  u: UsageCounters,
  rest: { storageBytes: number; devices: number; activeDevices: number },
): DailyRow {
  return {
    ...of,
    logs: u.logs,
    logBytes: u.log_bytes,
    sessions: u.sessions,
    heartbeats: u.heartbeats,
    deviceMessagesIn: u.device_messages_in,
    deviceMessagesOut: u.device_messages_out,
    apiCalls: u.api_calls,
    commands: u.commands,
    artifactBytes: u.artifact_bytes,
    errorLines: u.error_lines,
    ...rest,
  };
}

/** Rows a statement inserts: D1 binds at most 100 parameters, and a row takes 17 or 18. */
const ROWS_PER_INSERT = 5;

/**
 * Writes the days unless they are already written (written days never change), five rows a
 * statement, in the order given: a project's days go oldest first, so a run cut short leaves
 * no gap before its last written day.
 */
export async function insertDailyRows(db: Db, rows: DailyRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT)
    await db
      .insert(dailyStats)
      .values(rows.slice(i, i + ROWS_PER_INSERT))
      .onConflictDoNothing();
}

/** Writes the months unless they are already written; five rows a statement. */
export async function insertMonthlyRows(db: Db, rows: MonthlyRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT)
    await db
      .insert(monthlyStats)
      .values(rows.slice(i, i + ROWS_PER_INSERT))
      .onConflictDoNothing();
}

/** The latest day written for each of the projects that has one, in one query. */
export async function lastDailyDates(db: Db, projectIds: string[]): Promise<Map<string, string>> {
  if (projectIds.length === 0) return new Map();
  const rows = await db
    .select({ projectId: dailyStats.projectId, date: max(dailyStats.date) })
    .from(dailyStats)
    .where(inArray(dailyStats.projectId, projectIds))
    .groupBy(dailyStats.projectId);
  return new Map(rows.flatMap((r) => (r.date ? [[r.projectId, r.date] as const] : [])));
}

/** The days written for the projects within [from, to], in one query, each project's oldest first. */
export async function daysOfProjects(db: Db, projectIds: string[], from: string, to: string): Promise<DailyRow[]> {
  if (projectIds.length === 0) return [];
  return db
    .select()
    .from(dailyStats)
    .where(and(inArray(dailyStats.projectId, projectIds), gte(dailyStats.date, from), lte(dailyStats.date, to)))
    .orderBy(asc(dailyStats.projectId), asc(dailyStats.date));
}

/** The days written for the project within [from, to] (YYYY-MM-DD), oldest first. */
export async function projectDays(db: Db, projectId: string, from: string, to: string): Promise<DailyRow[]> {
  return db
    .select()
    .from(dailyStats)
    .where(and(eq(dailyStats.projectId, projectId), gte(dailyStats.date, from), lte(dailyStats.date, to)))
    .orderBy(asc(dailyStats.date));
}

const summed = <T extends Record<string, unknown>>(columns: T) =>
  Object.fromEntries(
    Object.entries(columns).map(([k, c]) => [k, sql<number>`coalesce(${sum(c as never)}, 0)`.mapWith(Number)]),
  ) as {
    [K in keyof T]: ReturnType<typeof sql<number>>;
  };

/** Days within [from, to]: the project's rows, or one row per day summed over the org's projects. */
export async function dailyStatsOf(db: Db, scope: StatsScope, from: string, to: string) {
  const inRange = and(gte(dailyStats.date, from), lte(dailyStats.date, to));
  if ("projectId" in scope) return projectDays(db, scope.projectId, from, to);
  const { projectId: _p, orgId: _o, date, createdAt: _c, ...counters } = getTableColumns(dailyStats);
  return db
    .select({ date, ...summed(counters) })
    .from(dailyStats)
    .where(and(eq(dailyStats.orgId, scope.orgId), inRange))
    .groupBy(dailyStats.date)
    .orderBy(asc(dailyStats.date));
}

/** Closed months of a year: the project's rows, or every project's rows of the org (summed by the caller). */
export async function monthlyStatsOf(db: Db, scope: StatsScope, year: number): Promise<MonthlyRow[]> {
  const ofScope =
    "projectId" in scope ? eq(monthlyStats.projectId, scope.projectId) : eq(monthlyStats.orgId, scope.orgId);
  return db
    .select()
    .from(monthlyStats)
    .where(and(ofScope, gte(monthlyStats.month, `${year}-01`), lte(monthlyStats.month, `${year}-12`)))
    .orderBy(asc(monthlyStats.month), asc(monthlyStats.projectId));
}

/**
 * Ids of projects created before `createdBefore` that have no row yet for `date` (a day,
 * YYYY-MM-DD) or `month` (YYYY-MM): what the daily or monthly work still has to do, `limit`
 * at a time by id after `afterId`, so the hourly catch-up pages through them.
 */
export async function projectsLacking(
  db: Db,
  row: { date: string } | { month: string },
  createdBefore: number,
  page: { afterId: string | null; limit: number },
): Promise<string[]> {
  const written =
    "date" in row
      ? db
          .select({ one: sql`1` })
          .from(dailyStats)
          .where(and(eq(dailyStats.projectId, projects.id), eq(dailyStats.date, row.date)))
      : db
          .select({ one: sql`1` })
          .from(monthlyStats)
          .where(and(eq(monthlyStats.projectId, projects.id), eq(monthlyStats.month, row.month)));
  const rows = await db
    .select({ id: projects.id })
    .from(projects)
    .where(
      and(
        lt(projects.createdAt, createdBefore),
        page.afterId ? gt(projects.id, page.afterId) : undefined,
        notExists(written),
      ),
    )
    .orderBy(asc(projects.id))
    .limit(page.limit);
  return rows.map((r) => r.id);
}
