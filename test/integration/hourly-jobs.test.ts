// The hourly job's safety net for presence: a device whose alarm was lost is swept offline.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CRON } from "../../src/jobs/schedule";
import { runJobs } from "../support/jobs";
import { deviceHub } from "../../src/stubs/device-hub";
import { call, tenant } from "./helpers";
import { rewriteDeviceState } from "../support/device-state";

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

    await runJobs(CRON.hourly, Date.now());
    const status = async (x: typeof t) => (await call("GET", `/fleet/devices/${x.deviceId}`, { token: x.adminKey })).json.device.status;
    expect(await status(t)).toBe("offline");
    expect((await env.DB.prepare("SELECT status FROM devices WHERE id = ?").bind(t.deviceId).first<{ status: string }>())!.status).toBe("offline");
    expect(await status(fresh)).toBe("online");
  });
});
