// The timed_out session status: a session no line and no heartbeat named for SESSION_IDLE_S
// ([vars], 30 minutes) ends as timed_out from its device's alarm, at the moment it was last named;
// a later line or heartbeat naming it makes it active again (docs/api-notes.md, Sessions). Tests age what the device's object keeps of each session's activity (its state, and
// the rows past what the state holds), then run the alarm, as the presence tests age heartbeats.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeviceState } from "../../durable-objects/device-hub/state";
import { sessionIdleMs } from "../../src/contract/sessions";
import { deviceHub } from "../../src/stubs/device-hub";
import { projectHub } from "../../src/stubs/project-hub";
import { rewriteDeviceState } from "../support/device-state";
import { settle } from "../support/settle";
import { call, ingest, line, loghubLines, tenant } from "./helpers";

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** The session's row as the project's object stores it (project-hub/sessions.ts). */
const storedSession = (projectId: string, sessionId: string) =>
  runInDurableObject(
    projectHub(env, projectId),
    (_h, state) => state.storage.sql.exec("SELECT * FROM sessions WHERE session_id = ?", sessionId).toArray()[0] as any,
  );

/** Says each session was last named at the moment given, in the device's state. */
const lastNamed = (deviceId: string, moments: Record<string, number>) =>
  rewriteDeviceState(deviceHub(env, deviceId), (s) => ({
    ...s,
    sessionActivity: { seen: { ...s.sessionActivity!.seen, ...moments }, spilled: s.sessionActivity!.spilled },
  }));

const stateOf = (deviceId: string) =>
  runInDurableObject(deviceHub(env, deviceId), (_h, state) => state.storage.kv.get<DeviceState>("device")!);

const session = async (token: string, id: string) =>
  (await call("GET", `/sessions/${encodeURIComponent(id)}`, { token })).json.session;
const listed = async (token: string, query: string) =>
  (await call("GET", `/sessions?${query}`, { token })).json.sessions.map((s: any) => s.session_id);

/** Runs the device's alarm now (one is set while a session is active). */
async function alarm(deviceId: string): Promise<void> {
  expect(await runDurableObjectAlarm(deviceHub(env, deviceId))).toBe(true);
}

describe("sessions time out", () => {
  it("SESSION_IDLE_S after a line or a heartbeat last named them, at that moment; a session named lately stays active", async () => {
    // wrangler.toml's [vars] set it to 30 minutes, the default when unset.
    expect(env.SESSION_IDLE_S).toBe("1800");
    expect(sessionIdleMs(env.SESSION_IDLE_S)).toBe(30 * MINUTE);
    expect(sessionIdleMs(undefined)).toBe(30 * MINUTE);
    expect(sessionIdleMs("90")).toBe(90_000);
    const t = await tenant();
    const now = Date.now();
    const started = now - 3 * HOUR;
    await call("POST", "/sessions", {
      token: t.deviceKey,
      body: { session_id: "quiet", name: "quiet run", started_at: new Date(started).toISOString() },
    });
    await ingest(t.deviceKey, {
      session_id: "quiet",
      logs: [line("INFO", "a"), line("ERROR", "b"), line("WARN", "c")],
    });
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "busy", name: "busy run" } });
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { session_id: "busy" } });

    // Nothing ends before its 30 minutes are up.
    await alarm(t.deviceId);
    expect((await session(t.viewerKey, "quiet")).status).toBe("active");

    // "quiet" was last named two hours ago; "busy" 29 minutes ago.
    const last = now - 2 * HOUR;
    await lastNamed(t.deviceId, { quiet: last, busy: now - 29 * MINUTE });
    await alarm(t.deviceId);

    const quiet = await session(t.viewerKey, "quiet");
    expect(quiet).toMatchObject({
      status: "timed_out",
      started_at: new Date(started).toISOString(),
      completed_at: new Date(last).toISOString(),
      duration_seconds: 3600,
      total_logs: 3,
      error_count: 1,
      warning_count: 1,
    });
    expect((await session(t.viewerKey, "busy")).status).toBe("active");
    // The project's index has it at once, with its counts; the list filters on it.
    expect(await storedSession(t.projectId, "quiet")).toMatchObject({
      status: "timed_out",
      completed_at: last,
      total_logs: 3,
      error_count: 1,
    });
    expect(await listed(t.viewerKey, `project_id=${t.projectId}&status=timed_out`)).toEqual(["quiet"]);
    expect(await listed(t.viewerKey, "status=timed_out")).toEqual(["quiet"]);
    expect(await listed(t.viewerKey, `project_id=${t.projectId}&status=active`)).toEqual(["busy"]);
    // The current session is the one the heartbeat named, still.
    expect(
      (await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey })).json.device.current_session_id,
    ).toBe("busy");

    // A second alarm ends nothing again; the session is counted once in usage.
    const version = (await storedSession(t.projectId, "quiet")).version;
    await lastNamed(t.deviceId, { busy: now });
    await alarm(t.deviceId);
    expect((await storedSession(t.projectId, "quiet")).version).toBe(version);
    await settle(t.deviceId);
    expect((await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json.sessions).toBe(2);
  });

  it("are active again when a heartbeat or a line names them later, and time out again; the device may still end one itself", async () => {
    const t = await tenant();
    await call("POST", "/sessions", {
      token: t.deviceKey,
      body: { session_id: "run", name: "run", started_at: new Date(Date.now() - 3 * HOUR).toISOString() },
    });
    await ingest(t.deviceKey, { session_id: "run", logs: loghubLines("HDFS", 4) });
    const last = Date.now() - 90 * MINUTE;
    await lastNamed(t.deviceId, { run: last });
    await alarm(t.deviceId);
    expect(await session(t.viewerKey, "run")).toMatchObject({
      status: "timed_out",
      completed_at: new Date(last).toISOString(),
      total_logs: 4,
    });
    // It was the device's current session: no longer.
    const device = async () => (await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey })).json.device;
    expect((await device()).current_session_id).toBeNull();
    // POST /sessions with its id answers it as it is: opening is not naming it with a line or heartbeat.
    const again = await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "run", name: "run" } });
    expect(again.status).toBe(200);
    expect(again.json.session).toMatchObject({ status: "timed_out", completed_at: new Date(last).toISOString() });

    // The device comes back naming it in a heartbeat: active again, completed_at cleared, current
    // again, and the project's index says so at once.
    expect((await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { session_id: "run" } })).status).toBe(
      200,
    );
    expect(await session(t.viewerKey, "run")).toMatchObject({ status: "active", completed_at: null, total_logs: 4 });
    expect(await storedSession(t.projectId, "run")).toMatchObject({ status: "active", completed_at: null });
    expect(await listed(t.viewerKey, `project_id=${t.projectId}&status=active`)).toEqual(["run"]);
    expect(await listed(t.viewerKey, `project_id=${t.projectId}&status=timed_out`)).toEqual([]);
    expect((await device()).current_session_id).toBe("run");
    // Its new silence counts from that heartbeat: it times out again, at its last line.
    await alarm(t.deviceId);
    expect((await session(t.viewerKey, "run")).status).toBe("active");
    await ingest(t.deviceKey, { session_id: "run", logs: loghubLines("HDFS", 2, { offset: 4 }) });
    const lastLine = Date.now() - 31 * MINUTE;
    await lastNamed(t.deviceId, { run: lastLine });
    await alarm(t.deviceId);
    expect(await session(t.viewerKey, "run")).toMatchObject({
      status: "timed_out",
      completed_at: new Date(lastLine).toISOString(),
      total_logs: 6,
    });
    expect((await device()).current_session_id).toBeNull();

    // A batch of lines naming it reopens it too, counted in its totals.
    expect(
      (await ingest(t.deviceKey, { session_id: "run", logs: loghubLines("HDFS", 3, { offset: 6 }) })).json.accepted,
    ).toBe(3);
    expect(await session(t.viewerKey, "run")).toMatchObject({ status: "active", completed_at: null, total_logs: 9 });
    expect(await storedSession(t.projectId, "run")).toMatchObject({ status: "active", completed_at: null });
    expect((await device()).current_session_id).toBe("run");

    // timed_out is the server's to give, not the device's.
    const refused = await call("PATCH", "/sessions/run", { token: t.deviceKey, body: { status: "timed_out" } });
    expect(refused.status).toBe(400);
    expect(refused.json.error.details).toEqual([expect.objectContaining({ path: "status" })]);
    // The device's own end; a session it ended stays ended when named again.
    const ended = await call("PATCH", "/sessions/run", { token: t.deviceKey, body: { status: "completed" } });
    expect(ended.status).toBe(200);
    expect(ended.json.session).toMatchObject({ status: "completed", total_logs: 9 });
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { session_id: "run" } });
    await ingest(t.deviceKey, { session_id: "run", logs: loghubLines("HDFS", 1, { offset: 9 }) });
    expect(await session(t.viewerKey, "run")).toMatchObject({ status: "completed", total_logs: 10 });
    expect((await device()).current_session_id).toBeNull();
    expect(await storedSession(t.projectId, "run")).toMatchObject({ status: "completed" });
    // Counted once in usage, however often it was reopened.
    await settle(t.deviceId);
    expect((await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json.sessions).toBe(1);
  });

  it("of a device that ended one itself after its timeout: the device's end replaces the timeout, once", async () => {
    const t = await tenant();
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "run", name: "run" } });
    await lastNamed(t.deviceId, { run: Date.now() - HOUR });
    await alarm(t.deviceId);
    expect((await session(t.viewerKey, "run")).status).toBe("timed_out");
    const before = Date.now();
    const ended = await call("PATCH", "/sessions/run", { token: t.deviceKey, body: { status: "completed" } });
    expect(ended.status).toBe(200);
    expect(Date.parse(ended.json.session.completed_at)).toBeGreaterThanOrEqual(before - 1000);
    expect((await call("PATCH", "/sessions/run", { token: t.deviceKey, body: { status: "completed" } })).status).toBe(
      200,
    );
    expect((await call("PATCH", "/sessions/run", { token: t.deviceKey, body: { status: "failed" } })).status).toBe(409);
    expect(await storedSession(t.projectId, "run")).toMatchObject({ status: "completed" });
  });

  it("over OTLP too: a session named by session.id times out, and a later export naming it reopens it", async () => {
    const t = await tenant();
    const otlp = (message: string) =>
      exports.default.fetch("http://fleetbeat.test/v1/logs", {
        method: "POST",
        headers: { authorization: `Bearer ${t.deviceKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          resourceLogs: [
            {
              resource: { attributes: [{ key: "session.id", value: { stringValue: "otlp-run" } }] },
              scopeLogs: [
                {
                  logRecords: [
                    {
                      timeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
                      severityNumber: 9,
                      body: { stringValue: message },
                    },
                  ],
                },
              ],
            },
          ],
        }),
      });
    expect((await otlp("first")).status).toBe(200);
    expect((await session(t.viewerKey, "otlp-run")).status).toBe("active");
    const last = Date.now() - 40 * MINUTE;
    await lastNamed(t.deviceId, { "otlp-run": last });
    await alarm(t.deviceId);
    // Its first line opened it a moment ago: it ends then, never before it started.
    const timedOut = await session(t.viewerKey, "otlp-run");
    expect(timedOut).toMatchObject({ status: "timed_out", completed_at: timedOut.started_at, total_logs: 1 });
    expect((await otlp("back")).status).toBe(200);
    expect(await session(t.viewerKey, "otlp-run")).toMatchObject({
      status: "active",
      completed_at: null,
      total_logs: 2,
    });
    expect(await storedSession(t.projectId, "otlp-run")).toMatchObject({ status: "active" });
  });

  it("for a device with more active sessions than its state keeps, each by its own last activity", async () => {
    const t = await tenant();
    const ids = Array.from({ length: 40 }, (_, i) => `many-${String(i).padStart(2, "0")}`);
    for (const id of ids) await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: id, name: id } });
    const kept = (await stateOf(t.deviceId)).sessionActivity!;
    // The state holds the 32 named last; the 8 first went to their rows.
    expect(Object.keys(kept.seen).sort()).toEqual(ids.slice(8));
    expect(kept.spilled).not.toBeNull();
    // A heartbeat names one the rows held (the state holds it again, and the rows the longest silent of the state's), and lines one the state held.
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { session_id: "many-00" } });
    await ingest(t.deviceKey, { session_id: "many-39", logs: [line("INFO", "still here")] });
    expect(Object.keys((await stateOf(t.deviceId)).sessionActivity!.seen).sort()).toEqual(["many-00", ...ids.slice(9)]);
    // Every other was last named two hours ago, as far as the state and the rows know (the rows of those two too).
    const last = Date.now() - 2 * HOUR;
    await runInDurableObject(
      deviceHub(env, t.deviceId),
      (_h, state) => void state.storage.sql.exec("UPDATE sessions SET last_active_at = ?", last),
    );
    await rewriteDeviceState(deviceHub(env, t.deviceId), (s) => {
      const seen = s.sessionActivity!.seen;
      return {
        ...s,
        sessionActivity: {
          seen: Object.fromEntries(
            Object.entries(seen).map(([id, at]) => [id, id === "many-00" || id === "many-39" ? at : last]),
          ),
          spilled: last,
        },
      };
    });
    await alarm(t.deviceId);
    const statuses = Object.fromEntries(
      (await call("GET", `/sessions?project_id=${t.projectId}&limit=100`, { token: t.viewerKey })).json.sessions.map(
        (s: any) => [s.session_id, s.status],
      ),
    );
    expect(statuses).toEqual(
      Object.fromEntries(ids.map((id) => [id, id === "many-00" || id === "many-39" ? "active" : "timed_out"])),
    );
    // Each opened a moment ago (the rows were aged, not their start): a timeout never ends a session before it started.
    for (const id of ["many-01", "many-20"]) {
      const s = await session(t.viewerKey, id);
      expect(s).toMatchObject({ completed_at: s.started_at, duration_seconds: 0 });
    }
    expect(await stateOf(t.deviceId)).toMatchObject({
      sessionActivity: { seen: { "many-00": expect.any(Number), "many-39": expect.any(Number) }, spilled: null },
    });
    expect(Object.keys((await stateOf(t.deviceId)).sessionActivity!.seen)).toHaveLength(2);
  });

  it("of a device from before timeouts count from the moment its object first looks", async () => {
    const t = await tenant();
    await call("POST", "/sessions", {
      token: t.deviceKey,
      body: { session_id: "old", name: "old", started_at: new Date(Date.now() - 5 * HOUR).toISOString() },
    });
    // As such a device's object holds it: no activity in the state or the row.
    await runInDurableObject(
      deviceHub(env, t.deviceId),
      (_h, state) => void state.storage.sql.exec("UPDATE sessions SET last_active_at = NULL"),
    );
    await rewriteDeviceState(deviceHub(env, t.deviceId), ({ sessionActivity: _, ...s }) => s as DeviceState);
    const looked = Date.now();
    await alarm(t.deviceId);
    expect((await session(t.viewerKey, "old")).status).toBe("active");
    const seen = (await stateOf(t.deviceId)).sessionActivity!.seen.old!;
    expect(seen).toBeGreaterThanOrEqual(looked);
    await lastNamed(t.deviceId, { old: seen - HOUR });
    await alarm(t.deviceId);
    expect(await session(t.viewerKey, "old")).toMatchObject({
      status: "timed_out",
      completed_at: new Date(seen - HOUR).toISOString(),
    });
  });

  it("add no row to the batches and heartbeats that name a session, and a timeout writes what an end does", async () => {
    const rows = (deviceId: string) => deviceHub(env, deviceId).storageRows();
    const plain = await tenant();
    const named = await tenant();
    await call("POST", "/sessions", { token: named.deviceKey, body: { session_id: "s", name: "s" } });
    for (const t of [plain, named]) {
      await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: t === named ? { session_id: "s" } : {} });
      await settle(t.deviceId);
    }
    // The same heartbeats, then batches, with and without a session: what the device's object writes.
    const run = async (t: typeof plain, sessionId?: string) => {
      const start = await rows(t.deviceId);
      for (let i = 0; i < 20; i++)
        await call("POST", "/fleet/heartbeat", {
          token: t.deviceKey,
          body: sessionId ? { session_id: sessionId } : {},
        });
      const between = await rows(t.deviceId);
      for (let i = 0; i < 20; i++)
        await ingest(t.deviceKey, {
          ...(sessionId ? { session_id: sessionId } : {}),
          logs: loghubLines("HDFS", 10, { offset: i * 10 }),
        });
      return { heartbeats: between - start, batches: (await rows(t.deviceId)) - between };
    };
    const without = await run(plain);
    const withSession = await run(named, "s");
    console.log(
      `rows for 20 heartbeats, then 20 batches: ${JSON.stringify(without)} without a session, ${JSON.stringify(withSession)} naming one`,
    );
    // A heartbeat naming a session writes what a plain one does (its state row); a batch naming one
    // saves the state for the session's counts (one row, as before timeouts), which carries its activity too.
    expect(withSession.heartbeats).toBeLessThanOrEqual(without.heartbeats);
    expect(withSession.batches).toBeLessThanOrEqual(without.batches + 20);

    // The alarm's timeout of a session: its row and the state, as PATCH writes (2), besides setting the alarm again.
    await settle(named.deviceId);
    await lastNamed(named.deviceId, { s: Date.now() - 2 * HOUR });
    const before = await rows(named.deviceId);
    await alarm(named.deviceId);
    const alarmSet =
      (await runInDurableObject(deviceHub(env, named.deviceId), (_h, state) => state.storage.getAlarm())) === null
        ? 0
        : 1;
    const timedOut = (await rows(named.deviceId)) - before - alarmSet;
    console.log(`a timeout: ${timedOut} rows (and ${alarmSet} for the next alarm)`);
    expect((await session(named.viewerKey, "s")).status).toBe("timed_out");
    expect(timedOut).toBeLessThanOrEqual(2);
  });
});
