// What each event costs a device's object and its log shard in storage rows written, which
// Cloudflare bills at $1.00 per million (docs/COSTS.md). Each object counts its own rows
// (durable-objects/storage.ts: every statement's rowsWritten, every key-value write, every alarm
// set); each test reads both counts through the objects' RPC before and after a run of events
// and holds the average to the budget issue 21 sets. Deliveries to the project and the alarm's
// work are included where the events cause them.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DeviceHub } from "../../durable-objects/device-hub/hub";
import { SOCKET_BEATS } from "../../durable-objects/device-hub/socket-beats";
import type { DeviceState } from "../../durable-objects/device-hub/state";
import type { ProjectHub } from "../../durable-objects/project-hub/hub";
import { DELIVERY } from "../../src/contract/usage";
import { deviceHub } from "../../src/stubs/device-hub";
import { orgHub } from "../../src/stubs/project-hub";
import { rewriteDeviceState } from "../support/device-state";
import { shardOf } from "../support/hot-lines";
import { settle } from "../support/settle";
import { call, ingest, loghubLines, openSocket, tenant } from "./helpers";

const DAY = 86_400_000_000; // µs

/** The rows the device's object and its log shard have written so far (each tenant here has its project, and so its shard, to itself). */
const rows = async (deviceId: string) =>
  (await deviceHub(env, deviceId).storageRows()) + (await (await shardOf(deviceId)).storageRows());

/** Rows written by `run`, divided by `events`. */
async function perEvent(deviceId: string, events: number, run: () => Promise<unknown>): Promise<number> {
  const before = await rows(deviceId);
  await run();
  return ((await rows(deviceId)) - before) / events;
}

/** The audit events in the org's log: each is one row written, never changed. */
const auditRows = (orgId: string) =>
  runInDurableObject(
    orgHub(env, orgId) as unknown as DurableObjectStub<ProjectHub>,
    (_, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM audit_events").one().n,
  );

/** `measure`'s rows, plus the audit rows the org's log took meanwhile. */
async function withAudit(orgId: string, measure: () => Promise<number>): Promise<number> {
  const before = await auditRows(orgId);
  const rows = await measure();
  return rows + (await auditRows(orgId)) - before;
}

describe("storage rows written per event", () => {
  it("a heartbeat over HTTPS that changes nothing writes at most one row", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { metrics: { cpu_usage: 10 } } });
    const n = 30;
    const each = await perEvent(t.deviceId, n, async () => {
      for (let i = 0; i < n; i++)
        await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { metrics: { cpu_usage: 10 } } });
    });
    console.log(`heartbeat over HTTPS: ${each.toFixed(2)} rows`);
    expect(each).toBeLessThanOrEqual(1);
  });

  it("a heartbeat over the device socket that changes nothing writes at most 0.2 rows on average over an hour", async () => {
    // An hour in six seconds: every interval 600 times shorter (a heartbeat every 50 ms instead of
    // 30 s; deliveries and the silence check every second instead of every 10 minutes), so saves,
    // deliveries and alarms weigh as they do over an hour.
    const saved = { ...SOCKET_BEATS, every: DELIVERY.everyMs };
    Object.assign(SOCKET_BEATS, { saveAfterMs: 2000, silenceMs: 1000 });
    DELIVERY.everyMs = 1000;
    try {
      const t = await tenant();
      await rewriteDeviceState(deviceHub(env, t.deviceId), (s) => ({ ...s, heartbeatIntervalMs: 50 }));
      const socket = await openSocket("/fleet/connect", { authorization: `Bearer ${t.deviceKey}` });
      await socket.until((f) => f.some((x) => x.type === "ready"));
      socket.send({ type: "heartbeat", metrics: { cpu_usage: 10 } });
      await socket.until((f) => f.filter((x) => x.type === "ack").length === 1);
      await settle(t.deviceId);
      const n = 120;
      const each = await perEvent(t.deviceId, n, async () => {
        // One every 50 ms by the clock, however long each takes to answer.
        const start = Date.now();
        for (let i = 0; i < n; i++) {
          socket.send({ type: "heartbeat", metrics: { cpu_usage: 10 + (i % 7) } });
          await new Promise((r) => setTimeout(r, Math.max(0, start + (i + 1) * 50 - Date.now())));
        }
        await socket.until((f) => f.filter((x) => x.type === "ack").length === n + 1);
      });
      console.log(`heartbeat over the socket: ${each.toFixed(3)} rows`);
      expect(each).toBeLessThanOrEqual(0.2);
      // Nothing was lost by not writing: the heartbeats are all counted, and the presence is current.
      socket.ws!.close(1000);
      await settle(t.deviceId);
      const device = await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey });
      expect(device.json.device.metrics).toEqual({ cpu_usage: 10 + ((n - 1) % 7) });
    } finally {
      Object.assign(SOCKET_BEATS, { saveAfterMs: saved.saveAfterMs, silenceMs: saved.silenceMs });
      DELIVERY.everyMs = saved.every;
    }
  });

  it("after a delivery over the socket, the object woken from hibernation neither sends it again nor seals anew", async () => {
    // The seal is saved before it goes; marking it taken waits for the next save. Over the
    // socket the object hibernates between heartbeats, so the mark waits in the socket's
    // attachment: without it every wake after a delivery resent it and sealed again (two rows).
    const every = DELIVERY.everyMs;
    DELIVERY.everyMs = 1000;
    try {
      const t = await tenant();
      const socket = await openSocket("/fleet/connect", { authorization: `Bearer ${t.deviceKey}` });
      await socket.until((f) => f.some((x) => x.type === "ready"));
      socket.send({ type: "heartbeat", metrics: { cpu_usage: 10 } });
      await socket.until((f) => f.filter((x) => x.type === "ack").length === 1);
      await settle(t.deviceId);
      await new Promise((r) => setTimeout(r, 1100));
      // Its counts are due: this heartbeat seals them, saves, and delivers them before its ack.
      socket.send({ type: "heartbeat", metrics: { cpu_usage: 11 } });
      await socket.until((f) => f.filter((x) => x.type === "ack").length === 2);
      // One more, not due: the attachment holds it beside the mark.
      socket.send({ type: "heartbeat", metrics: { cpu_usage: 12 } });
      await socket.until((f) => f.filter((x) => x.type === "ack").length === 3);
      const woken = await runInDurableObject(deviceHub(env, t.deviceId), (_hub, ctx) => {
        const saved = ctx.storage.kv.get<DeviceState>("device")!.owed!;
        // A new instance on the same storage and socket: what an object woken from hibernation is.
        const fresh = new DeviceHub(ctx, env) as unknown as {
          state: { current: DeviceState };
          delivery: { countsDue(): boolean };
        };
        const owed = fresh.state.current.owed!;
        const heartbeats = Object.values(owed.days).reduce((n, d) => n + (d.heartbeats ?? 0), 0);
        const attachment = ctx.getWebSockets()[0]!.deserializeAttachment() as {
          beats: { n: number } | null;
          taken: unknown;
        };
        return {
          savedSeal: saved.sealed?.seq ?? null,
          seal: owed.sealed?.seq ?? null,
          sentAt: owed.sentAt,
          due: fresh.delivery.countsDue(),
          heartbeats,
          held: attachment.beats?.n,
          taken: attachment.taken !== null,
        };
      });
      // The saved state still holds the seal: the mark came from the attachment.
      expect(woken.savedSeal).not.toBeNull();
      expect(woken.seal).toBeNull();
      expect(woken.sentAt).toBeGreaterThan(Date.now() - 1500);
      expect(woken.due).toBe(false);
      // The heartbeat held since is owed, and still held for the next wake.
      expect(woken.heartbeats).toBe(1);
      expect(woken).toMatchObject({ held: 1, taken: true });
      socket.ws!.close(1000);
    } finally {
      DELIVERY.everyMs = every;
    }
  });

  for (const size of [1, 100, 1000]) {
    it(`a batch of ${size} line(s) writes at most 2 + 0.01 per line`, async () => {
      const t = await tenant();
      // A device's first batch opens its chunk, its log hour and its first delivery: once in its life.
      await ingest(t.deviceKey, { logs: loghubLines("HDFS", size) });
      await settle(t.deviceId);
      // Enough batches for what comes once per interval (a delivery, its alarm) to weigh as it does over a day.
      const batches = size === 1 ? 300 : size === 100 ? 100 : 20;
      const each = await perEvent(t.deviceId, batches, async () => {
        for (let b = 0; b < batches; b++) {
          const res = await ingest(t.deviceKey, {
            batch_id: `b-${b}`,
            logs: loghubLines("HDFS", size, { offset: b * size }),
          });
          expect(res.json.accepted).toBe(size);
        }
      });
      console.log(`batch of ${size}: ${each.toFixed(2)} rows`);
      expect(each).toBeLessThanOrEqual(2 + 0.01 * size);
    });
  }

  it("a retried batch, a session start and end, an upload, a command sent and acknowledged write at most 3 each", async () => {
    const t = await tenant();
    const batch = { batch_id: "retried", logs: loghubLines("HDFS", 50) };
    await ingest(t.deviceKey, batch);
    // A device in service has delivered before (its first counts go at once, and cost a row each side).
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    await settle(t.deviceId);
    const cost: Record<string, number> = {};
    cost.retry = await perEvent(t.deviceId, 1, () => ingest(t.deviceKey, batch));
    cost.sessionStart = await perEvent(t.deviceId, 1, () =>
      call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "run-1", name: "run" } }),
    );
    cost.upload = await perEvent(t.deviceId, 1, () =>
      call("PUT", "/sessions/run-1/artifacts/a.txt", {
        token: t.deviceKey,
        raw: "hello",
        headers: { "content-type": "text/plain", "content-length": "5" },
      }),
    );
    cost.sessionEnd = await perEvent(t.deviceId, 1, () =>
      call("PATCH", "/sessions/run-1", { token: t.deviceKey, body: { status: "completed" } }),
    );
    // A command's events are audited: their rows in the org's log count too (one an event, audit.test.ts).
    let commandId = "";
    cost.commandSent = await withAudit(t.orgId, () =>
      perEvent(t.deviceId, 1, async () => {
        const sent = await call("POST", "/fleet/commands", {
          token: t.adminKey,
          body: { device_id: t.deviceId, command: "reboot" },
        });
        commandId = sent.json.command.id;
      }),
    );
    await call("GET", `/fleet/devices/${t.deviceId}/commands`, { token: t.deviceKey });
    cost.commandAcked = await withAudit(t.orgId, () =>
      perEvent(t.deviceId, 1, () =>
        call("POST", `/fleet/devices/${t.deviceId}/commands/${commandId}/ack`, {
          token: t.deviceKey,
          body: { status: "succeeded" },
        }),
      ),
    );
    console.log("rows per event:", JSON.stringify(cost));
    for (const [event, n] of Object.entries(cost)) expect(n, event).toBeLessThanOrEqual(3);
  });

  it("a line's whole later life (archive, retention, deletion) writes at most 0.01 row per line", async () => {
    const t = await tenant();
    const now = Date.now() * 1000;
    // Six hours of lines, as an agent sends them (a batch a minute), ten days old.
    let lines = 0;
    for (let m = 0; m < 360; m += 3) {
      const batch = loghubLines("HDFS", 60, {
        endUs: now - 10 * DAY + m * 60_000_000,
        stepUs: 3_000_000,
        offset: m * 20,
      });
      await ingest(t.deviceKey, { logs: batch });
      lines += batch.length;
    }
    const stub = await shardOf(t.deviceId);
    const runAgain = () =>
      runInDurableObject(
        stub,
        (shard) => void ((shard as unknown as { retention: { lastRun: number } }).retention.lastRun = 0),
      );
    const each = await perEvent(t.deviceId, lines, async () => {
      // Past a one-day window they go to the archive, then past the archive's retention they are deleted.
      await runInDurableObject(stub, (_s, state) => state.storage.kv.put("retention", [1, 365]));
      for (let run = 0; run < 5; run++) {
        await runAgain();
        await runDurableObjectAlarm(stub);
      }
      await runInDurableObject(stub, (_h, s) => {
        s.storage.sql.exec("UPDATE archive_objects SET min_ts = min_ts - ?, max_ts = max_ts - ?", 400 * DAY, 400 * DAY);
      });
      for (let run = 0; run < 3; run++) {
        await runAgain();
        await runDurableObjectAlarm(stub);
      }
    });
    const left = await runInDurableObject(stub, (_h, s) => ({
      hot: s.storage.sql.exec<{ n: number }>("SELECT coalesce(sum(lines), 0) AS n FROM chunks").one().n,
      archived: s.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM archive_objects").one().n,
    }));
    expect(left).toEqual({ hot: 0, archived: 0 });
    console.log(`later life of ${lines} lines: ${each.toFixed(4)} rows per line`);
    expect(each).toBeLessThanOrEqual(0.01);
  });
});
