// API analytics: every authenticated request is recorded with its route pattern, status class
// and latency, in the project it touched (or its org's own hub), and org-key calls count as
// api_calls there; GET /stats/api reads them per hour and per route.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { utcDay } from "../../src/lib/time";
import { API_FLUSH, flushApiCalls } from "../../src/services/api-analytics";
import { projectHub } from "../../src/stubs/project-hub";
import { settle } from "../support/settle";
import { call, ingest, line, tenant } from "./helpers";

describe("API analytics", () => {
  it("records each call in the project it touched, with org-key calls counted as its api_calls", async () => {
    const t = await tenant();
    const usage = async () =>
      (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
    const before = (await usage()).api_calls;
    for (let i = 0; i < 3; i++) await call("GET", `/logs?project_id=${t.projectId}&limit=1`, { token: t.viewerKey });
    // The read of usage itself names the project: 3 searches + 1 usage read since `before`.
    expect((await usage()).api_calls).toBe(before + 4);

    // A call naming another org's project is not that project's: it is refused and counted for the caller's org.
    const other = await tenant();
    const otherBefore = (await call("GET", `/stats/usage?project_id=${other.projectId}`, { token: other.viewerKey }))
      .json.api_calls;
    expect((await call("GET", `/logs?project_id=${other.projectId}`, { token: t.viewerKey })).status).toBe(404);
    expect(
      (await call("GET", `/stats/usage?project_id=${other.projectId}`, { token: other.viewerKey })).json.api_calls,
    ).toBe(otherBefore + 1);

    // Calls that touch no project are the org's own, and org usage adds them.
    const orgBefore = (await call("GET", `/stats/usage?org_id=${t.orgId}`, { token: t.viewerKey })).json.api_calls;
    await call("GET", "/projects", { token: t.viewerKey });
    await call("GET", "/me", { token: t.viewerKey });
    const orgAfter = (await call("GET", `/stats/usage?org_id=${t.orgId}`, { token: t.viewerKey })).json.api_calls;
    expect(orgAfter).toBe(orgBefore + 3); // GET /projects, GET /me, and the first org usage read
  });

  it("sends records by themselves within seconds, and a batch sent again is applied once", async () => {
    const t = await tenant();
    const hub = projectHub(env, t.projectId);
    const month = utcDay(Date.now()).slice(0, 7);
    const apiCalls = async () => (await hub.usage(month, utcDay(Date.now()))).month.api_calls;
    // Read the project's object directly: the stats API would send pending records first.
    await flushApiCalls(env); // what the tenant's setup left pending
    const before = await apiCalls();
    const wait = API_FLUSH.ms;
    API_FLUSH.ms = 1000;
    try {
      for (let i = 0; i < 2; i++) await call("GET", `/logs?project_id=${t.projectId}&limit=1`, { token: t.viewerKey });
      await expect.poll(apiCalls, { timeout: 5_000, interval: 200 }).toBe(before + 2);
    } finally {
      API_FLUSH.ms = wait;
    }

    const record = {
      hour: Math.floor(Date.now() / 3_600_000),
      route: "/api/v1/x",
      status_class: "2xx",
      count: 1,
      hist: { 10: 1 },
    };
    const day = utcDay(Date.now());
    await hub.recordApi("batch-1", [record], { [day]: 3 });
    await hub.recordApi("batch-1", [record], { [day]: 3 }); // its answer was lost; the Worker sends it again
    expect(await apiCalls()).toBe(before + 2 + 3);
    const hours = await hub.apiHours(record.hour, record.hour);
    expect(hours.find((r) => r.route === "/api/v1/x")?.count).toBe(1);
  });

  it("a batch writes one row for its id and one for each hour, route and status it adds to", async () => {
    const t = await tenant();
    const hub = projectHub(env, t.projectId);
    await flushApiCalls(env);
    const rows = async () => (await hub.storageRows()).project;
    const hour = Math.floor(Date.now() / 3_600_000);
    const record = (route: string) => ({ hour, route, status_class: "2xx", count: 1, hist: { 10: 1 } });
    // The hour's first batch also prunes what is past keeping, once.
    await hub.recordApi("rows-0", [record("/api/v1/a")], {});
    const before = await rows();
    await hub.recordApi("rows-1", [record("/api/v1/a"), record("/api/v1/b")], {});
    // Its id, route a's row updated, route b's row added: a row each (WITHOUT ROWID, no second index).
    expect((await rows()) - before).toBe(3);
  });

  it("answers counts, errors and latency percentiles per hour and per route", async () => {
    const t = await tenant();
    for (let i = 0; i < 5; i++) await ingest(t.deviceKey, { logs: [line("INFO", `m${i}`)] });
    await ingest(t.deviceKey, { logs: "not a list" });
    await settle(t.deviceId);
    const res = await call("GET", `/stats/api?project_id=${t.projectId}&days=1`, { token: t.viewerKey });
    expect(res.status).toBe(200);
    const ingestRoute = res.json.routes.find((r: any) => r.route === "/api/v1/logs/ingest");
    expect(ingestRoute).toMatchObject({ count: 6, errors: 1, client_errors: 1, server_errors: 0 });
    expect(ingestRoute.p50_ms).toBeGreaterThan(0);
    expect(ingestRoute.p99_ms).toBeGreaterThanOrEqual(ingestRoute.p50_ms);
    const hour = res.json.hours.at(-1);
    expect(hour.count).toBeGreaterThanOrEqual(6);
    expect(Date.parse(hour.hour) % 3_600_000).toBe(0);
    expect((await call("GET", `/stats/api?project_id=${t.projectId}&days=99`, { token: t.viewerKey })).status).toBe(
      400,
    );
  });
});
