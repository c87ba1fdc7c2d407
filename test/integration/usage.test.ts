import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { utcDay } from "../../src/lib/time";
import { deviceHub } from "../../src/stubs/device-hub";
import { projectHub } from "../../src/stubs/project-hub";
import { allLogs, call, ingest, loghubLines, newDevice, tenant } from "./helpers";
import { settle } from "../support/settle";
import { COUNTS_EVERY_MS } from "../../durable-objects/coalesced";

const utf8 = (s: string) => new TextEncoder().encode(s).byteLength;
/** log_bytes as documented: UTF-8 bytes of message, module, logger, thread_id and context. */
const bytesOf = (lines: ReturnType<typeof loghubLines>) =>
  lines.reduce((n, l) => n + utf8(l.message) + utf8(l.module) + (l.thread_id ? utf8(l.thread_id) : 0) + utf8(JSON.stringify(l.context)), 0);

async function usage(t: { viewerKey: string; projectId: string; deviceId: string }) {
  await settle(t.deviceId);
  const res = await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey });
  expect(res.status).toBe(200);
  return res.json;
}

describe("exact usage counting", () => {
  it("counts a batch sent twice once, across an eviction of the device object", async () => {
    const t = await tenant();
    const a = loghubLines("HDFS", 300);
    const b = loghubLines("Android", 200, { offset: 300 });
    const first = await ingest(t.deviceKey, { batch_id: "a", logs: a });
    expect(first.json.accepted).toBe(300);
    expect((await ingest(t.deviceKey, { batch_id: "a", logs: a })).json.duplicate).toBe(true);

    await settle(t.deviceId);
    await evictDurableObject(deviceHub(env, t.deviceId));
    expect((await ingest(t.deviceKey, { batch_id: "b", logs: b })).json.accepted).toBe(200);
    await evictDurableObject(deviceHub(env, t.deviceId));
    expect((await ingest(t.deviceKey, { batch_id: "b", logs: b })).json.duplicate).toBe(true);

    const u = await usage(t);
    expect(u.logs).toBe(500);
    expect(u.log_bytes).toBe(bytesOf(a) + bytesOf(b));
    expect(u.device_messages_in).toBe(4);
    // Four device calls, and the org key's capsule for the device (it names the project).
    expect(u.api_calls).toBe(4 + 1);
    expect(u.month).toBe(utcDay(Date.now()).slice(0, 7));
    expect(u.today.logs).toBe(500);
    expect(u.devices).toBe(1);
    // Active means a heartbeat in the last 5 minutes, and this device has sent none.
    expect(u.active_devices).toBe(0);
    expect(u.limits.logs).toBe(1_000_000_000);
  });

  it("is live: a device delivers at most once a second, and a stats read still includes every request answered before it", async () => {
    const t = await tenant();
    const hub = projectHub(env, t.projectId);
    const deliveries = () =>
      runInDurableObject(hub, (_hub, state) => state.storage.sql.exec<{ seq: number }>("SELECT seq FROM device_seqs WHERE device_id = ?", t.deviceId).toArray()[0]?.seq ?? 0);
    // The project's own counters, read without the stats API (which asks recent devices to send first).
    const counted = async () => (await hub.usage(utcDay(Date.now()).slice(0, 7), utcDay(Date.now()))).month;
    await settle(t.deviceId);
    // A second after its last delivery, a request's counts are at the project when it answers.
    await new Promise((r) => setTimeout(r, COUNTS_EVERY_MS));
    const started = Date.now();
    const before = await deliveries();
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 25) });
    expect((await counted()).logs).toBe(25);
    expect(await deliveries()).toBe(before + 1);
    // Ten more requests at once: their counts follow within the second, by the device's alarm.
    await Promise.all(Array.from({ length: 10 }, () => call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} })));
    await expect.poll(async () => (await counted()).heartbeats, { timeout: 5_000, interval: 100 }).toBe(10);
    expect((await counted()).device_messages_in).toBe(11);
    // At most one delivery per second of the test, however many requests there were.
    expect((await deliveries()) - before).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 1000) + 1);

    // A stats read asks the devices that delivered in the last moments to send what they owe first.
    await Promise.all(Array.from({ length: 5 }, () => call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} })));
    const read = (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
    expect(read.heartbeats).toBe(15);
    expect(read.device_messages_in).toBe(16);
  });

  it("counts by the day of receipt, not by the lines' event time", async () => {
    const t = await tenant();
    const twoDaysAgo = Date.now() * 1000 - 2 * 86_400_000_000;
    await ingest(t.deviceKey, { logs: loghubLines("Linux", 30, { endUs: twoDaysAgo }) });
    const u = await usage(t);
    expect(u.today).toMatchObject({ day: utcDay(Date.now()), logs: 30 });
  });

  it("stays exact when the objects are torn down mid-delivery and the alarm redelivers", async () => {
    const t = await tenant();
    const lines = loghubLines("Linux", 400);
    for (let i = 0; i < 3; i++) {
      expect((await ingest(t.deviceKey, { logs: lines.slice(i * 100, i * 100 + 100) })).json.accepted).toBe(100);
      // Tear down every object at once: a delivery may be in flight, applied or not.
      await abortAllDurableObjects();
      await runDurableObjectAlarm(deviceHub(env, t.deviceId));
    }
    const u = await usage(t);
    expect(u.logs).toBe(300);
    expect(u.log_bytes).toBe(bytesOf(lines.slice(0, 300)));
    expect(u.device_messages_in).toBe(3);
  });

  it("stays exact with many devices sending, and retrying, at the same time", async () => {
    const t = await tenant();
    const devices = [{ deviceKey: t.deviceKey, deviceId: t.deviceId }];
    for (let i = 0; i < 7; i++) devices.push(await newDevice(t.adminKey, t.projectId));
    const batches = devices.flatMap((d, i) =>
      [0, 1, 2].map((b) => ({ key: d.deviceKey, body: { batch_id: `c-${b}`, logs: loghubLines("BGL", 40, { offset: i * 120 + b * 40 }) } })),
    );
    // Every batch goes twice at once, as a client that timed out and retried would send it.
    const answers = await Promise.all(batches.flatMap((b) => [ingest(b.key, b.body), ingest(b.key, b.body)]));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.json.duplicate).length).toBe(batches.length);
    await Promise.all(devices.map((d) => settle(d.deviceId)));
    const u = await usage(t);
    expect(u.logs).toBe(batches.length * 40);
    expect(u.log_bytes).toBe(batches.reduce((n, b) => n + bytesOf(b.body.logs), 0));
    // Active: a heartbeat in the last 5 minutes. Three of the eight send one.
    expect(u.active_devices).toBe(0);
    for (const d of devices.slice(0, 3)) await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} });
    expect((await usage(t)).active_devices).toBe(3);
    expect((await allLogs(t.viewerKey, `project_id=${t.projectId}&limit=1000`)).length).toBe(batches.length * 40);
  });

  it("a redelivered outbox sequence is applied once", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { logs: loghubLines("HPC", 10) });
    const before = await usage(t);
    const day = utcDay(Date.now());
    const replay = { seq: 1, day, logs: 10, log_bytes: 999, sessions: 0, heartbeats: 0, device_messages_in: 1, device_messages_out: 0, commands: 0, api_calls: 1, artifact_bytes: 0, error_lines: 0 };
    await projectHub(env, t.projectId).deliver(t.deviceId, [replay], []);
    await projectHub(env, t.projectId).deliver(t.deviceId, [replay], []);
    const after = await usage(t);
    expect(after.logs).toBe(before.logs);
    expect(after.log_bytes).toBe(before.log_bytes);
  });

  it("counts heartbeats, sessions, commands and messages to and from devices", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "u-1", name: "u" } });
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "u-1", name: "u" } });
    await call("POST", "/fleet/commands", { token: t.adminKey, body: { device_id: t.deviceId, command: "a" } });
    await call("POST", "/fleet/commands", { token: t.adminKey, body: { device_id: t.deviceId, command: "b" } });
    await call("GET", `/fleet/devices/${t.deviceId}/commands`, { token: t.deviceKey });
    const u = await usage(t);
    expect(u).toMatchObject({ heartbeats: 2, sessions: 1, commands: 2, device_messages_out: 2, device_messages_in: 5, logs: 0 });
  });

  it("is readable only inside the org", async () => {
    const a = await tenant();
    const b = await tenant();
    expect((await call("GET", `/stats/usage?project_id=${a.projectId}`, { token: b.viewerKey })).status).toBe(404);
    expect((await call("GET", `/stats/usage`, { token: a.viewerKey })).status).toBe(400);
  });
});
