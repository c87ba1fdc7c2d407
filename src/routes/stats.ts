// /stats: live usage (from the ProjectHubs), and the days and months the jobs wrote to D1,
// for a project or summed over an org.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
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
import { notFound } from "../contract/errors";
import { orgHub } from "../stubs/project-hub";
import { query } from "../http/validate";
import { clockNow } from "../lib/clock";
import { DAY_MS, utcDay } from "../lib/time";
import { apiStats } from "../services/api-stats";
import { overview } from "../services/rankings";
import { errorStats, timeseries } from "../services/series-stats";
import { statsScope } from "../services/stats-scope";
import { liveUsage } from "../services/usage-stats";
import { dailyStats, monthlyStats } from "../services/daily-stats";
import { projectOfOrg } from "../services/tenancy";

export const stats = new Hono<AppEnv>()
  .get("/usage", orgKey("viewer"), query(UsageQuery), async (c) => {
    const { db, org } = c.var;
    const scope = await statsScope(db, org.orgId, c.req.valid("query"));
    const tier = (await findOrg(db, org.orgId))!.tier;
    return c.json(await liveUsage(c.env, db, scope, tier, clockNow()));
  })
  .get("/timeseries", orgKey("viewer"), query(TimeseriesQuery), async (c) => {
    const { db, org } = c.var;
    const q = c.req.valid("query");
    const project = await projectOfOrg(db, org.orgId, q.project_id);
    return c.json(await timeseries(c.env, db, project.id, q, clockNow()));
  })
  .get("/overview", orgKey("viewer"), query(OverviewQuery), async (c) => {
    const { db, org } = c.var;
    const q = c.req.valid("query");
    return c.json(await overview(c.env, db, await statsScope(db, org.orgId, q), org.orgId, q.days, clockNow()));
  })
  .get("/errors", orgKey("viewer"), query(ErrorsQuery), async (c) => {
    const { db, org } = c.var;
    const q = c.req.valid("query");
    const project = await projectOfOrg(db, org.orgId, q.project_id);
    return c.json(await errorStats(c.env, db, project.id, q, clockNow()));
  })
  .get("/api", orgKey("viewer"), query(ApiStatsQuery), async (c) => {
    const { db, org } = c.var;
    const q = c.req.valid("query");
    return c.json(await apiStats(c.env, db, await statsScope(db, org.orgId, q), q.days, clockNow()));
  })
  .get("/daily", orgKey("viewer"), query(DailyQuery), async (c) => {
    const { db, org } = c.var;
    const q = c.req.valid("query");
    const scope = await statsScope(db, org.orgId, q);
    return c.json({ days: await dailyStats(c.env, db, scope, org.orgId, q, clockNow()) });
  })
  // The org's activity per day, counted from its audit log (admins: it names people).
  .get("/activity", orgKey("admin"), query(ActivityQuery), async (c) => {
    const q = c.req.valid("query");
    if (q.org_id !== undefined && q.org_id !== c.var.org.orgId) throw notFound("org");
    const to = q.to ?? utcDay(clockNow());
    const from = q.from ?? utcDay(Date.parse(to) - 29 * DAY_MS);
    return c.json({ days: await orgHub(c.env, c.var.org.orgId).activity(from, to) });
  })
  .get("/monthly", orgKey("viewer"), query(MonthlyQuery), async (c) => {
    const { db, org } = c.var;
    const q = c.req.valid("query");
    const scope = await statsScope(db, org.orgId, q);
    const now = clockNow();
    const year = q.year ?? new Date(now).getUTCFullYear();
    return c.json({ months: await monthlyStats(c.env, db, scope, org.orgId, year, q.include_today === true, now) });
  });
