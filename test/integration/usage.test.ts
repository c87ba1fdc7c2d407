import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PROJECT_SCHEMA } from "../../durable-objects/project-hub/schema";
import { type OutboxRow, USAGE_FIELDS, type UsageCounters } from "../../src/contract/usage";
import { addDays, utcDay } from "../../src/lib/time";
import { deviceHub } from "../../src/stubs/device-hub";
import { projectHub } from "../../src/stubs/project-hub";
import { settle } from "../support/settle";
import { allLogs, call, ingest, loghubLines, newDevice, newOrg, newProject, tenant } from "./helpers";

const utf8 = (s: string) => new TextEncoder().encode(s).byteLength;
/** log_bytes as documented: UTF-8 bytes of message, module, logger, thread_id and context. */
const bytesOf = (lines: ReturnType<typeof loghubLines>) =>
  lines.reduce(
    (n, l) =>
      n + utf8(l.message) + utf8(l.module) + (l.thread_id ? utf8(l.thread_id) : 0) + utf8(JSON.stringify(l.context)),
    0,
  );

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
    // Active means not offline, and this device has never sent a heartbeat.
    expect(u.active_devices).toBe(0);
    expect(u.limits.logs).toBe(1_000_000_000);
  });

  it("is live: a device delivers its counts at most once per interval, and a stats read still includes every request answered before it", async () => {
    const t = await tenant();
    const hub = projectHub(env, t.projectId);
    const deliveries = () =>
      runInDurableObject(
        hub,
        (_hub, state) =>
          state.storage.sql.exec<{ seq: number }>("SELECT seq FROM intake WHERE sender = ?", t.deviceId).toArray()[0]
            ?.seq ?? 0,
      );
    // The project's own counters, read without the stats API (which asks recent devices to send first).
    const counted = async () => (await hub.usage(utcDay(Date.now()).slice(0, 7), utcDay(Date.now()))).month;
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 25) });
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    await settle(t.deviceId);
    const before = await deliveries();
    expect(await counted()).toMatchObject({ logs: 25, heartbeats: 1 });
    // Within the interval, requests are counted in the device's object (a batch's in its shard) and wait for the next delivery.
    await Promise.all(
      Array.from({ length: 10 }, () => call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} })),
    );
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 5) });
    expect(await deliveries()).toBe(before);
    expect(await counted()).toMatchObject({ logs: 25, heartbeats: 1 });

    // A stats read asks the devices and shards that delivered within the interval to send what they owe first.
    const read = (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
    expect(read.heartbeats).toBe(11);
    expect(read.logs).toBe(30);
    expect(read.device_messages_in).toBe(13);
    expect(await deliveries()).toBe(before + 1);
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
      [0, 1, 2].map((b) => ({
        key: d.deviceKey,
        body: { batch_id: `c-${b}`, logs: loghubLines("BGL", 40, { offset: i * 120 + b * 40 }) },
      })),
    );
    // Every batch goes twice at once, as a client that timed out and retried would send it.
    const answers = await Promise.all(batches.flatMap((b) => [ingest(b.key, b.body), ingest(b.key, b.body)]));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.json.duplicate).length).toBe(batches.length);
    await Promise.all(devices.map((d) => settle(d.deviceId)));
    const u = await usage(t);
    expect(u.logs).toBe(batches.length * 40);
    expect(u.log_bytes).toBe(batches.reduce((n, b) => n + bytesOf(b.body.logs), 0));
    // Active: not offline. Three of the eight send a heartbeat.
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
    const replay = {
      seq: 1,
      day,
      logs: 10,
      log_bytes: 999,
      sessions: 0,
      heartbeats: 0,
      device_messages_in: 1,
      device_messages_out: 0,
      commands: 0,
      api_calls: 1,
      artifact_bytes: 0,
      error_lines: 0,
    };
    // Its batch's counts went with the batch to the shard; the device's own sequence 1 may be
    // taken already (then the first delivery is ignored too) or not: the second changes nothing.
    await projectHub(env, t.projectId).deliver(t.deviceId, [replay], []);
    const once = await usage(t);
    expect([before.logs, before.logs + 10]).toContain(once.logs);
    await projectHub(env, t.projectId).deliver(t.deviceId, [replay], []);
    const after = await usage(t);
    expect(after.logs).toBe(once.logs);
    expect(after.log_bytes).toBe(once.log_bytes);
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
    expect(u).toMatchObject({
      heartbeats: 2,
      sessions: 1,
      commands: 2,
      device_messages_out: 2,
      device_messages_in: 5,
      logs: 0,
    });
  });

  it("is readable only inside the org", async () => {
    const a = await tenant();
    const b = await tenant();
    expect((await call("GET", `/stats/usage?project_id=${a.projectId}`, { token: b.viewerKey })).status).toBe(404);
    expect((await call("GET", `/stats/usage`, { token: a.viewerKey })).status).toBe(400);
  });
});

describe("the counts kept before the intake", () => {
  it("stay readable once the schema step has packed them, and a device's old sequences stay applied", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const hub = projectHub(env, projectId);
    const day = addDays(utcDay(Date.now()), -1);
    const hour = Date.parse(`${day}T10:00:00Z`);
    // The tables as the steps before the intake left them, holding a day of two devices.
    await runInDurableObject(hub, (_hub, state) => {
      const sql = state.storage.sql;
      for (const t of [
        "intake",
        "usage_days",
        "quota_settled",
        "device_day_sets",
        "tally_days",
        "bucket_days",
        "presence",
        "sessions",
        "audit_events",
      ])
        sql.exec(`DROP TABLE ${t}`);
      sql.exec(`CREATE TABLE usage_days (day TEXT PRIMARY KEY, ${USAGE_FIELDS.map((f) => `${f} INTEGER NOT NULL DEFAULT 0`).join(", ")});
        CREATE TABLE device_seqs (device_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
        CREATE TABLE active_device_days (day TEXT NOT NULL, device_id TEXT NOT NULL, PRIMARY KEY (day, device_id));
        CREATE TABLE buckets (minutes INTEGER NOT NULL, metric TEXT NOT NULL, start INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (minutes, metric, start));
        CREATE TABLE device_days (day TEXT NOT NULL, device_id TEXT NOT NULL, lines INTEGER NOT NULL, errors INTEGER NOT NULL, PRIMARY KEY (day, device_id));
        CREATE TABLE tallies (day TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, lines INTEGER NOT NULL, errors INTEGER NOT NULL, PRIMARY KEY (day, kind, key));
        CREATE TABLE device_hours (hour INTEGER NOT NULL, device_id TEXT NOT NULL, PRIMARY KEY (hour, device_id));`);
      sql.exec(
        "INSERT INTO usage_days (day, logs, log_bytes, heartbeats, error_lines) VALUES (?, 100, 5000, 4, 5)",
        day,
      );
      sql.exec("INSERT INTO device_seqs VALUES ('dev-old', 7), ('dev-quiet', 2)");
      sql.exec("INSERT INTO active_device_days VALUES (?, 'dev-old'), (?, 'dev-quiet')", day, day);
      sql.exec("INSERT INTO device_days VALUES (?, 'dev-old', 100, 5)", day);
      sql.exec(
        "INSERT INTO tallies VALUES (?, 'module', 'nav', 100, 5), (?, 'error_message', 'timeout after # ms', 5, 5)",
        day,
        day,
      );
      sql.exec(
        "INSERT INTO buckets VALUES (60, 'logs_info', ?, 95), (60, 'logs_error', ?, 5), (1, 'logs_info', ?, 95), (60, 'heartbeats', ?, 4)",
        hour,
        hour,
        hour + 60_000,
        hour,
      );
      // The packing step, and the steps after it.
      const packing = PROJECT_SCHEMA.findIndex((step) => step.includes("CREATE TABLE intake"));
      for (const step of PROJECT_SCHEMA.slice(packing)) sql.exec(step);
    });
    await evictDurableObject(hub);

    expect((await hub.usage(day.slice(0, 7), day)).today).toMatchObject({
      logs: 100,
      log_bytes: 5000,
      heartbeats: 4,
      error_lines: 5,
    });
    const overview = await hub.overview(day, day, 10);
    expect(overview.devices_by_lines).toEqual([{ key: "dev-old", lines: 100, errors: 5 }]);
    expect(overview.modules_by_errors).toEqual([{ key: "nav", lines: 100, errors: 5 }]);
    expect((await hub.topErrors(day, day, 10)).messages).toEqual([{ key: "timeout after # ms", lines: 5, errors: 5 }]);
    expect(await hub.series(60, ["logs_info", "logs_error"], hour - 3_600_000, hour + 7_200_000)).toEqual([
      { start: hour, n: 100 },
    ]);
    expect(await hub.series(1, ["logs_info"], hour, hour + 3_600_000)).toEqual([{ start: hour + 60_000, n: 95 }]);
    expect(await hub.series(60, ["heartbeats"], hour, hour + 3_600_000)).toEqual([{ start: hour, n: 4 }]);

    // dev-old's sequence 7 was applied before: sent again, it counts nothing; 8 counts.
    const row = (seq: number): OutboxRow => ({
      ...(Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as UsageCounters),
      seq,
      day,
      logs: 10,
    });
    await hub.deliver("dev-old", [row(7)], []);
    expect((await hub.usage(day.slice(0, 7), day)).today.logs).toBe(100);
    await hub.deliver("dev-old", [row(8)], []);
    const closed = await hub.closeDay(day);
    expect(closed).toMatchObject({ logs: 110, active_devices: 2 });
  });
});
