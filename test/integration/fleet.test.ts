import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { projectPresence } from "../../src/services/fleet-presence";
import { deviceHub } from "../../src/stubs/device-hub";
import { settle } from "../support/settle";
import { writeTransitionsNow } from "../support/transitions";
import { call, ingest, line, newDevice, newKey, newOrg, newProject, tenant } from "./helpers";

async function pageAll(token: string, query: string, limit: number, between?: () => Promise<void>) {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res: any = await call("GET", `/fleet/devices?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`, {
      token,
    });
    expect(res.status).toBe(200);
    ids.push(...res.json.devices.map((d: any) => d.id));
    cursor = res.json.next_cursor;
    await between?.();
  } while (cursor);
  return ids;
}

describe("fleet list", () => {
  it("filters by environment, status, type and name or DSN", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const a = await newDevice(adminKey, projectId, "AMR-100", {
      device_type: "amr",
      environment: "production",
      name: "Picker north",
    });
    const b = await newDevice(adminKey, projectId, "DRN-200", {
      device_type: "drone",
      environment: "testing",
      name: "Scout 100%",
    });
    const c = await newDevice(adminKey, projectId, "CAM-300", {
      device_type: "camera",
      environment: "production",
      name: "Dock cam",
    });
    await call("POST", "/fleet/heartbeat", { token: a.deviceKey, body: {} });
    // A status filter reads the project's statuses row in D1, which the project rewrites within a minute.
    await writeTransitionsNow(projectId);

    const ids = async (q: string) =>
      (await call("GET", `/fleet/devices?project_id=${projectId}&${q}`, { token: adminKey })).json.devices.map(
        (d: any) => d.id,
      );
    expect(await ids("environment=production")).toEqual([a.deviceId, c.deviceId]);
    expect(await ids("type=drone")).toEqual([b.deviceId]);
    expect(await ids("environment=testing")).toEqual([b.deviceId]);
    expect(await ids("status=online")).toEqual([a.deviceId]);
    expect(await ids("status=offline")).toEqual([b.deviceId, c.deviceId]);
    expect(await ids("q=picker")).toEqual([a.deviceId]);
    expect(await ids("q=CAM-3")).toEqual([c.deviceId]);
    expect(await ids("q=100")).toEqual([a.deviceId, b.deviceId]);
    // % and _ are the user's text, not wildcards.
    expect(await ids(`q=${encodeURIComponent("100%")}`)).toEqual([b.deviceId]);
    expect(await ids("q=_")).toEqual([]);
    // Long search text (a whole DSN or name) is fine.
    expect(await ids(`q=${"x".repeat(120)}`)).toEqual([]);
    expect(await ids(`q=${encodeURIComponent("%".repeat(60))}`)).toEqual([]);
    expect(await ids("environment=production&type=camera")).toEqual([c.deviceId]);

    const device = (await call("GET", `/fleet/devices?project_id=${projectId}&q=picker`, { token: adminKey })).json
      .devices[0];
    expect(Object.keys(device)).toEqual(
      expect.arrayContaining([
        "id",
        "name",
        "dsn",
        "device_type",
        "environment",
        "status",
        "last_seen_at",
        "last_heartbeat_at",
        "metrics",
        "current_session_id",
      ]),
    );
  });

  it("pages through every device exactly once, even while new ones register", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const made: string[] = [];
    for (let i = 0; i < 23; i++) made.push((await newDevice(adminKey, projectId, `PG-${i}`)).deviceId);

    expect(await pageAll(adminKey, `project_id=${projectId}`, 5)).toEqual(made);

    // Devices registering mid-walk sort after the cursor: the walk sees each id once.
    let extra = 0;
    const walked = await pageAll(adminKey, `project_id=${projectId}`, 4, async () => {
      if (extra < 3) made.push((await newDevice(adminKey, projectId, `PG-late-${extra++}`)).deviceId);
    });
    expect(new Set(walked).size).toBe(walked.length);
    expect(walked).toEqual(made);
  });

  it("spans the org's projects when no project is named", async () => {
    const { adminKey } = await newOrg();
    const p1 = await newProject(adminKey, "one");
    const p2 = await newProject(adminKey, "two");
    const d1 = await newDevice(adminKey, p1);
    const d2 = await newDevice(adminKey, p2);
    const all = await call("GET", "/fleet/devices", { token: adminKey });
    expect(all.json.devices.map((d: any) => d.id)).toEqual([d1.deviceId, d2.deviceId]);
  });

  it("patches name and environment", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const d = await newDevice(adminKey, projectId);
    const res = await call("PATCH", `/fleet/devices/${d.deviceId}`, {
      token: adminKey,
      body: { name: "Line 4 arm", environment: "testing" },
    });
    expect(res.json.device).toMatchObject({ name: "Line 4 arm", environment: "testing" });
    const testing = await call("GET", `/fleet/devices?project_id=${projectId}&environment=testing`, {
      token: adminKey,
    });
    expect(testing.json.devices.map((x: any) => x.id)).toEqual([d.deviceId]);
    expect(
      (await call("PATCH", `/fleet/devices/${d.deviceId}`, { token: adminKey, body: { status: "offline" } })).status,
    ).toBe(400);
    expect((await call("PATCH", `/fleet/devices/${d.deviceId}`, { token: adminKey, body: {} })).status).toBe(400);
  });
});

describe("fleet summary", () => {
  /** A device-scoped error-rate rule that fires on the first ERROR line (its webhook goes to the test receiver). */
  async function errorRule(adminKey: string, projectId: string, deviceId: string) {
    const res = await call("POST", "/alert-rules", {
      token: adminKey,
      body: {
        project_id: projectId,
        name: "any error",
        kind: "error_rate",
        params: { count: 1, window_s: 60 },
        device_id: deviceId,
        targets: [{ url: `${inject("webhooks")}/hook/${crypto.randomUUID()}` }],
      },
    });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
  }

  it("counts the project's live picture by status and environment, alerting beside the status, decommissioned left out", async () => {
    const { adminKey } = await newOrg();
    const viewerKey = await newKey(adminKey, "viewer");
    const projectId = await newProject(adminKey);
    const online = await newDevice(adminKey, projectId, "SUM-1", { environment: "production" });
    const failing = await newDevice(adminKey, projectId, "SUM-2", { environment: "production" });
    const paused = await newDevice(adminKey, projectId, "SUM-3", { environment: "testing" });
    await newDevice(adminKey, projectId, "SUM-4", { environment: "development" }); // registered, never heard: offline
    const gone = await newDevice(adminKey, projectId, "SUM-5", { environment: "production" });
    // Another project's devices are not counted.
    await newDevice(adminKey, await newProject(adminKey, "other"), "SUM-6");

    await call("POST", "/fleet/heartbeat", { token: online.deviceKey, body: {} });
    await call("POST", "/fleet/heartbeat", { token: failing.deviceKey, body: { status: "error" } });
    await call("POST", "/fleet/heartbeat", { token: paused.deviceKey, body: {} });
    await call("POST", "/fleet/heartbeat", { token: gone.deviceKey, body: {} });
    expect(
      (await call("PATCH", `/fleet/devices/${paused.deviceId}`, { token: adminKey, body: { status: "maintenance" } }))
        .status,
    ).toBe(200);
    expect((await call("DELETE", `/fleet/devices/${gone.deviceId}`, { token: adminKey })).status).toBe(200);

    const summary = async (q = "") => call("GET", `/fleet/summary?project_id=${projectId}${q}`, { token: viewerKey });
    const zero = { online: 0, offline: 0, maintenance: 0, error: 0, alerting: 0 };
    // No batch to D1 has run: the statuses are the live picture's.
    const first = await summary();
    expect(first.status).toBe(200);
    expect(first.json).toEqual({
      counts: { online: 1, offline: 1, maintenance: 1, error: 1, alerting: 0 },
      by_environment: {
        production: { ...zero, online: 1, error: 1 },
        testing: { ...zero, maintenance: 1 },
        development: { ...zero, offline: 1 },
      },
    });
    // With an environment (aliases too), counts are that environment's; by_environment stays whole.
    expect((await summary("&environment=prod")).json).toEqual({
      ...first.json,
      counts: first.json.by_environment.production,
    });
    expect((await summary("&environment=development")).json.counts).toEqual({ ...zero, offline: 1 });

    // A firing alert of the device in error: alerting, and still in error.
    await errorRule(adminKey, projectId, failing.deviceId);
    await call("POST", "/fleet/heartbeat", { token: failing.deviceKey, body: { status: "error" } });
    await settle(failing.deviceId); // its delivery's answer tells it of the rule
    expect((await ingest(failing.deviceKey, { logs: [line("ERROR", "arm jammed")] })).status).toBe(200);
    let alerting: any;
    for (let i = 0; i < 100; i++) {
      alerting = (await summary()).json;
      if (alerting.counts.alerting > 0) break;
      await new Promise((w) => setTimeout(w, 100));
    }
    expect(alerting.counts).toEqual({ online: 1, offline: 1, maintenance: 1, error: 1, alerting: 1 });
    expect(alerting.by_environment.production).toEqual({ ...zero, online: 1, error: 1, alerting: 1 });
    expect((await summary("&environment=testing")).json.counts.alerting).toBe(0);
  });

  it("requires project_id, and answers 404 for another org's project", async () => {
    const t = await tenant();
    const other = await newOrg();
    const missing = await call("GET", "/fleet/summary", { token: t.viewerKey });
    expect(missing.status).toBe(400);
    expect(missing.json.error.code).toBe("validation_failed");
    expect(missing.json.error.details).toEqual([expect.objectContaining({ path: "project_id" })]);
    const badEnv = await call("GET", `/fleet/summary?project_id=${t.projectId}&environment=staging`, {
      token: t.viewerKey,
    });
    expect(badEnv.status).toBe(400);
    expect(badEnv.json.error.details).toEqual([expect.objectContaining({ path: "environment" })]);
    expect((await call("GET", `/fleet/summary?project_id=${t.projectId}`, { token: other.adminKey })).status).toBe(404);
    expect((await call("GET", `/fleet/summary?project_id=${t.projectId}`)).status).toBe(401);
    // Not taken for a device id.
    expect((await call("GET", `/fleet/devices/summary`, { token: t.viewerKey })).status).toBe(404);
  });
});

describe("fleet list sparklines", () => {
  it("each device carries its last hour of battery and CPU, from its report to the project", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const d = await newDevice(adminKey, projectId, "SPK-1");
    const quiet = await newDevice(adminKey, projectId, "SPK-2");
    for (const [battery, cpu] of [
      [81.234, 10],
      [81.234, 30],
    ]) {
      await call("POST", "/fleet/heartbeat", {
        token: d.deviceKey,
        body: { metrics: { battery_level: battery, cpu_usage: cpu, temperature: 40 } },
      });
    }
    await call("POST", "/fleet/heartbeat", { token: quiet.deviceKey, body: { metrics: { temperature: 20 } } });
    // A heartbeat 20 minutes ago, as the device's metric history keeps it (an hour row).
    const SLOT = 5 * 60_000;
    const earlier = Date.now() - 20 * 60_000;
    const minute = earlier - (earlier % 60_000);
    const hour = minute - (minute % 3_600_000);
    await runInDurableObject(deviceHub(env, d.deviceId), (_hub, state) => {
      const data = { [minute]: [1, { battery_level: [90, 90, 90, 1] }] };
      state.storage.sql.exec(
        "INSERT INTO metric_hours (hour, data) VALUES (?, ?) ON CONFLICT (hour) DO UPDATE SET data = excluded.data",
        hour,
        JSON.stringify(data),
      );
    });
    const before = Date.now();
    // The device's delivery of counts brings its presence, sparklines with it.
    await settle(d.deviceId);
    await settle(quiet.deviceId);
    const after = Date.now();

    const listed = (await call("GET", `/fleet/devices?project_id=${projectId}`, { token: adminKey })).json.devices;
    const spark = listed.find((x: any) => x.id === d.deviceId).sparklines;
    expect(Object.keys(spark).sort()).toEqual(["battery_level", "cpu_usage"]);
    expect(spark.battery_level).toHaveLength(12);
    expect(spark.cpu_usage).toHaveLength(12);
    // The newest slot is last; values keep 3 significant digits; two heartbeats in one slot are averaged.
    expect(spark.battery_level[11]).toBe(81.2);
    expect(spark.cpu_usage.filter((v: number | null) => v !== null)).toSatisfy((v: number[]) =>
      [[20], [10, 30], [30]].some((w) => JSON.stringify(w) === JSON.stringify(v)),
    );
    // The heartbeat of 20 minutes ago, in its slot; slots without a heartbeat are null.
    const slotOf = (now: number) => 11 - (now - (now % SLOT) - (minute - (minute % SLOT))) / SLOT;
    const at = spark.battery_level.indexOf(90);
    expect([slotOf(before), slotOf(after)]).toContain(at);
    expect(spark.battery_level.filter((v: number | null) => v === null)).toHaveLength(
      12 - spark.battery_level.filter((v: number | null) => v !== null).length,
    );
    expect(spark.cpu_usage[at]).toBeNull();
    // A device without those metrics has none.
    expect(listed.find((x: any) => x.id === quiet.deviceId).sparklines).toEqual({});
    // The Prometheus scrape reads the same picture without them.
    const scrape = await projectPresence(env, projectId, [d.deviceId]);
    expect(scrape.devices[d.deviceId]!.sparklines).toBeUndefined();
    expect(
      (await projectPresence(env, projectId, [d.deviceId], { sparklines: true })).devices[d.deviceId]!.sparklines,
    ).toEqual(spark);
  });
});
