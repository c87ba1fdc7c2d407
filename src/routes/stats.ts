// /stats/usage: the project's exact counters for the current month, by day of receipt, from
// its ProjectHub, with the org's tier limit beside each.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { countLiveDevices } from "../db/repos/devices";
import { findOrg } from "../db/repos/orgs";
import { query } from "../http/validate";
import { projectHub } from "../stubs/project-hub";
import { projectOfOrg } from "../services/tenancy";
import { UsageQuery } from "../contract/stats";
import { usageLimits } from "../contract/tiers";
import { utcDay } from "../lib/time";

export const stats = new Hono<AppEnv>().get("/usage", orgKey("viewer"), query(UsageQuery), async (c) => {
  const { db, org } = c.var;
  const project = await projectOfOrg(db, org.orgId, c.req.valid("query").project_id);
  const now = Date.now();
  const day = utcDay(now);
  const month = day.slice(0, 7);
  const [usage, orgRow, deviceCount] = await Promise.all([
    projectHub(c.env, project.id).usage(month, day),
    findOrg(db, org.orgId),
    countLiveDevices(db, project.id),
  ]);
  const tier = orgRow!.tier;
  const resetsAt = new Date(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() + 1, 1)).toISOString();
  return c.json({
    project_id: project.id,
    month,
    tier,
    resets_at: resetsAt,
    ...usage.month,
    storage_bytes: 0,
    devices: deviceCount,
    active_devices: usage.active_devices,
    limits: usageLimits(tier),
    today: { day, ...usage.today },
  });
});
