// The hourly job's safety nets: storage counted from R2 page by page, a device whose alarm
// was lost swept offline, and finished hours of API records copied to D1 once.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CRON, runScheduled } from "../../src/jobs/schedule";
import { reconcileStorage } from "../../src/jobs/hourly";
import { createDb } from "../../src/db/client";
import { deviceHub } from "../../src/stubs/device-hub";
import { call, ingest, line, tenant } from "./helpers";
import { rewriteDeviceState } from "../support/device-state";
import { settle } from "../support/settle";

describe("the hourly job", () => {
  it("counts a project's bytes in R2 across pages, into storage_bytes and the next daily row", async () => {
    const t = await tenant();
    const other = await tenant();
    for (let i = 0; i < 5; i++) await env.STORAGE.put(`artifacts/${t.projectId}/s1/file-${i}.bin`, new Uint8Array(100 + i));
    await env.STORAGE.put(`logs/${t.projectId}/dev/2026/chunk.ndjson.gz`, new Uint8Array(1000));
    await env.STORAGE.put(`artifacts/${other.projectId}/s/x.bin`, new Uint8Array(7));
    // Two keys a page: the listing must follow the cursor.
    await reconcileStorage(env, createDb(env.DB), { pageSize: 2 });
    const usage = async (x: typeof t) => (await call("GET", `/stats/usage?project_id=${x.projectId}`, { token: x.viewerKey })).json;
    expect((await usage(t)).storage_bytes).toBe(100 + 101 + 102 + 103 + 104 + 1000);
    expect((await usage(other)).storage_bytes).toBe(7);

    await env.STORAGE.delete(`logs/${t.projectId}/dev/2026/chunk.ndjson.gz`);
    await runScheduled(CRON.hourly, Date.now(), env);
    expect((await usage(t)).storage_bytes).toBe(510);
  });

  it("visits projects in turn when there are more than one run may take, and comes back round", async () => {
    const a = await tenant();
    const b = await tenant();
    await env.STORAGE.put(`artifacts/${a.projectId}/s/a.bin`, new Uint8Array(11));
    await env.STORAGE.put(`artifacts/${b.projectId}/s/b.bin`, new Uint8Array(22));
    const db = createDb(env.DB);
    const storageOf = async (x: typeof a) => (await call("GET", `/stats/usage?project_id=${x.projectId}`, { token: x.viewerKey })).json.storage_bytes;
    // One project a run: after enough runs for every project in this file, both are counted.
    const projects = ((await env.DB.prepare("SELECT count(*) AS n FROM projects").first<{ n: number }>())!).n;
    for (let i = 0; i < projects; i++) await reconcileStorage(env, db, { budget: 1 });
    expect([await storageOf(a), await storageOf(b)]).toEqual([11, 22]);
    await env.STORAGE.put(`artifacts/${a.projectId}/s/more.bin`, new Uint8Array(5));
    for (let i = 0; i < projects; i++) await reconcileStorage(env, db, { budget: 1 });
    expect(await storageOf(a)).toBe(16);
  });

  it("sweeps offline a device whose alarm was lost, and leaves the others", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    const stub = deviceHub(env, t.deviceId);
    // The last heartbeat was an hour ago, and the alarm that should have noticed never rang.
    await rewriteDeviceState(stub, (s) => ({ ...s, lastHeartbeatAt: s.lastHeartbeatAt! - 3_600_000 }));
    await runInDurableObject(stub, (_h, state) => state.storage.deleteAlarm());
    await env.DB.prepare("UPDATE devices SET last_heartbeat_at = last_heartbeat_at - 3600000 WHERE id = ?").bind(t.deviceId).run();
    const fresh = await tenant();
    await call("POST", "/fleet/heartbeat", { token: fresh.deviceKey, body: {} });

    await runScheduled(CRON.hourly, Date.now(), env);
    const status = async (x: typeof t) => (await call("GET", `/fleet/devices/${x.deviceId}`, { token: x.adminKey })).json.device.status;
    expect(await status(t)).toBe("offline");
    expect((await env.DB.prepare("SELECT status FROM devices WHERE id = ?").bind(t.deviceId).first<{ status: string }>())!.status).toBe("offline");
    expect(await status(fresh)).toBe("online");
  });

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
