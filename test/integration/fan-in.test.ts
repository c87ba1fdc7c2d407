// The fan-in tier at small scale: past FAN_IN.fromDevices active devices, a project's devices
// deliver through fan-in objects, which pass their counts on at most once a second. The
// project's numbers stay exactly what its devices did, through duplicates and restarts.

import { abortAllDurableObjects, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FAN_IN, fanInIndex } from "../../src/contract/fan-in";
import { shardName, shardOf } from "../../src/contract/log-shards";
import { type OutboxRow, USAGE_FIELDS } from "../../src/contract/usage";
import { utcDay } from "../../src/lib/time";
import { fanInByName, fanInName } from "../../src/stubs/fan-in";
import { projectHub } from "../../src/stubs/project-hub";
import { settle, settleFanIn } from "../support/settle";
import { call, ingest, line, newDevice, newOrg, newProject, openSocket, tailTicket, tenant } from "./helpers";

const usual = { ...FAN_IN };
/** Six devices, fanning in past two, two to a fan-in object: three of them. */
const DEVICES = 6;
const SHARDS = 3;

/** What the project's object has applied from each sender (devices and fan-in objects). */
const senders = (projectId: string) =>
  runInDurableObject(projectHub(env, projectId), (_hub, state) =>
    Object.fromEntries(
      state.storage.sql
        .exec<{ sender: string; seq: number }>("SELECT sender, seq FROM intake")
        .toArray()
        .map((r) => [r.sender, r.seq]),
    ),
  );

describe("the fan-in tier", () => {
  beforeEach(() => Object.assign(FAN_IN, { fromDevices: 2, devicesEach: 2, recountMs: 0 }));
  afterEach(() => Object.assign(FAN_IN, usual));

  it("carries a large project's counts exactly, through retries and restarts, to the same numbers", async () => {
    const t = await tenant();
    const devices = [{ deviceId: t.deviceId, deviceKey: t.deviceKey }];
    for (let i = 1; i < DEVICES; i++) devices.push(await newDevice(t.adminKey, t.projectId));
    const settleAll = async () => {
      for (const d of devices) await settle(d.deviceId);
      await settleFanIn(t.projectId, SHARDS);
    };

    // Each device heartbeats, straight to the project: now six are active, so the project fans
    // in. Each device learns it from its next answer, so a second round still goes straight.
    for (let round = 0; round < 2; round++) {
      for (const d of devices) await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} });
      await settleAll();
    }
    const direct = await senders(t.projectId);
    for (const d of devices)
      expect(direct[d.deviceId], "the first delivery goes straight to the project").toBeGreaterThan(0);

    // Now traffic: every device sends lines (a tenth of them errors) and a heartbeat; every batch goes twice.
    let lines = 0;
    let errors = 0;
    const perDevice = new Map<string, number>();
    for (const [i, d] of devices.entries()) {
      const logs = Array.from({ length: 20 + i }, (_, k) => ({
        ...line(k % 10 === 0 ? "ERROR" : "INFO", `device ${i} line ${k}`),
        module: `m${i % 2}`,
      }));
      lines += logs.length;
      errors += logs.filter((l) => l.level === "ERROR").length;
      perDevice.set(d.deviceId, logs.length);
      const sent = await Promise.all([
        ingest(d.deviceKey, { batch_id: "a", logs }),
        ingest(d.deviceKey, { batch_id: "a", logs }),
      ]);
      expect(sent.map((s) => s.json.duplicate).sort()).toEqual([false, true]);
      await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} });
      // Half way, every object is torn down at once: deliveries in flight are lost or applied, unanswered.
      if (i === 2) await abortAllDurableObjects();
    }
    await settleAll();

    // Every device's later deliveries went through its fan-in object, not to the project.
    const after = await senders(t.projectId);
    for (const d of devices)
      expect(after[d.deviceId], "no direct delivery after the project fanned in").toBe(direct[d.deviceId]);
    const used = new Set(devices.map((d) => fanInIndex(d.deviceId, SHARDS)));
    for (const i of used)
      expect(after[`${t.projectId}/fan-in/${i}`]).toBeGreaterThan(direct[`${t.projectId}/fan-in/${i}`] ?? 0);

    const usage = (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
    expect(usage.logs).toBe(lines);
    expect(usage.error_lines).toBe(errors);
    expect(usage.heartbeats).toBe(3 * DEVICES);
    // Per device: two heartbeats, two ingests (one a duplicate) and a third heartbeat.
    expect(usage.device_messages_in).toBe(5 * DEVICES);

    // Per-device rankings come through the fan-in objects device by device.
    const overview = (
      await call("GET", `/stats/overview?project_id=${t.projectId}&days=1&limit=10`, { token: t.viewerKey })
    ).json;
    expect(
      Object.fromEntries(
        overview.top_devices.by_lines.map((d: { device_id: string; lines: number }) => [d.device_id, d.lines]),
      ),
    ).toEqual(Object.fromEntries(perDevice));
    expect(overview.totals).toMatchObject({ logs: lines, error_lines: errors });

    // Time buckets too: the day's 60-minute buckets hold every line.
    const now = Date.now();
    const from = new Date(now - 2 * 3_600_000).toISOString();
    const series = (
      await call(
        "GET",
        `/stats/timeseries?project_id=${t.projectId}&metric=logs&interval=60m&from=${from}&to=${new Date(now).toISOString()}`,
        { token: t.viewerKey },
      )
    ).json;
    expect(series.points.reduce((n: number, p: { value: number }) => n + p.value, 0)).toBe(lines);
  });

  it("applies a device's sequence once even when the device sends it again (its answer was lost)", async () => {
    const t = await tenant();
    const name = fanInName(t.projectId, 0);
    const row = {
      seq: 7,
      day: utcDay(Date.now()),
      ...Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])),
      logs: 5,
      log_bytes: 50,
    } as OutboxRow;
    const hub = fanInByName(env, name);
    await hub.deliver(name, "dev-x", [row], []);
    await hub.deliver(name, "dev-x", [row], []);
    await hub.flush();
    // And the project applies the fan-in object's own sequence once when it comes again.
    const usage = (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
    expect(usage.logs).toBe(5);
  });

  it("passes lines on to the live tail at once, and tells its devices when a viewer arrives", async () => {
    const t = await tenant();
    const second = await newDevice(t.adminKey, t.projectId);
    const third = await newDevice(t.adminKey, t.projectId);
    const devices = [t, second, third];
    for (let round = 0; round < 2; round++) {
      for (const d of devices) await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} });
      for (const d of devices) await settle(d.deviceId);
    }
    const viewer = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}`);
    await viewer.until((f) => f.some((x) => x.type === "ready"));
    for (const [i, d] of devices.entries()) await ingest(d.deviceKey, { logs: [line("WARN", `from device ${i}`)] });
    await viewer.until((f) => f.filter((x) => x.type === "logs").flatMap((x) => x.logs).length >= 3);
    const got = viewer.frames.filter((x) => x.type === "logs").flatMap((x) => x.logs);
    expect(got.map((l: { message: string }) => l.message).sort()).toEqual([
      "from device 0",
      "from device 1",
      "from device 2",
    ]);
    expect(viewer.frames.some((x) => x.type === "dropped")).toBe(false);
    // They came through the fan-in objects: no device has delivered straight since it learned.
    const applied = await senders(t.projectId);
    expect(Object.keys(applied).some((k) => k.includes("/fan-in/"))).toBe(true);
    viewer.ws!.close();
  });

  it("is not used below the threshold: a small project's devices deliver straight to it", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    await ingest(t.deviceKey, { logs: [line("INFO", "hello")] });
    await settle(t.deviceId);
    // The device, and its log shard (which counts its lines): no fan-in object.
    expect(Object.keys(await senders(t.projectId)).sort()).toEqual(
      [t.deviceId, shardName(t.projectId, shardOf(t.deviceId))].sort(),
    );
  });

  it("passes on what its outbox held before the intake, under sequences above those it sent, once", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const name = fanInName(projectId, 0);
    const day = utcDay(Date.now());
    const hour = Date.parse(`${day}T00:00:00Z`);
    // Sequence 3 of the outbox as the version before the intake left it: sealed, not yet taken.
    await runInDurableObject(fanInByName(env, name), (_fanIn, state) => {
      const sql = state.storage.sql;
      sql.exec("INSERT INTO outbox (seq, day, logs, log_bytes, heartbeats) VALUES (3, ?, 7, 70, 1)", day);
      sql.exec("INSERT INTO outbox_devices VALUES (3, ?, 'dev-l', 7, 0)", day);
      sql.exec("INSERT INTO outbox_buckets VALUES (3, 60, ?, 'logs_info', 7)", hour);
      sql.exec("INSERT INTO outbox_tallies VALUES (3, ?, 'module', 'legacy', 7, 0)", day);
      state.storage.kv.put("outbox_open_seq", 4);
      state.storage.kv.put("name", name);
    });
    await evictDurableObject(fanInByName(env, name));
    await fanInByName(env, name).flush();
    const hub = projectHub(env, projectId);
    expect((await hub.usage(day.slice(0, 7), day)).today).toMatchObject({ logs: 7, log_bytes: 70, heartbeats: 1 });
    expect((await hub.overview(day, day, 10)).devices_by_lines).toEqual([{ key: "dev-l", lines: 7, errors: 0 }]);
    expect((await hub.overview(day, day, 10)).modules_by_lines).toEqual([{ key: "legacy", lines: 7, errors: 0 }]);
    expect(await hub.series(60, ["logs_info"], hour, hour + 3_600_000)).toEqual([{ start: hour, n: 7 }]);
    expect((await senders(projectId))[name]).toBe(3);
    // A device's delivery now goes under a later epoch, and the project takes it once, though
    // every object is torn down while it may be on its way.
    const row = { seq: 1, day, ...Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])), logs: 5 } as OutboxRow;
    await fanInByName(env, name).deliver(name, "dev-n", [row], []);
    await abortAllDurableObjects();
    await fanInByName(env, name).flush();
    await fanInByName(env, name).deliver(name, "dev-n", [row], []);
    await fanInByName(env, name).flush();
    expect((await projectHub(env, projectId).usage(day.slice(0, 7), day)).today.logs).toBe(12);
    expect((await senders(projectId))[name]).toBeGreaterThan(3);
  });

  it("sends a delivery too large to hold straight to the project, once", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const name = fanInName(projectId, 0);
    const day = utcDay(Date.now());
    const row = {
      seq: 1,
      day,
      ...Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])),
      logs: 3000,
      error_lines: 3000,
    } as OutboxRow;
    // Three thousand error shapes of 150 characters: more than a device's intake row holds.
    const tallies = Array.from({ length: 3000 }, (_, i) => ({
      seq: 1,
      day,
      kind: "error_message" as const,
      key: `${String(i).padStart(6, "x")} ${"y".repeat(143)}`,
      lines: 1,
      errors: 1,
    }));
    const fanIn = fanInByName(env, name);
    await fanIn.deliver(name, "dev-big", [row], [], 0, [], tallies);
    await fanIn.deliver(name, "dev-big", [row], [], 0, [], tallies);
    await fanIn.flush();
    const hub = projectHub(env, projectId);
    expect((await hub.usage(day.slice(0, 7), day)).today).toMatchObject({ logs: 3000, error_lines: 3000 });
    expect((await hub.topErrors(day, day, 5000)).messages).toHaveLength(3000);
    expect(Object.keys(await senders(projectId))).toContain("dev-big");
  });
});
