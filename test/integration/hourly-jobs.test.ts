// The hourly job: finished hours of API records copied to D1 once. (A device whose alarm was
// lost is the project's safety net now, not the job's: presence.test.ts.)
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CRON, runScheduled } from "../../src/jobs/schedule";
import { call, ingest, line, tenant } from "./helpers";
import { settle } from "../support/settle";

describe("the hourly job", () => {
  it("copies finished hours of API records to D1, once", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { logs: [line("INFO", "x")] });
    await settle(t.deviceId);
    await call("GET", `/stats/api?project_id=${t.projectId}`, { token: t.viewerKey }); // sends the isolate's records
    const nextHour = (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000;
    await runScheduled(CRON.hourly, nextHour + 60_000, env);
    await runScheduled(CRON.hourly, nextHour + 120_000, env);
    const rows = await env.DB.prepare("SELECT route, count FROM api_hourly WHERE scope = ? AND route = '/api/v1/logs/ingest'").bind(t.projectId).all<{ route: string; count: number }>();
    expect(rows.results).toEqual([{ route: "/api/v1/logs/ingest", count: 1 }]);
  });
});
