// /stats: live usage (from the ProjectHubs), and the days and months the jobs wrote to D1,
// for a project or summed over an org.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { notFound } from "../contract/errors";
import {
  ActivityQuery,
  ApiStatsQuery,
  DailyQuery,
  ErrorsQuery,
  MonthlyQuery,
  OverviewQuery,
  TimeseriesQuery,
  UsageQuery,
} from "../contract/stats";
import { findOrg } from "../db/repos/orgs";
import { describer } from "../http/describe";
import { query } from "../http/validate";
import { clockNow } from "../lib/clock";
import { DAY_MS, utcDay } from "../lib/time";
import { apiStats } from "../services/api-stats";
import { dailyStats, monthlyStats } from "../services/daily-stats";
import { overview } from "../services/rankings";
import { errorStats, timeseries } from "../services/series-stats";
import { statsScope } from "../services/stats-scope";
import { projectOfOrg } from "../services/tenancy";
import { liveUsage } from "../services/usage-stats";
import { orgHub } from "../stubs/project-hub";

const describe = describer("Stats");
/** Stats name a project of the org, or the org itself (org_id). */
const scopeErrors = [() => notFound("project"), () => notFound("org")];

export const stats = new Hono<AppEnv>()
  .get(
    "/usage",
    describe({ summary: "This month's exact usage with tier limits, for a project or an org", errors: scopeErrors }),
    orgKey("viewer"),
    query(UsageQuery),
    async (c) => {
      const { db, org } = c.var;
      const scope = await statsScope(db, org.orgId, c.req.valid("query"));
      const tier = (await findOrg(db, org.orgId))!.tier;
      return c.json(await liveUsage(c.env, db, scope, tier, clockNow()));
    },
  )
  .get(
    "/timeseries",
    describe({
      summary: "Counts per 1, 5, 15 or 60-minute bucket (lines by event time), or per day",
      errors: [() => notFound("project")],
    }),
    orgKey("viewer"),
    query(TimeseriesQuery),
    async (c) => {
      const { db, org } = c.var;
      const q = c.req.valid("query");
      const project = await projectOfOrg(db, org.orgId, q.project_id);
      return c.json(await timeseries(c.env, db, project.id, q, clockNow()));
    },
  )
  .get(
    "/overview",
    describe({ summary: "Totals, error rate, top devices and modules of the last days", errors: scopeErrors }),
    orgKey("viewer"),
    query(OverviewQuery),
    async (c) => {
      const { db, org } = c.var;
      const q = c.req.valid("query");
      return c.json(await overview(c.env, db, await statsScope(db, org.orgId, q), org.orgId, q.days, clockNow()));
    },
  )
  .get(
    "/errors",
    describe({
      summary: "ERROR and FATAL lines over time, top modules and most repeated messages",
      errors: [() => notFound("project")],
    }),
    orgKey("viewer"),
    query(ErrorsQuery),
    async (c) => {
      const { db, org } = c.var;
      const q = c.req.valid("query");
      const project = await projectOfOrg(db, org.orgId, q.project_id);
      return c.json(await errorStats(c.env, db, project.id, q, clockNow()));
    },
  )
  .get(
    "/api",
    describe({
      summary: "API requests per hour and per route: counts, errors, latency p50/p95/p99",
      errors: scopeErrors,
    }),
    orgKey("viewer"),
    query(ApiStatsQuery),
    async (c) => {
      const { db, org } = c.var;
      const q = c.req.valid("query");
      return c.json(await apiStats(c.env, db, await statsScope(db, org.orgId, q), q.days, clockNow()));
    },
  )
  .get(
    "/daily",
    describe({
      summary: "Written days (the daily job's rows), for a project or summed over an org",
      description: "Only finished UTC days are written: today has no row yet.",
      errors: scopeErrors,
    }),
    orgKey("viewer"),
    query(DailyQuery),
    async (c) => {
      const { db, org } = c.var;
      const q = c.req.valid("query");
      const scope = await statsScope(db, org.orgId, q);
      return c.json({ days: await dailyStats(c.env, db, scope, org.orgId, q, clockNow()) });
    },
  )
  // The org's activity per day, counted from its audit log (admins: it names people).
  .get(
    "/activity",
    describe({
      summary: "The org's activity per day (active people, sign-ins, commands, devices, keys), from its audit log",
      errors: [() => notFound("org")],
    }),
    orgKey("admin"),
    query(ActivityQuery),
    async (c) => {
      const q = c.req.valid("query");
      if (q.org_id !== undefined && q.org_id !== c.var.org.orgId) throw notFound("org");
      const to = q.to ?? utcDay(clockNow());
      const from = q.from ?? utcDay(Date.parse(to) - 29 * DAY_MS);
      return c.json({ days: await orgHub(c.env, c.var.org.orgId).activity(from, to) });
    },
  )
  .get(
    "/monthly",
    describe({ summary: "Closed months with overage, for a project or summed over an org", errors: scopeErrors }),
    orgKey("viewer"),
    query(MonthlyQuery),
    async (c) => {
      const { db, org } = c.var;
      const q = c.req.valid("query");
      const scope = await statsScope(db, org.orgId, q);
      const now = clockNow();
      const year = q.year ?? new Date(now).getUTCFullYear();
      return c.json({ months: await monthlyStats(c.env, db, scope, org.orgId, year, q.include_today === true, now) });
    },
  );
