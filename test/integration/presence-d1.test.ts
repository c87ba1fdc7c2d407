// Presence off D1's hot path (issue 22): a steady heartbeat writes nothing to D1; status
// transitions reach D1 as one row per project with the moment each happened; the fleet list
// reads the live picture from the project's object in one call; a rule change spreads the
// devices' fetches. D1's writes are counted by triggers on every table of the real database
// (each row inserted, updated or deleted adds one), so nothing that writes D1 can hide.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { RULES_SPREAD } from "../../durable-objects/device-hub/alerts";
import { ListDevices } from "../../src/contract/fleet";
import { createDb } from "../../src/db/client";
import { listFleet } from "../../src/services/fleet-presence";
import { deviceHub } from "../../src/stubs/device-hub";
import { projectHub } from "../../src/stubs/project-hub";
import { countD1Rows, d1RowsWritten } from "../support/d1-rows";
import { rewriteDeviceState } from "../support/device-state";
import { settle } from "../support/settle";
import { transitionBatches, writeTransitionsNow } from "../support/transitions";
import { call, newDevice, newOrg, newProject, openSocket } from "./helpers";

beforeAll(countD1Rows);

/** A device's status and the moment it changed, as its project's row in D1 has them (absent: offline). */
async function registry(projectId: string, id: string): Promise<{ status: string; status_changed_at: number | null }> {
  const row = await env.DB.prepare("SELECT statuses FROM project_statuses WHERE project_id = ?")
    .bind(projectId)
    .first<{ statuses: string }>();
  const entry = row ? (JSON.parse(row.statuses) as Record<string, [string, number | null]>)[id] : undefined;
  return entry ? { status: entry[0], status_changed_at: entry[1] } : { status: "offline", status_changed_at: null };
}
const detail = async (token: string, id: string) => (await call("GET", `/fleet/devices/${id}`, { token })).json.device;
const beat = (deviceKey: string, body: Record<string, unknown> = {}) =>
  call("POST", "/fleet/heartbeat", { token: deviceKey, body });

/** A project with `n` devices. */
async function fleet(n: number) {
  const { orgId, adminKey } = await newOrg();
  const projectId = await newProject(adminKey);
  const devices = [];
  for (let i = 0; i < n; i++) devices.push(await newDevice(adminKey, projectId));
  return { orgId, adminKey, projectId, devices };
}

/** The device went quiet three intervals ago: its alarm marks it offline, as it would have then. */
async function silence(deviceId: string) {
  await rewriteDeviceState(deviceHub(env, deviceId), (s) => ({ ...s, lastHeartbeatAt: s.lastHeartbeatAt! - 91_000 }));
  expect(await runDurableObjectAlarm(deviceHub(env, deviceId))).toBe(true);
}

/**
 * `env` with the object namespaces wrapped so that every call to an object is counted, by class
 * (the way issue 22 counts object calls per request).
 */
function countingEnv() {
  const calls = { project: 0, device: 0 };
  const wrap = (ns: DurableObjectNamespace, kind: keyof typeof calls) =>
    new Proxy(ns, {
      get(target, prop) {
        if (prop !== "get") {
          const v = Reflect.get(target, prop);
          return typeof v === "function" ? v.bind(target) : v;
        }
        return (id: DurableObjectId) => {
          const stub = target.get(id);
          return new Proxy(stub, {
            get(s, method) {
              const v = Reflect.get(s, method);
              if (typeof v !== "function") return v;
              return (...args: unknown[]) => {
                calls[kind]++;
                return Reflect.apply(v, s, args);
              };
            },
          });
        };
      },
    });
  const namespaces: Record<string, unknown> = {
    PROJECT_HUB: wrap(env.PROJECT_HUB as unknown as DurableObjectNamespace, "project"),
    DEVICE_HUB: wrap(env.DEVICE_HUB as unknown as DurableObjectNamespace, "device"),
  };
  // A view of env, never a change to it: the other tests keep the real namespaces.
  const wrapped = new Proxy(env, {
    get: (target, prop) =>
      typeof prop === "string" && prop in namespaces ? namespaces[prop] : Reflect.get(target, prop),
  });
  return { env: wrapped, calls };
}

describe("presence and D1", () => {
  it("a steady heartbeat writes nothing to D1: over HTTPS and over the socket, with deliveries, alarms and the project's batches", async () => {
    const f = await fleet(4);
    const [socketDevice, ...httpsDevices] = f.devices;
    const socket = await openSocket("/fleet/connect", { authorization: `Bearer ${socketDevice!.deviceKey}` });
    await socket.until((frames) => frames.some((x) => x.type === "ready"));
    // Coming online is a transition: D1 hears of it with the project's batch.
    for (const d of httpsDevices) expect((await beat(d.deviceKey, { metrics: { cpu_usage: 1 } })).status).toBe(200);
    socket.send({ type: "heartbeat", metrics: { cpu_usage: 1 } });
    await socket.until((frames) => frames.filter((x) => x.type === "ack").length === 1);
    for (const d of f.devices) await settle(d.deviceId);
    await writeTransitionsNow(f.projectId);
    for (const d of f.devices) expect((await registry(f.projectId, d.deviceId)).status).toBe("online");

    const before = await d1RowsWritten();
    const rounds = 25;
    for (let i = 0; i < rounds; i++) {
      for (const d of httpsDevices) expect((await beat(d.deviceKey, { metrics: { cpu_usage: i } })).status).toBe(200);
      socket.send({ type: "heartbeat", metrics: { cpu_usage: i } });
      await socket.until((frames) => frames.filter((x) => x.type === "ack").length === i + 2);
    }
    // Deliveries of counts (carrying last seen and metrics), the devices' alarms, the project's alarm with its batch due.
    for (const d of f.devices) {
      await settle(d.deviceId);
      await runDurableObjectAlarm(deviceHub(env, d.deviceId));
    }
    await writeTransitionsNow(f.projectId);
    const written = (await d1RowsWritten()) - before;
    console.log(
      `D1 rows written by ${rounds * f.devices.length} steady heartbeats of ${f.devices.length} devices: ${written}`,
    );
    expect(written).toBe(0);
    // Yet the fleet list has the latest: from the project's picture, as of the deliveries.
    const listed = (await call("GET", `/fleet/devices?project_id=${f.projectId}`, { token: f.adminKey })).json.devices;
    expect(listed.map((d: any) => d.metrics)).toEqual(f.devices.map(() => ({ cpu_usage: rounds - 1 })));
    socket.ws!.close();
  });

  it("transitions within a minute reach D1 as one row of the project, each with the moment it happened, however many devices changed", async () => {
    const f = await fleet(4);
    const [a, b, c, d] = f.devices;
    for (const x of f.devices) await beat(x.deviceKey);
    // The first beats' counts go to the project a second later: delivered now, so they do not land among the rows counted below.
    for (const x of f.devices) await settle(x.deviceId);
    await writeTransitionsNow(f.projectId);
    const { batches } = await transitionBatches(f.projectId);

    const before = await d1RowsWritten();
    const projectRowsBefore = (await projectHub(env, f.projectId).storageRows()).project;
    // A heartbeat also owes its count, which the device delivers a second later (sooner than a
    // slow machine runs the next step): delivered here at once, its rows are taken out of the tally.
    const rowsNow = async () => (await projectHub(env, f.projectId).storageRows()).project;
    let deliveryRows = 0;
    const beatAndDeliver = async (x: typeof c, body?: Record<string, unknown>) => {
      await beat(x!.deviceKey, body);
      const atBeat = await rowsNow();
      await settle(x!.deviceId);
      deliveryRows += (await rowsNow()) - atBeat;
    };
    await silence(a!.deviceId);
    await silence(b!.deviceId);
    await beatAndDeliver(c, { status: "error" });
    await silence(d!.deviceId);
    await beatAndDeliver(d);
    // Five transitions cost the project's object a row each (and the alarm its batch needs).
    const projectRows = (await rowsNow()) - projectRowsBefore - deliveryRows;
    console.log(`rows written in the project's object by 5 transitions: ${projectRows}`);
    expect(projectRows).toBeLessThanOrEqual(5 + 2);
    // The project's picture has them all at once; D1 nothing yet, even when the project's alarm rings before the minute.
    const listed = (await call("GET", `/fleet/devices?project_id=${f.projectId}`, { token: f.adminKey })).json.devices;
    expect(Object.fromEntries(listed.map((x: any) => [x.id, x.status]))).toEqual({
      [a!.deviceId]: "offline",
      [b!.deviceId]: "offline",
      [c!.deviceId]: "error",
      [d!.deviceId]: "online",
    });
    await runDurableObjectAlarm(projectHub(env, f.projectId));
    expect(await d1RowsWritten()).toBe(before);
    for (const x of f.devices) expect((await registry(f.projectId, x.deviceId)).status).toBe("online");

    await writeTransitionsNow(f.projectId);
    expect((await transitionBatches(f.projectId)).batches).toBe(batches + 1);
    // One row for the project (d went offline and back: its latest), and nothing else.
    expect((await d1RowsWritten()) - before).toBe(1);
    for (const x of f.devices) {
      const live = await detail(f.adminKey, x.deviceId);
      const row = await registry(f.projectId, x.deviceId);
      expect(row.status).toBe(live.status);
      // The moment the device's own object stamped, to the millisecond.
      expect(new Date(row.status_changed_at!).toISOString()).toBe(live.status_changed_at);
    }
    expect((await registry(f.projectId, d!.deviceId)).status).toBe("online");
    // The next batch waits a minute after this one, however soon a transition comes.
    await beat(a!.deviceKey);
    const last = (await transitionBatches(f.projectId)).at;
    const alarm = await runInDurableObject(projectHub(env, f.projectId), (_h, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThanOrEqual(last + 60_000);
  });

  it("the fleet list shows the live status and last seen from the project's object, in one call for the page, however stale D1 is", async () => {
    const f = await fleet(5);
    for (const d of f.devices) await beat(d.deviceKey, { metrics: { battery_level: 50 } });
    // D1 has not had the project's batch: every row still says offline, never seen by a heartbeat.
    for (const d of f.devices) expect((await registry(f.projectId, d.deviceId)).status).toBe("offline");

    const counted = countingEnv();
    const q = ListDevices.parse({ project_id: f.projectId });
    const page = await listFleet(counted.env, createDb(env.DB), f.orgId, q);
    expect(counted.calls).toEqual({ project: 1, device: 0 });
    expect(page.devices).toHaveLength(5);
    for (const d of f.devices) {
      const live = await detail(f.adminKey, d.deviceId);
      const listed = page.devices.find((x) => x.id === d.deviceId)!;
      expect(listed).toMatchObject({
        status: "online",
        last_seen_at: live.last_seen_at,
        last_heartbeat_at: live.last_heartbeat_at,
        metrics: { battery_level: 50 },
      });
    }
  });

  it("a rule change makes each device fetch the rules at a moment of its own within the spread, not at once", async () => {
    const spread = RULES_SPREAD.ms;
    // An hour rather than a minute, so that no device's moment comes while the test looks.
    RULES_SPREAD.ms = 3_600_000;
    try {
      const f = await fleet(4);
      for (const d of f.devices) {
        await beat(d.deviceKey);
        await settle(d.deviceId);
      }
      const rule = await call("POST", "/alert-rules", {
        token: f.adminKey,
        body: {
          project_id: f.projectId,
          name: "offline",
          kind: "device_offline",
          params: { for_s: 120 },
          targets: [{ url: "https://hooks.example.com/x" }],
        },
      });
      expect(rule.status, JSON.stringify(rule.json)).toBe(201);
      const { version } = await projectHub(env, f.projectId).alertRulesFor(f.devices[0]!.deviceId, null);
      const held = (id: string) =>
        runInDurableObject(deviceHub(env, id), (hub) => ({
          version: (hub as unknown as { alerts: { stored: { version: number } } }).alerts.stored.version,
          at: (hub as unknown as { alerts: { announced: { at: number } | null } }).alerts.announced?.at ?? null,
        }));
      const moments: number[] = [];
      for (const d of f.devices) {
        const heardAt = Date.now();
        // What the project's push (or a delivery's answer) tells a device.
        await deviceHub(env, d.deviceId).alertRulesChanged(version);
        const before = await held(d.deviceId);
        expect(before.version).not.toBe(version);
        expect(before.at).toBeGreaterThanOrEqual(heardAt - 5_000);
        expect(before.at).toBeLessThanOrEqual(heardAt + RULES_SPREAD.ms);
        moments.push(before.at! - heardAt);
        // The alarm ringing before the device's moment fetches nothing.
        await runDurableObjectAlarm(deviceHub(env, d.deviceId));
        expect((await held(d.deviceId)).version).not.toBe(version);
        // At its moment (here: a test settling the device) it asks, once.
        await settle(d.deviceId);
        expect(await held(d.deviceId)).toEqual({ version, at: null });
      }
      // Four devices, four moments: spread, not stacked.
      expect(new Set(moments.map((m) => Math.round(m / 1000))).size).toBe(moments.length);
    } finally {
      RULES_SPREAD.ms = spread;
    }
  });
});
