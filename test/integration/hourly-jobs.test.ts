// The hourly job's safety nets: a device whose alarm was lost swept offline, and finished
// hours of API records copied to D1 once.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CRON, runScheduled } from "../../src/jobs/schedule";
import { deviceHub } from "../../src/stubs/device-hub";
import { call, ingest, line, tenant } from "./helpers";
import { rewriteDeviceState } from "../support/device-state";
import { settle } from "../support/settle";

describe("the hourly job", () => {
  it("sweeps offline a device whose alarm was lost, and leaves the others", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    const stub = deviceHub(env, t.deviceId);
    // The last heartbeat was two hours ago (D1 may trail a device by an hour), and the alarm that should have noticed never rang.
    await rewriteDeviceState(stub, (s) => ({ ...s, lastHeartbeatAt: s.lastHeartbeatAt! - 7_200_000 }));
    await runInDurableObject(stub, (_h, state) => state.storage.deleteAlarm());
    await env.DB.prepare("UPDATE devices SET last_heartbeat_at = last_heartbeat_at - 7200000 WHERE id = ?").bind(t.deviceId).run();
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
