// Alerts end to end in workerd, with a real webhook receiver on 127.0.0.1 (test/webhook-receiver.ts):
// rules fire once and resolve, webhooks are signed and survive failures and an object
// restart, quota and offline rules fire when they should, and other orgs see nothing.
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { TIERS } from "../../src/contract/tiers";
import { deviceHub } from "../../src/stubs/device-hub";
import { projectHub } from "../../src/stubs/project-hub";
import { rewriteDeviceState } from "../support/device-state";
import { settle } from "../support/settle";
import { call, ingest, line, newDevice, newOrg, newProject, tenant } from "./helpers";

const RECEIVER = inject("webhooks");

interface Received {
  status: number;
  verified: boolean;
  body: any;
  headers: Record<string, string>;
}

/** A hook of its own on the receiver, checking signatures with `secret`, failing its first `fail` deliveries. */
async function hook(name: string, secret?: string, fail = 0) {
  await fetch(`${RECEIVER}/control/${name}`, {
    method: "POST",
    body: JSON.stringify({ ...(secret ? { secret } : {}), fail }),
  });
}

async function received(name: string): Promise<Received[]> {
  return ((await (await fetch(`${RECEIVER}/control/${name}`)).json()) as { received: Received[] }).received;
}

async function until<T>(what: string, probe: () => Promise<T | false | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Proves nothing more is on its way to the receiver, without waiting for time to pass: what
 * the devices owe the project is delivered (settle), then the project's alarm runs, which sends
 * every queued webhook, until its webhook queue is empty. A webhook that was going to be sent
 * is in the queue by then, so `received` after this is final.
 */
async function quiet(projectId: string, ...deviceIds: string[]) {
  for (const id of deviceIds) await settle(id);
  const hub = projectHub(env, projectId);
  await until("the webhook queue to empty", async () => {
    await runDurableObjectAlarm(hub);
    const queued = await runInDurableObject(
      hub,
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM webhook_queue").one().n,
    );
    return queued === 0;
  });
}

/** Creates a rule whose one target is a fresh hook on the receiver; tells the receiver its secret. */
async function rule(adminKey: string, projectId: string, body: Record<string, unknown>) {
  const name = crypto.randomUUID();
  const res = await call("POST", "/alert-rules", {
    token: adminKey,
    body: {
      project_id: projectId,
      name: `rule ${name.slice(0, 6)}`,
      targets: [{ url: `${RECEIVER}/hook/${name}` }],
      ...body,
    },
  });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  await hook(name, res.json.targets[0].secret);
  return { id: res.json.rule.id as string, hook: name, secret: res.json.targets[0].secret as string };
}

/** A heartbeat, delivered: the device's object learns the project's current rules from the answer. */
async function beat(t: { deviceId: string; deviceKey: string }, metrics?: Record<string, number>) {
  const res = await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: metrics ? { metrics } : {} });
  expect(res.status).toBe(200);
  await settle(t.deviceId);
}

/** Ages a device's alert conditions by `ms`, as if that much time had passed, and runs its alarm. */
async function age(deviceId: string, ms: number) {
  const stub = deviceHub(env, deviceId);
  await runInDurableObject(stub, (hub, state) => {
    const c = state.storage.kv.get<Record<string, { since?: number }>>("alert_conditions") ?? {};
    for (const v of Object.values(c)) if (v.since !== undefined) v.since -= ms;
    state.storage.kv.put("alert_conditions", c);
    // The object keeps its conditions in memory beside storage: it reads them again.
    (hub as unknown as { alerts: { cachedConditions?: unknown } }).alerts.cachedConditions = undefined;
  });
  await runDurableObjectAlarm(stub);
}

const alertsOf = async (token: string, projectId: string, state?: string) =>
  (await call("GET", `/alerts?project_id=${projectId}${state ? `&state=${state}` : ""}`, { token })).json
    .alerts as any[];

describe("alerts", () => {
  it("an error burst fires one alert and one signed webhook, which the receiver verifies", async () => {
    const t = await tenant();
    const r = await rule(t.adminKey, t.projectId, { kind: "error_rate", params: { count: 5, window_s: 60 } });
    await beat(t);
    const errors = Array.from({ length: 4 }, (_, i) => line("ERROR", `gripper stalled ${i}`));
    expect((await ingest(t.deviceKey, { logs: errors })).status).toBe(200);
    expect((await ingest(t.deviceKey, { logs: [...errors, line("INFO", "fine")] })).status).toBe(200);
    const [first] = await until("the webhook", async () => (await received(r.hook)).length > 0 && received(r.hook));
    expect(first).toMatchObject({ status: 200, verified: true });
    expect(first!.headers["x-fleetbeat-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(Number(first!.headers["x-fleetbeat-timestamp"])).toBeCloseTo(Date.now() / 1000, -2);
    expect(first!.body).toMatchObject({
      id: expect.stringMatching(/^alt_.+\.firing$/),
      project_id: t.projectId,
      rule: { id: r.id, kind: "error_rate" },
      alert: {
        state: "firing",
        device_id: t.deviceId,
        resolved_at: null,
        summary: expect.stringContaining("8 ERROR/FATAL lines"),
      },
    });
    // More errors while it fires: no second alert, no second webhook.
    expect((await ingest(t.deviceKey, { logs: errors })).status).toBe(200);
    await quiet(t.projectId, t.deviceId);
    expect(await received(r.hook)).toHaveLength(1);
    const firing = await until(
      "the alert in D1",
      async () =>
        (await alertsOf(t.adminKey, t.projectId, "firing")).length > 0 && alertsOf(t.adminKey, t.projectId, "firing"),
    );
    expect(firing).toEqual([
      expect.objectContaining({ rule_id: r.id, device_id: t.deviceId, state: "firing", resolved_at: null }),
    ]);
    expect(firing[0].id).toBe(first!.body.alert.id);
  });

  it("a device that stops heartbeating fires device_offline after for_s, and resolves when it comes back", async () => {
    const t = await tenant();
    const r = await rule(t.adminKey, t.projectId, { kind: "device_offline", params: { for_s: 120 } });
    await beat(t);
    const stub = deviceHub(env, t.deviceId);
    // Three missed heartbeats: the offline mark.
    await rewriteDeviceState(stub, (s) => ({ ...s, lastHeartbeatAt: s.lastHeartbeatAt! - 91_000 }));
    await runDurableObjectAlarm(stub);
    expect((await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey })).json.device.status).toBe(
      "offline",
    );
    // Offline for less than for_s: nothing yet.
    await age(t.deviceId, 60_000);
    await quiet(t.projectId, t.deviceId);
    expect(await received(r.hook)).toHaveLength(0);
    // Past for_s, counted from the offline mark.
    await age(t.deviceId, 61_000);
    const [fired] = await until(
      "the firing webhook",
      async () => (await received(r.hook)).length > 0 && received(r.hook),
    );
    expect(fired!.body.alert).toMatchObject({
      state: "firing",
      device_id: t.deviceId,
      summary: expect.stringContaining("offline since"),
    });
    await beat(t);
    const both = await until(
      "the resolved webhook",
      async () => (await received(r.hook)).length > 1 && received(r.hook),
    );
    expect(both[1]!.body).toMatchObject({
      id: `${fired!.body.alert.id}.resolved`,
      alert: { id: fired!.body.alert.id, state: "resolved", resolved_at: expect.any(String) },
    });
    expect(both[1]!.verified).toBe(true);
    const resolved = await until(
      "the resolution in D1",
      async () =>
        (await alertsOf(t.adminKey, t.projectId, "resolved")).length > 0 &&
        alertsOf(t.adminKey, t.projectId, "resolved"),
    );
    expect(resolved[0]).toMatchObject({ id: fired!.body.alert.id, state: "resolved" });
  });

  it("a battery under its threshold for for_s fires; one that dips briefly does not", async () => {
    const t = await tenant();
    const r = await rule(t.adminKey, t.projectId, {
      kind: "metric_threshold",
      params: { metric: "battery_level", op: "<", value: 15, for_s: 300 },
    });
    await beat(t, { battery_level: 80 });
    // A dip: low, then back up before five minutes pass.
    await beat(t, { battery_level: 12 });
    await age(t.deviceId, 120_000);
    await beat(t, { battery_level: 40 });
    await age(t.deviceId, 300_000);
    await quiet(t.projectId, t.deviceId);
    expect(await received(r.hook)).toHaveLength(0);
    // Low for longer than for_s.
    await beat(t, { battery_level: 11 });
    await beat(t, { battery_level: 9 });
    await age(t.deviceId, 301_000);
    const [fired] = await until(
      "the firing webhook",
      async () => (await received(r.hook)).length > 0 && received(r.hook),
    );
    expect(fired!.body.alert).toMatchObject({
      state: "firing",
      summary: expect.stringContaining("battery_level is 9"),
    });
    await beat(t, { battery_level: 95 });
    const both = await until("the resolution", async () => (await received(r.hook)).length > 1 && received(r.hook));
    expect(both.map((x) => x.body.alert.state)).toEqual(["firing", "resolved"]);
  });

  it("a receiver that answers 500 three times gets the delivery on the fourth try, across an object restart", async () => {
    const t = await tenant();
    const r = await rule(t.adminKey, t.projectId, { kind: "error_rate", params: { count: 1, window_s: 60 } });
    await hook(r.hook, r.secret, 3);
    await beat(t);
    expect((await ingest(t.deviceKey, { logs: [line("FATAL", "motor controller lost")] })).status).toBe(200);
    await until("the first failed try", async () => (await received(r.hook)).length > 0);
    // Every object restarts: the queued webhook is in the project's storage, not in memory.
    await abortAllDurableObjects();
    await runDurableObjectAlarm(projectHub(env, t.projectId)).catch(() => undefined);
    const tries = await until(
      "the fourth try",
      async () => (await received(r.hook)).length >= 4 && received(r.hook),
      30_000,
    );
    expect(tries.map((x) => x.status)).toEqual([500, 500, 500, 200]);
    // Every try carried the same idempotency id, so the receiver can tell it is one delivery.
    expect(new Set(tries.map((x) => x.body.id)).size).toBe(1);
    expect(tries.every((x) => x.verified)).toBe(true);
    const deliveries = await until("the attempts in D1", async () => {
      const d = (await call("GET", `/alert-rules/${r.id}/deliveries`, { token: t.viewerKey })).json.deliveries;
      return d.length >= 4 && d;
    });
    expect(deliveries.map((d: any) => [d.attempt, d.status]).reverse()).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
      [4, 200],
    ]);
    expect(deliveries[0]).toMatchObject({ state_change: "firing", error: null });
    expect(deliveries[1].error).toContain("500");
  });

  it("damps flapping with min_firing_s, and sends Slack's shape to a slack target", async () => {
    const t = await tenant();
    const slackHook = crypto.randomUUID();
    const created = await call("POST", "/alert-rules", {
      token: t.adminKey,
      body: {
        project_id: t.projectId,
        name: "Hot motor",
        kind: "metric_threshold",
        params: { metric: "temperature", op: ">", value: 80, for_s: 0 },
        min_firing_s: 600,
        targets: [{ url: `${RECEIVER}/hook/${slackHook}`, format: "slack" }],
      },
    });
    expect(created.status).toBe(201);
    await hook(slackHook, created.json.targets[0].secret);
    await beat(t, { temperature: 60 });
    // Hot, cool, hot, cool within ten minutes: one alert, still firing.
    for (const temperature of [85, 70, 90, 65]) await beat(t, { temperature });
    await quiet(t.projectId, t.deviceId);
    const sent = await received(slackHook);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.verified).toBe(true);
    expect(sent[0]!.body).toEqual({
      text: expect.stringMatching(/^:red_circle: FIRING \*Hot motor\* \(metric_threshold\): temperature is 85/),
    });
    // Ten minutes on, the held resolution goes (aged here, as if the time had passed).
    const hub = projectHub(env, t.projectId);
    await runInDurableObject(hub, (h, state) => {
      state.storage.sql.exec("UPDATE alert_open SET resolve_at = resolve_at - 600000");
      // The object keeps the earliest held resolution in memory beside storage: it reads it again.
      (h as unknown as { alerts: { resolutionAt?: number | null } }).alerts.resolutionAt = undefined;
    });
    await runDurableObjectAlarm(hub);
    const both = await until(
      "the resolution",
      async () => (await received(slackHook)).length > 1 && received(slackHook),
    );
    expect(both[1]!.body.text).toMatch(/^:large_green_circle: RESOLVED \*Hot motor\*/);
    expect(await alertsOf(t.adminKey, t.projectId)).toHaveLength(1);
  });

  it("silencing a firing rule leaves its alert firing", async () => {
    const t = await tenant();
    const r = await rule(t.adminKey, t.projectId, { kind: "error_rate", params: { count: 3, window_s: 60 } });
    await beat(t);
    expect(
      (await ingest(t.deviceKey, { logs: Array.from({ length: 5 }, (_, i) => line("ERROR", `e${i}`)) })).status,
    ).toBe(200);
    await until("the webhook", async () => (await received(r.hook)).length > 0);
    const silenced = await call("PATCH", `/alert-rules/${r.id}`, {
      token: t.adminKey,
      body: { silenced_until: new Date(Date.now() + 3600_000).toISOString() },
    });
    expect(silenced.status).toBe(200);
    // Idle objects are evicted; the windows are in storage, so a restart does not resolve it either.
    await abortAllDurableObjects();
    await runDurableObjectAlarm(deviceHub(env, t.deviceId));
    await beat(t);
    await quiet(t.projectId, t.deviceId);
    expect((await received(r.hook)).map((x) => x.body.alert.state)).toEqual(["firing"]);
  });

  it("a project-wide error rate sums its devices' errors into one alert for the project", async () => {
    const t = await tenant();
    const second = await newDevice(t.adminKey, t.projectId);
    const r = await rule(t.adminKey, t.projectId, {
      kind: "error_rate",
      params: { count: 4, window_s: 60, scope: "project" },
    });
    // Two errors from each device: neither reaches four, the project does.
    for (const d of [t, second]) {
      expect(
        (await ingest(d.deviceKey, { logs: [line("ERROR", "lidar timeout"), line("ERROR", "lidar timeout")] })).status,
      ).toBe(200);
      await settle(d.deviceId);
    }
    const [fired] = await until(
      "the project's webhook",
      async () => (await received(r.hook)).length > 0 && received(r.hook),
    );
    expect(fired!.body.alert).toMatchObject({
      state: "firing",
      summary: expect.stringContaining("4 ERROR/FATAL lines across the project"),
    });
    expect(fired!.body.alert.device_id).toBeUndefined();
    await quiet(t.projectId, t.deviceId, second.deviceId);
    expect(await received(r.hook)).toHaveLength(1);
  });

  it("a quota rule fires at its percentage", async () => {
    const t = await tenant();
    const r = await rule(t.adminKey, t.projectId, { kind: "quota", params: { percent: 80 } });
    await beat(t);
    expect(await received(r.hook)).toHaveLength(0);
    // The org is on pro; the hourly job counts 85% of its storage limit in R2.
    await projectHub(env, t.projectId).addStorage(Math.ceil(TIERS.pro.limits.storage_bytes * 0.85));
    const [fired] = await until(
      "the quota webhook",
      async () => (await received(r.hook)).length > 0 && received(r.hook),
    );
    expect(fired!.body.alert).toMatchObject({
      state: "firing",
      summary: expect.stringMatching(/storage_bytes at 85\.\d% of the month's limit/),
    });
    expect(fired!.body.alert.device_id).toBeUndefined();
  });

  it("silencing a rule stops it raising alerts; another org can neither see nor trigger it", async () => {
    const t = await tenant();
    const r = await rule(t.adminKey, t.projectId, { kind: "error_rate", params: { count: 1, window_s: 60 } });
    const other = await newOrg();
    const otherProject = await newProject(other.adminKey);
    const otherDevice = await newDevice(other.adminKey, otherProject);

    // Another org: the rule, its alerts and its deliveries are as unknown as a missing rule.
    expect((await call("GET", `/alert-rules/${r.id}`, { token: other.adminKey })).status).toBe(404);
    expect(
      (await call("PATCH", `/alert-rules/${r.id}`, { token: other.adminKey, body: { name: "mine" } })).status,
    ).toBe(404);
    expect((await call("DELETE", `/alert-rules/${r.id}`, { token: other.adminKey })).status).toBe(404);
    expect((await call("GET", `/alert-rules/${r.id}/deliveries`, { token: other.adminKey })).status).toBe(404);
    expect((await call("GET", `/alerts?project_id=${t.projectId}`, { token: other.adminKey })).status).toBe(404);
    expect((await call("GET", `/alert-rules?project_id=${t.projectId}`, { token: other.adminKey })).status).toBe(404);
    const foreign = await call("POST", "/alert-rules", {
      token: other.adminKey,
      body: {
        project_id: t.projectId,
        name: "x",
        kind: "quota",
        params: { percent: 50 },
        targets: [{ url: `${RECEIVER}/hook/x` }],
      },
    });
    expect(foreign.status).toBe(404);
    const foreignDevice = await call("POST", "/alert-rules", {
      token: t.adminKey,
      body: {
        project_id: t.projectId,
        name: "x",
        kind: "device_offline",
        params: { for_s: 60 },
        device_id: otherDevice.deviceId,
        targets: [{ url: `${RECEIVER}/hook/x` }],
      },
    });
    expect(foreignDevice.status).toBe(404);
    // Its devices' errors do not reach this project's rules.
    await beat(otherDevice);
    expect((await ingest(otherDevice.deviceKey, { logs: [line("FATAL", "not yours")] })).status).toBe(200);
    await settle(otherDevice.deviceId);
    // A viewer reads rules but does not change them.
    expect(
      (await call("GET", `/alert-rules?project_id=${t.projectId}`, { token: t.viewerKey })).json.rules,
    ).toHaveLength(1);
    expect((await call("PATCH", `/alert-rules/${r.id}`, { token: t.viewerKey, body: { name: "x" } })).status).toBe(403);

    // Silenced for an hour: errors raise nothing.
    const until1h = new Date(Date.now() + 3600_000).toISOString();
    const silenced = await call("PATCH", `/alert-rules/${r.id}`, {
      token: t.adminKey,
      body: { silenced_until: until1h },
    });
    expect(silenced.json.rule.silenced_until).toBe(until1h);
    await beat(t);
    expect((await ingest(t.deviceKey, { logs: [line("ERROR", "silenced")] })).status).toBe(200);
    await quiet(t.projectId, t.deviceId);
    expect(await received(r.hook)).toHaveLength(0);
    expect(await alertsOf(t.adminKey, t.projectId)).toEqual([]);
  });

  it("validates rules at the edge, with the field's path", async () => {
    const t = await tenant();
    const post = (body: Record<string, unknown>) =>
      call("POST", "/alert-rules", {
        token: t.adminKey,
        body: { project_id: t.projectId, name: "r", targets: [{ url: "https://hooks.example.com/x" }], ...body },
      });
    const short = await post({ kind: "device_offline", params: { for_s: 10 } });
    expect(short.status).toBe(400);
    expect(short.json.error.details[0].path).toBe("params.for_s");
    expect(
      (await post({ kind: "metric_threshold", params: { metric: "battery_level", op: "<=", value: 1, for_s: 0 } })).json
        .error.details[0].path,
    ).toBe("params.op");
    expect((await post({ kind: "nonsense", params: {} })).status).toBe(400);
    expect((await post({ kind: "quota", params: { percent: 50 }, targets: [] })).json.error.details[0].path).toBe(
      "targets",
    );
    const r = await post({ kind: "quota", params: { percent: 50 } });
    expect(r.status).toBe(201);
    expect(r.json.targets[0].secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    // Secrets are shown once: never in the rule as it is read later.
    expect(
      JSON.stringify((await call("GET", `/alert-rules/${r.json.rule.id}`, { token: t.adminKey })).json),
    ).not.toContain("whsec_");
    const patched = await call("PATCH", `/alert-rules/${r.json.rule.id}`, {
      token: t.adminKey,
      body: { params: { percent: 150 } },
    });
    expect(patched.status).toBe(400);
    expect(patched.json.error.details[0].path).toBe("percent");
    expect((await call("DELETE", `/alert-rules/${r.json.rule.id}`, { token: t.adminKey })).status).toBe(204);
    expect((await call("GET", `/alert-rules/${r.json.rule.id}`, { token: t.adminKey })).status).toBe(404);
    // A deleted project takes its rules with it.
    const kept = await post({ kind: "quota", params: { percent: 90 } });
    expect((await call("DELETE", `/projects/${t.projectId}`, { token: t.adminKey })).status).toBeLessThan(300);
    expect((await call("GET", `/alert-rules/${kept.json.rule.id}`, { token: t.adminKey })).status).toBe(404);
  });
});
