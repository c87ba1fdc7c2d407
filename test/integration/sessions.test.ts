import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { envelopeOf, ingest as ingestCore } from "../../src/ingest/ingest";
import { hotWindowMs } from "../../src/lib/config";
import { deviceHub } from "../../src/stubs/device-hub";
import { shardOfDevice } from "../../src/stubs/log-shard";
import { projectHub } from "../../src/stubs/project-hub";
import { rewriteDeviceState } from "../support/device-state";
import { settle } from "../support/settle";
import { allLogs, call, ingest, line, loghubLines, newDevice, tenant } from "./helpers";

/** The session's row as the project's object stores it (sessions left D1: project-hub/sessions.ts). */
const storedSession = (projectId: string, sessionId: string) =>
  runInDurableObject(
    projectHub(env, projectId),
    (_h, state) => state.storage.sql.exec("SELECT * FROM sessions WHERE session_id = ?", sessionId).toArray()[0] as any,
  );

describe("sessions", () => {
  it("are created idempotently, count their lines live, and end with a status", async () => {
    const t = await tenant();
    const id = crypto.randomUUID();
    const created = await call("POST", "/sessions", {
      token: t.deviceKey,
      body: { session_id: id, name: "mapping run" },
    });
    expect(created.status).toBe(201);
    expect(created.json.session).toMatchObject({
      session_id: id,
      name: "mapping run",
      device_id: t.deviceId,
      status: "active",
      total_logs: 0,
    });
    const again = await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: id, name: "renamed?" } });
    expect(again.status).toBe(200);
    expect(again.json.session.name).toBe("mapping run");

    const device = await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey });
    expect(device.json.device.current_session_id).toBe(id);

    await ingest(t.deviceKey, {
      session_id: id,
      logs: [line("INFO", "a"), line("WARN", "b"), line("ERROR", "c"), line("FATAL", "d"), line("BAD", "rejected")],
    });
    await ingest(t.deviceKey, { session_id: id, logs: loghubLines("HDFS", 100) });
    const live = await call("GET", `/sessions/${id}`, { token: t.viewerKey });
    expect(live.json.session).toMatchObject({ total_logs: 104, error_count: 2, status: "active" });
    expect(live.json.session.warning_count).toBeGreaterThanOrEqual(1);
    expect(live.json.session.duration_seconds).toBeGreaterThanOrEqual(0);

    const ended = await call("PATCH", `/sessions/${id}`, { token: t.deviceKey, body: { status: "completed" } });
    expect(ended.status).toBe(200);
    expect(ended.json.session).toMatchObject({ status: "completed", completed_at: expect.any(String) });
    expect((await call("PATCH", `/sessions/${id}`, { token: t.deviceKey, body: { status: "completed" } })).status).toBe(
      200,
    );
    expect((await call("PATCH", `/sessions/${id}`, { token: t.deviceKey, body: { status: "failed" } })).status).toBe(
      409,
    );
    expect((await call("PATCH", `/sessions/nope`, { token: t.deviceKey, body: { status: "failed" } })).status).toBe(
      404,
    );
    const after = await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey });
    expect(after.json.device.current_session_id).toBeNull();
    // Ending writes the project's row at once, with the final counts.
    expect(await storedSession(t.projectId, id)).toMatchObject({
      status: "completed",
      total_logs: 104,
      error_count: 2,
    });
  });

  it("keep their counters in the device's object: the project's row hears of a session when it is claimed and when it ends, never per batch or on a schedule", async () => {
    const t = await tenant();
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "s-coalesce", name: "x" } });
    const base = await storedSession(t.projectId, "s-coalesce");
    for (let i = 0; i < 5; i++) await ingest(t.deviceKey, { session_id: "s-coalesce", logs: loghubLines("Linux", 10) });
    const during = await storedSession(t.projectId, "s-coalesce");
    expect(during.version).toBe(base.version);
    expect(during.total_logs).toBe(0);
    // Reads are exact all the same: the list and the session lay the device's live counters over the stored row.
    const listed = await call("GET", `/sessions?project_id=${t.projectId}`, { token: t.viewerKey });
    expect(listed.json.sessions[0]).toMatchObject({ session_id: "s-coalesce", total_logs: 50 });
    expect((await call("GET", "/sessions/s-coalesce", { token: t.viewerKey })).json.session).toMatchObject({
      total_logs: 50,
    });

    // No alarm copies them to the project, however late it rings.
    await rewriteDeviceState(deviceHub(env, t.deviceId), (s) => ({ ...s, lastHeartbeatAt: Date.now() - 7_200_000 }));
    await runDurableObjectAlarm(deviceHub(env, t.deviceId));
    expect(await storedSession(t.projectId, "s-coalesce")).toMatchObject({ total_logs: 0, version: base.version });

    // The end is control plane: the project has it at once, with the counts as they ended.
    await call("PATCH", "/sessions/s-coalesce", { token: t.deviceKey, body: { status: "completed" } });
    expect(await storedSession(t.projectId, "s-coalesce")).toMatchObject({ status: "completed", total_logs: 50 });
  });

  it("count a retried batch whose first try the shard stored but the device's object never counted (it was evicted in between), and a plain retry once", async () => {
    const t = await tenant();
    const id = "evicted-run";
    const first = { batch_id: "b-1", session_id: id, logs: [line("INFO", "a"), line("ERROR", "b"), line("WARN", "c")] };
    await ingest(t.deviceKey, first);
    await ingest(t.deviceKey, first); // a plain retry: counted once
    // The shard stores the second batch and answers; the device's object dies before it counts it.
    const second = { batch_id: "b-2", session_id: id, logs: [line("ERROR", "d"), line("INFO", "e")] };
    const stored = await ingestCore(envelopeOf(second), hotWindowMs(env), (batch) =>
      shardOfDevice(env, t.projectId, t.deviceId)
        .append({
          orgId: t.orgId,
          deviceId: t.deviceId,
          batch,
          sessionId: id,
          hotWindowMs: hotWindowMs(env),
          lineFloor: 1,
        })
        .then((o) => (o.ok ? { ok: true as const, answer: o.answer } : o)),
    );
    expect(stored.accepted).toBe(2);
    // The device retries it: the shard answers duplicate, with what it stored, and the device counts it now, once.
    expect((await ingest(t.deviceKey, second)).json.duplicate).toBe(true);
    expect((await ingest(t.deviceKey, second)).json.duplicate).toBe(true);
    const session = (await call("GET", `/sessions/${id}`, { token: t.viewerKey })).json.session;
    expect(session).toMatchObject({ total_logs: 5, error_count: 2, warning_count: 1 });
  });

  it("take ids with spaces and other printable text, but never a slash", async () => {
    const t = await tenant();
    const created = await call("POST", "/sessions", {
      token: t.deviceKey,
      body: { session_id: "Run 7 (night)", name: "x" },
    });
    expect(created.status).toBe(201);
    const ended = await call("PATCH", `/sessions/${encodeURIComponent("Run 7 (night)")}`, {
      token: t.deviceKey,
      body: { status: "completed" },
    });
    expect(ended.json.session).toMatchObject({ session_id: "Run 7 (night)", status: "completed" });
    expect(
      (await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "a/b", name: "x" } })).status,
    ).toBe(400);
  });

  it("appear when logs name a session nobody created", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { session_id: "implicit-1", logs: loghubLines("OpenSSH", 7) });
    const s = await call("GET", "/sessions/implicit-1", { token: t.viewerKey });
    expect(s.status).toBe(200);
    expect(s.json.session).toMatchObject({ session_id: "implicit-1", status: "active", total_logs: 7 });
    const device = await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey });
    expect(device.json.device.current_session_id).toBe("implicit-1");
  });

  it("list with filters and a cursor, newest first", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    const base = Date.now() - 3600_000;
    for (let i = 0; i < 7; i++) {
      const key = i % 2 === 0 ? t.deviceKey : other.deviceKey;
      await call("POST", "/sessions", {
        token: key,
        body: { session_id: `list-${i}`, name: `run ${i}`, started_at: new Date(base + i * 1000).toISOString() },
      });
    }
    await call("PATCH", "/sessions/list-6", { token: t.deviceKey, body: { status: "failed" } });
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await call(
        "GET",
        `/sessions?project_id=${t.projectId}&limit=3${cursor ? `&cursor=${cursor}` : ""}`,
        { token: t.viewerKey },
      );
      expect(res.status).toBe(200);
      ids.push(...res.json.sessions.map((s: any) => s.session_id));
      cursor = res.json.next_cursor;
    } while (cursor);
    expect(ids).toEqual(["list-6", "list-5", "list-4", "list-3", "list-2", "list-1", "list-0"]);
    const byDevice = await call("GET", `/sessions?device_id=${other.deviceId}`, { token: t.viewerKey });
    expect(byDevice.json.sessions.map((s: any) => s.session_id)).toEqual(["list-5", "list-3", "list-1"]);
    const failed = await call("GET", `/sessions?project_id=${t.projectId}&status=failed`, { token: t.viewerKey });
    expect(failed.json.sessions.map((s: any) => s.session_id)).toEqual(["list-6"]);
    const ranged = await call(
      "GET",
      `/sessions?project_id=${t.projectId}&from=${new Date(base + 2000).toISOString()}&to=${base + 4000}`,
      { token: t.viewerKey },
    );
    expect(ranged.json.sessions.map((s: any) => s.session_id)).toEqual(["list-3", "list-2"]);
  });

  it("a session id owned by another device of the project is a conflict; other orgs see 404", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    expect(
      (await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "shared", name: "a" } })).status,
    ).toBe(201);
    expect(
      (await call("POST", "/sessions", { token: other.deviceKey, body: { session_id: "shared", name: "b" } })).status,
    ).toBe(409);
    // The refused session is not counted.
    await settle(t.deviceId);
    await settle(other.deviceId);
    expect((await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json.sessions).toBe(1);
    expect(
      (await call("GET", `/fleet/devices/${other.deviceId}`, { token: t.viewerKey })).json.device.current_session_id,
    ).toBeNull();
    // Logs may not name it either: the batch is refused whole and nothing is stored or counted.
    const borrowed = await ingest(other.deviceKey, { session_id: "shared", logs: loghubLines("HDFS", 3) });
    expect(borrowed.status).toBe(409);
    expect(borrowed.json.error.code).toBe("conflict");
    expect((await allLogs(t.viewerKey, `device_id=${other.deviceId}`)).length).toBe(0);
    const usage = (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
    expect(usage).toMatchObject({ sessions: 1, logs: 0 });
    const stranger = await tenant();
    expect((await call("GET", "/sessions/shared", { token: stranger.adminKey })).status).toBe(404);
    expect((await call("GET", `/sessions?project_id=${t.projectId}`, { token: stranger.adminKey })).status).toBe(404);
    expect((await call("GET", `/logs?session_id=shared`, { token: stranger.adminKey })).status).toBe(404);
    expect((await call("POST", "/sessions", { token: t.viewerKey, body: { session_id: "x", name: "x" } })).status).toBe(
      403,
    );
  });

  it("listed by a device of another org, or of another project than project_id, answer 404 as GET /logs does", async () => {
    const t = await tenant();
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "scoped", name: "x" } });
    const stranger = await tenant();
    const foreign = await call("GET", `/sessions?device_id=${t.deviceId}`, { token: stranger.viewerKey });
    expect(foreign.status).toBe(404);
    expect(foreign.json.error.code).toBe("not_found");
    expect((await call("GET", `/logs?device_id=${t.deviceId}`, { token: stranger.viewerKey })).status).toBe(404);

    const otherProject = (await call("POST", "/projects", { token: t.adminKey, body: { name: "elsewhere" } })).json
      .project.id;
    expect(
      (await call("GET", `/sessions?project_id=${otherProject}&device_id=${t.deviceId}`, { token: t.viewerKey }))
        .status,
    ).toBe(404);
    expect(
      (await call("GET", `/logs?project_id=${otherProject}&device_id=${t.deviceId}`, { token: t.viewerKey })).status,
    ).toBe(404);
    // The device's own project, or none, lists its sessions.
    for (const scope of [`project_id=${t.projectId}&`, ""]) {
      const own = await call("GET", `/sessions?${scope}device_id=${t.deviceId}`, { token: t.viewerKey });
      expect(own.status).toBe(200);
      expect(own.json.sessions.map((s: any) => s.session_id)).toEqual(["scoped"]);
    }
  });
});
