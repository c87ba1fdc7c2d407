// GET /metrics?project_id: the project's devices and counters in the Prometheus text format
// (version 0.0.4), for a scrape with an org key (viewer or admin) as its bearer token.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { notFound } from "../contract/errors";
import { ScrapeQuery } from "../contract/scrape";
import { describer } from "../http/describe";
import { query } from "../http/validate";
import { clockNow } from "../lib/clock";
import { PROMETHEUS_CONTENT_TYPE } from "../lib/prometheus-text";
import { scrapeProject } from "../services/prometheus-metrics";
import { projectOfOrg } from "../services/tenancy";

const describe = describer("Metrics");

export const metrics = new Hono<AppEnv>().get(
  "/",
  describe({
    summary:
      "The project's devices (status, last seen, heartbeat metrics) and this month's counters for a Prometheus scrape",
    description: "The Prometheus text format, version 0.0.4; errors stay JSON. A scrape_config: docs/grafana.md.",
    media: PROMETHEUS_CONTENT_TYPE,
    errors: [() => notFound("project")],
  }),
  orgKey("viewer"),
  query(ScrapeQuery),
  async (c) => {
    const { db, org } = c.var;
    const q = c.req.valid("query");
    await projectOfOrg(db, org.orgId, q.project_id);
    const text = await scrapeProject(c.env, db, org.orgId, q, clockNow());
    return c.body(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" });
  },
);
