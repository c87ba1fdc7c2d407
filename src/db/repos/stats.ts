// daily_stats and monthly_stats: rows written once by the jobs (a second write of the same
// key does nothing), read by the stats API for a project or summed over an org.
import { and, asc, eq, getTableColumns, gte, lt, lte, max, notExists, sql, sum } from "drizzle-orm";
import type { Db } from "../client";
import { apiHourly, dailyStats, jobCursors, monthlyStats, projects } from "../schema";
import type { Project } from "./projects";

export type DailyRow = typeof dailyStats.$inferSelect;
export type MonthlyRow = typeof monthlyStats.$inferSelect;

/** Either one project, or every project of an org summed. */
export type StatsScope = { projectId: string } | { orgId: string };

/** Writes the day unless it is already written: written days never change. */
export async function insertDailyStats(db: Db, row: DailyRow): Promise<void> {
  await db.insert(dailyStats).values(row).onConflictDoNothing();
}

export async function insertMonthlyStats(db: Db, row: MonthlyRow): Promise<void> {
  await db.insert(monthlyStats).values(row).onConflictDoNothing();
}

/** The latest day written for the project, if any. */
export async function lastDailyDate(db: Db, projectId: string): Promise<string | null> {
  const [row] = await db.select({ date: max(dailyStats.date) }).from(dailyStats).where(eq(dailyStats.projectId, projectId));
  return row?.date ?? null;
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
  Object.fromEntries(Object.entries(columns).map(([k, c]) => [k, sql<number>`coalesce(${sum(c as never)}, 0)`.mapWith(Number)])) as {
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
  const ofScope = "projectId" in scope ? eq(monthlyStats.projectId, scope.projectId) : eq(monthlyStats.orgId, scope.orgId);
  return db
    .select()
    .from(monthlyStats)
    .where(and(ofScope, gte(monthlyStats.month, `${year}-01`), lte(monthlyStats.month, `${year}-12`)))
    .orderBy(asc(monthlyStats.month), asc(monthlyStats.projectId));
}

/** Copies finished hours of API records; an hour already copied is left as it is. */
export async function insertApiHours(db: Db, scope: string, records: { hour: number; route: string; status_class: string; count: number; hist: Record<string, number> }[]): Promise<void> {
  // D1 caps the bound parameters of one statement: a few rows at a time.
  for (let i = 0; i < records.length; i += 10) {
    const rows = records.slice(i, i + 10).map((r) => ({ scope, hour: r.hour, route: r.route, statusClass: r.status_class, count: r.count, hist: r.hist }));
    await db.insert(apiHourly).values(rows).onConflictDoNothing();
  }
}

/**
 * Projects created before `createdBefore` that have no row yet for `date` (a day, YYYY-MM-DD)
 * or `month` (YYYY-MM): what the daily or monthly job still has to do, `limit` at a time, by
 * id, so a run that stops is continued by the next.
 */
export async function projectsLacking(db: Db, row: { date: string } | { month: string }, createdBefore: number, limit: number): Promise<Project[]> {
  const written =
    "date" in row
      ? db.select({ one: sql`1` }).from(dailyStats).where(and(eq(dailyStats.projectId, projects.id), eq(dailyStats.date, row.date)))
      : db.select({ one: sql`1` }).from(monthlyStats).where(and(eq(monthlyStats.projectId, projects.id), eq(monthlyStats.month, row.month)));
  return db
    .select()
    .from(projects)
    .where(and(lt(projects.createdAt, createdBefore), notExists(written)))
    .orderBy(asc(projects.id))
    .limit(limit);
}

/** Where the job named `job` goes on from (the last project id it reached), if anywhere. */
export async function jobCursor(db: Db, job: string): Promise<string | null> {
  const [row] = await db.select({ afterId: jobCursors.afterId }).from(jobCursors).where(eq(jobCursors.job, job));
  return row?.afterId ?? null;
}

export async function saveJobCursor(db: Db, job: string, afterId: string | null): Promise<void> {
  await db.insert(jobCursors).values({ job, afterId }).onConflictDoUpdate({ target: jobCursors.job, set: { afterId } });
}
