import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PRESENCE_SWEEP } from "../../durable-objects/project-hub/presence";
import { deviceHub } from "../../src/stubs/device-hub";
import { projectHub } from "../../src/stubs/project-hub";
import { rewriteDeviceState } from "../support/device-state";
import { settle } from "../support/settle";
import { writeTransitionsNow } from "../support/transitions";
import { call, newDevice, tenant } from "./helpers";

/** A device's status as its project's row in D1 has it (absent: offline, as registered), and when the row was written. */
async function registryRow(projectId: string, id: string): Promise<{ status: string; written_at: number | null }> {
  const row = await env.DB.prepare("SELECT statuses, written_at FROM project_statuses WHERE project_id = ?")
    .bind(projectId)
    .first<{ statuses: string; written_at: number }>();
  const entry = row ? (JSON.parse(row.statuses) as Record<string, [string, number | null]>)[id] : undefined;
  return { status: entry?.[0] ?? "offline", written_at: row?.written_at ?? null };
}

/** Moves the device's last heartbeat into the past, as if it had gone quiet `ms` ago. */
async function silenceFor(deviceId: string, ms: number) {
  await rewriteDeviceState(deviceHub(env, deviceId), (s) => ({ ...s, lastHeartbeatAt: s.lastHeartbeatAt! - ms }));
}

describe("heartbeats and presence", () => {
  it("the state an object keeps in memory never outlives a rolled-back transaction", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { status: "maintenance" } });
    await runInDurableObject(deviceHub(env, t.deviceId), (hub) => {
      const h = hub as unknown as {
        transaction(w: () => void): void;
        state: { current: { reportedStatus: string; version: number } };
      };
      const before = structuredClone(h.state.current);
      expect(() =>
        h.transaction(() => {
          (hub as any).state.update((s: { reportedStatus: string }) => (s.reportedStatus = "error"));
          throw new Error("rolled back");
        }),
      ).toThrow("rolled back");
      expect(h.state.current).toEqual(before);
    });
    const device = (await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey })).json.device;
    expect(device.status).toBe("maintenance");
  });

  it("a registered device is offline until its first heartbeat, then online with its metrics", async () => {
    const t = await tenant();
    const before = await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey });
    expect(before.json.device.status).toBe("offline");
    expect(before.json.device.last_heartbeat_at).toBeNull();

    const hb = await call("POST", "/fleet/heartbeat", {
      token: t.deviceKey,
      body: {
        status: "online",
        session_id: "run-1",
        metrics: { cpu_usage: 41.5, battery_level: 88, wheel_temp_c: 35 },
      },
    });
    expect(hb.status).toBe(200);
    expect(hb.json).toEqual({
      server_time: expect.stringMatching(/Z$/),
      pending_commands: 0,
      live: false,
      send_interval_s: 60,
    });

    const after = await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey });
    expect(after.json.device).toMatchObject({
      status: "online",
      current_session_id: "run-1",
      metrics: { cpu_usage: 41.5, battery_level: 88, wheel_temp_c: 35 },
      last_heartbeat_at: expect.stringMatching(/Z$/),
      last_seen_at: expect.stringMatching(/Z$/),
    });
    // The fleet list has it at once, from the project's live picture; D1 with the project's next batch of transitions.
    const listed = await call("GET", `/fleet/devices?project_id=${t.projectId}`, { token: t.adminKey });
    expect(listed.json.devices[0]).toMatchObject({
      id: t.deviceId,
      status: "online",
      current_session_id: "run-1",
      last_seen_at: after.json.device.last_seen_at,
    });
    expect((await registryRow(t.projectId, t.deviceId)).status).toBe("offline");
    await writeTransitionsNow(t.projectId);
    expect((await registryRow(t.projectId, t.deviceId)).status).toBe("online");
    const online = await call("GET", `/fleet/devices?project_id=${t.projectId}&status=online`, { token: t.adminKey });
    expect(online.json.devices.map((d: any) => d.id)).toEqual([t.deviceId]);
  });

  it("an empty heartbeat body counts as status online", async () => {
    const t = await tenant();
    expect((await call("POST", "/fleet/heartbeat", { token: t.deviceKey })).status).toBe(200);
    await writeTransitionsNow(t.projectId);
    expect((await registryRow(t.projectId, t.deviceId)).status).toBe("online");
  });

  it("goes offline by the object's alarm after three missed intervals and back online with the next heartbeat", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    const stub = deviceHub(env, t.deviceId);

    // Two missed intervals: the alarm runs but the device stays online.
    await silenceFor(t.deviceId, 2 * 30_000);
    await runDurableObjectAlarm(stub);
    expect((await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey })).json.device.status).toBe(
      "online",
    );

    // Past three intervals: offline, in the object and the project's picture at once, in D1 with the next batch.
    await silenceFor(t.deviceId, 31_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey })).json.device.status).toBe(
      "offline",
    );
    expect(
      (await call("GET", `/fleet/devices?project_id=${t.projectId}`, { token: t.adminKey })).json.devices[0].status,
    ).toBe("offline");
    await writeTransitionsNow(t.projectId);
    expect((await registryRow(t.projectId, t.deviceId)).status).toBe("offline");
    const offline = await call("GET", `/fleet/devices?project_id=${t.projectId}&status=offline`, { token: t.adminKey });
    expect(offline.json.devices.map((d: any) => d.id)).toEqual([t.deviceId]);

    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { status: "error" } });
    // Until the batch, a status filter leaves out a device whose live status no longer matches D1's.
    const stale = await call("GET", `/fleet/devices?project_id=${t.projectId}&status=offline`, { token: t.adminKey });
    expect(stale.json.devices).toEqual([]);
    await writeTransitionsNow(t.projectId);
    expect((await registryRow(t.projectId, t.deviceId)).status).toBe("error");
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    await writeTransitionsNow(t.projectId);
    expect((await registryRow(t.projectId, t.deviceId)).status).toBe("online");
  });

  it("heartbeats without a status change reach D1 never, and the fleet list with the device's next delivery", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { metrics: { cpu_usage: 1 } } });
    await writeTransitionsNow(t.projectId);
    const first = await registryRow(t.projectId, t.deviceId);
    expect(first.status).toBe("online");
    for (let i = 2; i <= 5; i++)
      await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { metrics: { cpu_usage: i } } });
    // The detail view reads the device's own object: live.
    const detail = await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey });
    expect(detail.json.device.metrics).toEqual({ cpu_usage: 5 });

    // The device's delivery of counts carries its presence to the project, and the list shows it; no alarm, no delivery writes D1.
    await settle(t.deviceId);
    await writeTransitionsNow(t.projectId);
    await runDurableObjectAlarm(deviceHub(env, t.deviceId));
    const listed = (await call("GET", `/fleet/devices?project_id=${t.projectId}`, { token: t.adminKey })).json
      .devices[0];
    expect(listed).toMatchObject({
      metrics: { cpu_usage: 5 },
      last_heartbeat_at: detail.json.device.last_heartbeat_at,
    });
    expect(await registryRow(t.projectId, t.deviceId)).toEqual(first);
  });

  it("keeps a downsampled metric history per minute", async () => {
    const t = await tenant();
    for (const cpu of [10, 20, 60]) {
      await call("POST", "/fleet/heartbeat", {
        token: t.deviceKey,
        body: { metrics: { cpu_usage: cpu, temperature: 30 } },
      });
    }
    const res = await call("GET", `/fleet/devices/${t.deviceId}/metrics?interval=1h`, { token: t.viewerKey });
    expect(res.status).toBe(200);
    expect(res.json.interval).toBe("1h");
    const alias = await call("GET", `/fleet/devices/${t.deviceId}/metrics?interval=60m`, { token: t.viewerKey });
    expect(alias.json).toMatchObject({ interval: "1h", points: res.json.points });
    const samples = res.json.points.reduce((n: number, p: any) => n + p.samples, 0);
    expect(samples).toBe(3);
    // Three heartbeats may straddle a minute boundary; across the points the extremes are exact.
    const cpu = res.json.points.map((p: any) => p.metrics.cpu_usage);
    expect(Math.min(...cpu.map((m: any) => m.min))).toBe(10);
    expect(Math.max(...cpu.map((m: any) => m.max))).toBe(60);
    if (res.json.points.length === 1) expect(cpu[0].avg).toBe(30);

    // A week at one-minute resolution would be 10,080 points; the answer picks a coarser interval.
    const wide = await call(
      "GET",
      `/fleet/devices/${t.deviceId}/metrics?from=${Date.now() - 7 * 86_400_000}&interval=1m`,
      { token: t.viewerKey },
    );
    expect(wide.json.interval).toBe("15m");
    const rows = await runInDurableObject(
      deviceHub(env, t.deviceId),
      (_h, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM metric_minutes").one().n,
    );
    expect(rows).toBeLessThanOrEqual(2);

    const bad = await call(
      "GET",
      `/fleet/devices/${t.deviceId}/metrics?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`,
      { token: t.viewerKey },
    );
    expect(bad.status).toBe(400);
    expect(bad.json.error.details[0].path).toBe("from");
  });

  it("keeps metrics whose names are also JavaScript property names", async () => {
    const t = await tenant();
    for (const v of [1, 3]) {
      const raw = `{"metrics":{"constructor":${v},"hasOwnProperty":${v},"toString":${v}}}`;
      await call("POST", "/fleet/heartbeat", {
        token: t.deviceKey,
        raw,
        headers: { "content-type": "application/json" },
      });
    }
    const res = await call("GET", `/fleet/devices/${t.deviceId}/metrics?interval=1d`, { token: t.viewerKey });
    const merged = res.json.points.at(-1).metrics;
    for (const name of ["constructor", "hasOwnProperty", "toString"]) {
      expect(Object.getOwnPropertyDescriptor(merged, name)?.value).toEqual({ avg: 2, min: 1, max: 3 });
    }
  });

  it("rejects too many or non-numeric metrics", async () => {
    const t = await tenant();
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`m${i}`, i]));
    const res = await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { metrics: many } });
    expect(res.status).toBe(400);
    expect(res.json.error.details[0].path).toBe("metrics");
  });

  it("maintenance set on a silent device reads back as maintenance", async () => {
    const t = await tenant();
    const patched = await call("PATCH", `/fleet/devices/${t.deviceId}`, {
      token: t.adminKey,
      body: { status: "maintenance" },
    });
    expect(patched.json.device.status).toBe("maintenance");
    await writeTransitionsNow(t.projectId);
    const listed = await call("GET", `/fleet/devices?project_id=${t.projectId}&status=maintenance`, {
      token: t.adminKey,
    });
    expect(listed.json.devices.map((d: any) => d.id)).toEqual([t.deviceId]);
    await call("PATCH", `/fleet/devices/${t.deviceId}`, { token: t.adminKey, body: { status: "online" } });
    expect((await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey })).json.device.status).toBe(
      "offline",
    );
  });

  it("an operator's maintenance status holds over the device's reports until set back", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    const patched = await call("PATCH", `/fleet/devices/${t.deviceId}`, {
      token: t.adminKey,
      body: { status: "maintenance", name: "Dock robot" },
    });
    expect(patched.status).toBe(200);
    expect(patched.json.device).toMatchObject({ status: "maintenance", name: "Dock robot" });
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { status: "online" } });
    await writeTransitionsNow(t.projectId);
    expect((await registryRow(t.projectId, t.deviceId)).status).toBe("maintenance");
    await call("PATCH", `/fleet/devices/${t.deviceId}`, { token: t.adminKey, body: { status: "online" } });
    await writeTransitionsNow(t.projectId);
    expect((await registryRow(t.projectId, t.deviceId)).status).toBe("online");
  });
});

describe("the project's safety net", () => {
  it("asks a device it has not heard from for long to check itself: one whose alarm was lost goes offline, the others stay", async () => {
    const t = await tenant();
    const fresh = await newDevice(t.adminKey, t.projectId);
    for (const d of [t, fresh]) await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} });
    const stub = deviceHub(env, t.deviceId);
    // Its last heartbeat was two hours ago, the alarm that should have noticed never rang, and the project last heard of it then.
    await rewriteDeviceState(stub, (s) => ({ ...s, lastHeartbeatAt: s.lastHeartbeatAt! - 7_200_000 }));
    await runInDurableObject(stub, (_h, state) => state.storage.deleteAlarm());
    const project = projectHub(env, t.projectId);
    await runInDurableObject(project, (_h, state) => {
      const sql = state.storage.sql;
      const aged = (r: { at: number }) => ({ ...r, at: r.at - 7_200_000 });
      const row = sql.exec<{ report: string }>("SELECT report FROM presence WHERE device_id = ?", t.deviceId).one();
      sql.exec(
        "UPDATE presence SET report = ? WHERE device_id = ?",
        JSON.stringify(aged(JSON.parse(row.report))),
        t.deviceId,
      );
      // What its first delivery said of it, too.
      for (const { sender, seen } of sql
        .exec<{ sender: string; seen: string }>("SELECT sender, seen FROM intake WHERE seen IS NOT NULL")
        .toArray()) {
        const all = JSON.parse(seen);
        if (all[t.deviceId])
          sql.exec(
            "UPDATE intake SET seen = ? WHERE sender = ?",
            JSON.stringify({ ...all, [t.deviceId]: aged(all[t.deviceId]) }),
            sender,
          );
      }
    });
    await evictDurableObject(project);

    const every = PRESENCE_SWEEP.everyMs;
    PRESENCE_SWEEP.everyMs = 0;
    try {
      expect(await runDurableObjectAlarm(project)).toBe(true);
    } finally {
      PRESENCE_SWEEP.everyMs = every;
    }
    const status = async (id: string) =>
      (await call("GET", `/fleet/devices/${id}`, { token: t.adminKey })).json.device.status;
    expect(await status(t.deviceId)).toBe("offline");
    expect(await status(fresh.deviceId)).toBe("online");
    const listed = (await call("GET", `/fleet/devices?project_id=${t.projectId}`, { token: t.adminKey })).json.devices;
    expect(Object.fromEntries(listed.map((d: any) => [d.id, d.status]))).toEqual({
      [t.deviceId]: "offline",
      [fresh.deviceId]: "online",
    });
    await writeTransitionsNow(t.projectId);
    expect((await registryRow(t.projectId, t.deviceId)).status).toBe("offline");
  });
});

describe("decommission", () => {
  it("stops the device key at once and hides the device from the fleet list", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    const res = await call("DELETE", `/fleet/devices/${t.deviceId}`, { token: t.adminKey });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: t.deviceId, decommissioned: true });

    const hb = await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    expect(hb.status).toBe(401);
    expect((await call("GET", `/fleet/devices/${t.deviceId}/commands`, { token: t.deviceKey })).status).toBe(401);

    const list = await call("GET", `/fleet/devices?project_id=${t.projectId}`, { token: t.adminKey });
    expect(list.json.devices).toEqual([]);
    const all = await call("GET", `/fleet/devices?project_id=${t.projectId}&include_decommissioned=true`, {
      token: t.adminKey,
    });
    expect(all.json.devices[0]).toMatchObject({
      id: t.deviceId,
      status: "offline",
      decommissioned_at: expect.any(String),
    });
    const cmd = await call("POST", "/fleet/commands", {
      token: t.adminKey,
      body: { device_id: t.deviceId, command: "reboot" },
    });
    expect(cmd.status).toBe(409);
  });
});
