// The monthly line quota at ingest: a batch crossing the hard limit keeps the lines that fit
// and refuses the rest by index; with none fitting, 429 with the limit, the use and the reset.
// Heartbeats are never blocked; soft limits (enterprise) never refuse. The tier table is data,
// shared with the objects in this isolate, so the tests shrink its limits.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TIERS } from "../../src/contract/tiers";
import { settle } from "../support/settle";
import { call, ingest, line, newDevice, newOrg, newProject } from "./helpers";

const saved = structuredClone(TIERS);
beforeEach(() => {
  TIERS.free.limits.logs_per_month = 100;
  TIERS.enterprise.limits.logs_per_month = 10;
});
afterEach(() => {
  for (const t of ["free", "pro", "enterprise"] as const) TIERS[t].limits = structuredClone(saved[t].limits);
});

const lines = (n: number, tag = "l") => Array.from({ length: n }, (_, i) => line("INFO", `${tag}${i}`));

async function fleet(tier: "free" | "enterprise", devices = 1) {
  const { orgId, adminKey } = await newOrg(tier);
  const projectId = await newProject(adminKey);
  const keys = [];
  for (let i = 0; i < devices; i++) keys.push(await newDevice(adminKey, projectId));
  return { orgId, adminKey, projectId, devices: keys };
}

async function monthLogs(adminKey: string, projectId: string) {
  return (await call("GET", `/stats/usage?project_id=${projectId}`, { token: adminKey })).json.logs as number;
}

describe("the monthly line quota", () => {
  it("keeps the lines that fit, refuses the rest by index, then answers 429 with the reset", async () => {
    const f = await fleet("free");
    const key = f.devices[0]!.deviceKey;
    expect((await ingest(key, { logs: lines(60, "a") })).json.accepted).toBe(60);

    // 60 more, with one invalid line among them: 40 fit; the invalid one keeps its own reason.
    const logs: unknown[] = lines(60, "b");
    logs.splice(10, 0, { level: "INFO", message: "no time or module" });
    const crossing = await ingest(key, { batch_id: "crossing", logs });
    expect(crossing.status).toBe(200);
    expect(crossing.json.accepted).toBe(40);
    expect(crossing.json.rejected).toHaveLength(21);
    expect(crossing.json.rejected[0]).toMatchObject({ index: 10 });
    expect(crossing.json.rejected[0].reason).not.toMatch(/quota/);
    expect(crossing.json.rejected.slice(1).map((r: any) => r.index)).toEqual(
      Array.from({ length: 20 }, (_, i) => 41 + i),
    );
    expect(crossing.json.rejected[1].reason).toMatch(/quota_exceeded/);

    const refused = await ingest(key, { logs: lines(5, "c") });
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({
      code: "quota_exceeded",
      details: { quota: "logs_per_month", limit: 100, used: 100 },
    });
    const reset = new Date(refused.json.error.details.resets_at);
    expect(reset.getUTCDate()).toBe(1);
    expect(reset.getTime()).toBeGreaterThan(Date.now());
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);

    // A retry of a batch already taken gets its answer back; heartbeats still go through.
    expect((await ingest(key, { batch_id: "crossing", logs })).json).toMatchObject({ accepted: 40, duplicate: true });
    expect((await call("POST", "/fleet/heartbeat", { token: key, body: {} })).status).toBe(200);
    await settle(f.devices[0]!.deviceId);
    expect(await monthLogs(f.adminKey, f.projectId)).toBe(100);
  });

  it("is exact when several devices cross it at once", async () => {
    const f = await fleet("free", 4);
    const answers = await Promise.all(
      f.devices.flatMap((d, i) =>
        Array.from({ length: 6 }, (_, b) => ingest(d.deviceKey, { logs: lines(10, `d${i}b${b}-`) })),
      ),
    );
    const accepted = answers.reduce((n, a) => n + (a.status === 200 ? a.json.accepted : 0), 0);
    expect(accepted).toBe(100);
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
    for (const d of f.devices) await settle(d.deviceId);
    expect(await monthLogs(f.adminKey, f.projectId)).toBe(100);
  });

  it("refuses by log bytes too", async () => {
    TIERS.free.limits.log_bytes_per_month = 50;
    const f = await fleet("free");
    const answer = await ingest(f.devices[0]!.deviceKey, {
      logs: [line("INFO", "x".repeat(30)), line("INFO", "y".repeat(30))],
    });
    expect(answer.json.accepted).toBe(1);
    const refused = await ingest(f.devices[0]!.deviceKey, { logs: [line("INFO", "z".repeat(30))] });
    expect(refused.status).toBe(429);
    expect(refused.json.error.details).toMatchObject({ quota: "log_bytes_per_month", limit: 50 });
  });

  it("stops log batches once the month's device messages are used, and nothing else", async () => {
    TIERS.free.limits.device_messages_in_per_month = 6;
    const f = await fleet("free");
    const d = f.devices[0]!;
    for (let i = 0; i < 5; i++)
      expect((await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} })).status).toBe(200);
    expect((await ingest(d.deviceKey, { logs: lines(3) })).json.accepted).toBe(3);
    // Six messages in; the device hears it with its next delivery (a second at most).
    await settle(d.deviceId);
    const refused = await ingest(d.deviceKey, { logs: lines(3, "late") });
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({
      code: "quota_exceeded",
      details: { quota: "device_messages_in_per_month", limit: 6 },
    });
    expect(refused.json.error.details.used).toBeGreaterThanOrEqual(6);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // The fleet stays visible and controllable: heartbeats, commands, polls and acks go on.
    expect((await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} })).status).toBe(200);
    const queued = await call("POST", "/fleet/commands", {
      token: f.adminKey,
      body: { device_id: d.deviceId, command: "reboot" },
    });
    expect(queued.status).toBe(201);
    const polled = await call("GET", `/fleet/devices/${d.deviceId}/commands`, { token: d.deviceKey });
    expect(polled.status).toBe(200);
    const ack = await call("POST", `/fleet/devices/${d.deviceId}/commands/${queued.json.command.id}/ack`, {
      token: d.deviceKey,
      body: { status: "succeeded" },
    });
    expect(ack.status).toBe(200);
    await settle(d.deviceId);
    expect(await monthLogs(f.adminKey, f.projectId)).toBe(3);
  });

  it("never refuses on a soft limit (enterprise): the excess is billed at the month's close", async () => {
    const f = await fleet("enterprise");
    expect((await ingest(f.devices[0]!.deviceKey, { logs: lines(30) })).json.accepted).toBe(30);
    expect((await ingest(f.devices[0]!.deviceKey, { logs: lines(30) })).json.accepted).toBe(30);
  });
});
