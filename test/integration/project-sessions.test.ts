// Sessions off D1 (issue 22): each project's sessions live in its object
// (durable-objects/project-hub/sessions.ts). Opening and ending a session writes no D1 row (D1's
// writes are counted by a trigger on every table, as presence-d1.test.ts counts them); the object
// gives a new id to exactly one device however many race for it; an end with its counts is
// applied once, by version, for its own device only; an org-wide list merges the org's projects
// in order, and its cursor walks them all.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { DEVICE_SCHEMA } from "../../durable-objects/device-hub/schema";
import type { SessionUpsert } from "../../src/contract/sessions";
import { deviceHub } from "../../src/stubs/device-hub";
import { projectHub } from "../../src/stubs/project-hub";
import { countD1Rows, d1RowsWritten } from "../support/d1-rows";
import { type Answer, call, ingest, line, newDevice, newOrg, newProject } from "./helpers";

beforeAll(countD1Rows);

/** A project with `n` devices. */
async function fleet(n: number) {
  const { orgId, adminKey } = await newOrg();
  const projectId = await newProject(adminKey);
  const devices = [];
  for (let i = 0; i < n; i++) devices.push(await newDevice(adminKey, projectId));
  return { orgId, adminKey, projectId, devices };
}

const upsert = (id: string, version: number, extra: Partial<SessionUpsert> = {}): SessionUpsert => ({
  session_id: id,
  name: `run ${id}`,
  status: "active",
  started_at: 1_700_000_000_000,
  completed_at: null,
  total_logs: version * 10,
  error_count: version,
  warning_count: 0,
  version,
  ...extra,
});

const storedRow = (projectId: string, sessionId: string) =>
  runInDurableObject(
    projectHub(env, projectId),
    (_h, state) => state.storage.sql.exec("SELECT * FROM sessions WHERE session_id = ?", sessionId).toArray()[0] as any,
  );

describe("a session's open and end", () => {
  it("write no D1 row, over HTTP or by ingest naming a session", async () => {
    const f = await fleet(1);
    const d = f.devices[0]!;
    // Warm up what a device's first requests write to D1 on their own, nothing about sessions
    // (its first lines register the log shard they go to).
    expect((await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} })).status).toBe(200);
    expect((await ingest(d.deviceKey, { logs: [line("INFO", "warm")] })).status).toBe(200);
    const before = await d1RowsWritten();

    expect(
      (await call("POST", "/sessions", { token: d.deviceKey, body: { session_id: "run-1", name: "night run" } }))
        .status,
    ).toBe(201);
    expect(
      (await ingest(d.deviceKey, { session_id: "run-1", logs: [line("ERROR", "boom"), line("INFO", "ok")] })).status,
    ).toBe(200);
    expect((await call("PATCH", "/sessions/run-1", { token: d.deviceKey, body: { status: "completed" } })).status).toBe(
      200,
    );
    // Ingest naming a new session claims it, and ending it writes its counts: all in the project's object.
    expect((await ingest(d.deviceKey, { session_id: "run-2", logs: [line("WARN", "w")] })).status).toBe(200);
    expect((await call("PATCH", "/sessions/run-2", { token: d.deviceKey, body: { status: "failed" } })).status).toBe(
      200,
    );

    expect(await d1RowsWritten()).toBe(before);
    // One more open and end, for the count below (the rows the project's object writes for each are counted further down, on the object).
    await call("POST", "/sessions", { token: d.deviceKey, body: { session_id: "run-3" } });
    await call("PATCH", "/sessions/run-3", { token: d.deviceKey, body: { status: "completed" } });
    expect(await d1RowsWritten()).toBe(before);
    expect(await storedRow(f.projectId, "run-1")).toMatchObject({
      device_id: d.deviceId,
      name: "night run",
      status: "completed",
      total_logs: 2,
      error_count: 1,
    });
    expect(await storedRow(f.projectId, "run-2")).toMatchObject({
      device_id: d.deviceId,
      status: "failed",
      total_logs: 1,
      warning_count: 1,
    });
    const listed = await call("GET", `/sessions?project_id=${f.projectId}`, { token: f.adminKey });
    expect(listed.json.sessions.map((s: { session_id: string }) => s.session_id).sort()).toEqual([
      "run-1",
      "run-2",
      "run-3",
    ]);
  });
});

describe("claims on the project's object", () => {
  it("two devices racing for one new session id: exactly one wins, over HTTP", async () => {
    const f = await fleet(2);
    const [a, b] = f.devices;
    for (let round = 0; round < 5; round++) {
      const session_id = `race-${round}`;
      const answers = await Promise.all(
        [a!, b!].map((d) => call("POST", "/sessions", { token: d.deviceKey, body: { session_id } })),
      );
      expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
      const winner = answers[0]!.status === 201 ? a! : b!;
      expect(await projectHub(env, f.projectId).sessionOwner(session_id)).toBe(winner.deviceId);
    }
  });

  it("gives an id to the first device that names it and answers the owner to every other", async () => {
    const hub = projectHub(env, `prj_test_${crypto.randomUUID()}`);
    const claim = (device: string, id: string) =>
      hub.claimSession(device, { session_id: id, name: `run ${id}`, started_at: 1_700_000_000_000 });
    expect(await hub.sessionOwner("s")).toBeNull();
    expect(await claim("dev_a", "s")).toBe("dev_a");
    expect(await claim("dev_b", "s")).toBe("dev_a");
    expect(await claim("dev_a", "s")).toBe("dev_a");
    const owners = await Promise.all(Array.from({ length: 8 }, (_, i) => claim(`dev_${i}`, "raced")));
    expect(new Set(owners).size).toBe(1);
    expect(owners[0]).toBe(await hub.sessionOwner("raced"));
    // The same id in another project is another session.
    expect(
      await projectHub(env, `prj_test_${crypto.randomUUID()}`).claimSession("dev_b", {
        session_id: "s",
        name: "s",
        started_at: 1,
      }),
    ).toBe("dev_b");
  });

  it("an end applies once, by version, for its own device only", async () => {
    const projectId = `prj_test_${crypto.randomUUID()}`;
    const hub = projectHub(env, projectId);
    await hub.getSession("warm"); // the object's schema is built
    const rows = async () => (await hub.storageRows()).project;
    const r0 = await rows();
    await hub.claimSession("dev_a", { session_id: "s", name: "run s", started_at: 1_700_000_000_000 });
    const r1 = await rows();
    await hub.updateSessions("dev_a", [upsert("s", 4, { status: "completed", completed_at: 1_700_000_060_000 })]);
    // A claim writes the row and its two index entries; an end the row alone.
    expect([r1 - r0, (await rows()) - r1]).toEqual([3, 1]);
    expect(await hub.getSession("s")).toMatchObject({
      status: "completed",
      completed_at: 1_700_000_060_000,
      total_logs: 40,
      error_count: 4,
    });
    // A retry, or a late older write, changes nothing.
    await hub.updateSessions("dev_a", [
      upsert("s", 4, { status: "completed", completed_at: 1_700_000_060_000, total_logs: 999 }),
    ]);
    await hub.updateSessions("dev_a", [upsert("s", 3)]);
    expect(await storedRow(projectId, "s")).toMatchObject({ status: "completed", total_logs: 40, version: 4 });
    // Another device's write changes nothing.
    await hub.updateSessions("dev_b", [upsert("s", 9, { name: "stolen" })]);
    expect(await hub.getSession("s")).toMatchObject({ device_id: "dev_a", name: "run s", total_logs: 40 });
    // A session its device held from before sessions moved here (claimed in D1) is kept as that device's.
    await hub.updateSessions("dev_b", [upsert("from-d1", 2, { status: "completed", completed_at: 1_700_000_090_000 })]);
    expect(await hub.getSession("from-d1")).toMatchObject({ device_id: "dev_b", status: "completed", total_logs: 20 });
    expect(await hub.claimSession("dev_a", { session_id: "from-d1", name: "x", started_at: 1 })).toBe("dev_b");
    await expect(hub.updateSessions("dev_a", [])).resolves.toBeUndefined();
  });

  it("a retired (deleted) project claims nothing and answers nothing", async () => {
    const projectId = `prj_test_${crypto.randomUUID()}`;
    const hub = projectHub(env, projectId);
    await hub.claimSession("dev_a", { session_id: "kept", name: "kept", started_at: 1 });
    await hub.retire();
    expect(await hub.claimSession("dev_a", { session_id: "late", name: "late", started_at: 2 })).toBeNull();
    expect(await hub.sessionOwner("kept")).toBeNull();
    expect(await hub.getSession("kept")).toBeNull();
    expect(await hub.listSessions({}, undefined, 10)).toEqual([]);
    expect(
      await runInDurableObject(
        hub,
        (_h, state) => state.storage.sql.exec("SELECT count(*) AS n FROM sessions").one().n,
      ),
    ).toBe(0);
  });
});

describe("sessions D1 had", () => {
  it("reach the project from their devices' objects, which tell their ended sessions again", async () => {
    const f = await fleet(1);
    const d = f.devices[0]!;
    expect((await call("POST", "/sessions", { token: d.deviceKey, body: { session_id: "fresh" } })).status).toBe(201);
    // A session D1 had: ended and told before the move (the project's object never saw it).
    await runInDurableObject(deviceHub(env, d.deviceId), (_h, state) => {
      state.storage.sql.exec(
        `INSERT INTO sessions (session_id, name, status, started_at, completed_at, total_logs, error_count, warning_count, version, flushed_version)
         VALUES ('old-run', 'old run', 'completed', 1700000000000, 1700000060000, 12, 1, 2, 3, 3)`,
      );
      // The schema step of the move, run again as it ran on objects that held sessions then.
      state.storage.sql.exec(DEVICE_SCHEMA.find((step) => step.includes("SET flushed_version = 0"))!);
    });
    await evictDurableObject(deviceHub(env, d.deviceId));
    expect((await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} })).status).toBe(200);
    // The device's alarm (due at once) tells the project; it may ring on its own before the test runs it.
    for (let i = 0; i < 50 && !(await projectHub(env, f.projectId).getSession("old-run")); i++) {
      await runDurableObjectAlarm(deviceHub(env, d.deviceId));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await projectHub(env, f.projectId).getSession("old-run")).toMatchObject({
      device_id: d.deviceId,
      status: "completed",
      total_logs: 12,
      error_count: 1,
      warning_count: 2,
    });
    expect((await call("GET", "/sessions/old-run", { token: f.adminKey })).json.session).toMatchObject({
      session_id: "old-run",
      total_logs: 12,
    });
  });
});

describe("reads of the project's sessions", () => {
  it("ids in a time range, and the list's filters", async () => {
    const hub = projectHub(env, `prj_test_${crypto.randomUUID()}`);
    await hub.claimSession("dev_a", { session_id: "early", name: "e", started_at: 1_000 });
    await hub.claimSession("dev_b", { session_id: "mid", name: "m", started_at: 2_000 });
    await hub.claimSession("dev_a", { session_id: "late", name: "l", started_at: 3_000 });
    await hub.updateSessions("dev_a", [
      upsert("early", 1, { started_at: 1_000, status: "completed", completed_at: 1_500 }),
    ]);
    expect(await hub.sessionIdsBetween({ from: 1_600, to: 10_000 }, 10)).toEqual(["late", "mid"]);
    expect(await hub.sessionIdsBetween({ from: 1_200, to: 2_500 }, 10)).toEqual(["mid", "early"]);
    const ids = (rows: { session_id: string }[]) => rows.map((r) => r.session_id);
    expect(ids(await hub.listSessions({ device_id: "dev_a" }, undefined, 10))).toEqual(["late", "early"]);
    expect(ids(await hub.listSessions({ status: "active" }, undefined, 10))).toEqual(["late", "mid"]);
    expect(ids(await hub.listSessions({ from: 2_000, to: 3_000 }, undefined, 10))).toEqual(["mid"]);
    expect(ids(await hub.listSessions({}, { started_at: 3_000, session_id: "late" }, 1))).toEqual(["mid"]);
  });

  it("prunes sessions ended before the tier's archive retention at the daily close, and keeps active ones", async () => {
    const projectId = `prj_test_${crypto.randomUUID()}`;
    const hub = projectHub(env, projectId);
    const old = Date.now() - 40 * 86_400_000;
    await hub.claimSession("dev_a", { session_id: "old-ended", name: "o", started_at: old });
    await hub.claimSession("dev_a", { session_id: "old-active", name: "o", started_at: old });
    await hub.claimSession("dev_a", { session_id: "recent", name: "r", started_at: Date.now() - 86_400_000 });
    await hub.updateSessions("dev_a", [
      upsert("old-ended", 1, { started_at: old, status: "completed", completed_at: old + 1_000 }),
    ]);
    await hub.closeDay(new Date(Date.now() - 86_400_000).toISOString().slice(0, 10), 30);
    await runDurableObjectAlarm(hub);
    expect(await hub.getSession("old-ended")).toBeNull();
    expect(await hub.getSession("old-active")).not.toBeNull();
    expect(await hub.getSession("recent")).not.toBeNull();
  });
});

type SessionPage = {
  sessions: { session_id: string; project_id: string; started_at: string }[];
  next_cursor: string | null;
};

describe("an org-wide list", () => {
  it("merges the org's projects newest first, and its cursor walks them all", async () => {
    const { adminKey } = await newOrg();
    const projects = [await newProject(adminKey, "one"), await newProject(adminKey, "two")];
    const devices = [await newDevice(adminKey, projects[0]!), await newDevice(adminKey, projects[1]!)];
    const base = Date.now() - 3_600_000;
    const expected: { session_id: string; project_id: string; at: number }[] = [];
    // Interleaved in time across the projects, with two sessions of each project at one same moment.
    for (let i = 0; i < 7; i++) {
      for (const p of [0, 1]) {
        const at = base + (i < 2 ? 0 : i * 1000 + p * 500);
        const session_id = `s-${i}-${p}`;
        const res = await call("POST", "/sessions", {
          token: devices[p]!.deviceKey,
          body: { session_id, started_at: new Date(at).toISOString() },
        });
        expect(res.status).toBe(201);
        expected.push({ session_id, project_id: projects[p]!, at });
      }
    }
    expected.sort(
      (x, y) =>
        y.at - x.at ||
        (x.project_id < y.project_id ? 1 : x.project_id > y.project_id ? -1 : x.session_id < y.session_id ? 1 : -1),
    );

    const all = await call<SessionPage>("GET", "/sessions?limit=200", { token: adminKey });
    expect(all.json.sessions.map((s) => s.session_id)).toEqual(expected.map((e) => e.session_id));

    for (const limit of [1, 3, 5]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Answer<SessionPage> = await call<SessionPage>(
          "GET",
          `/sessions?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`,
          { token: adminKey },
        );
        expect(res.status).toBe(200);
        expect(res.json.sessions.length).toBeLessThanOrEqual(limit);
        seen.push(...res.json.sessions.map((s) => s.session_id));
        cursor = res.json.next_cursor;
      } while (cursor);
      expect(seen).toEqual(expected.map((e) => e.session_id));
    }

    // A session is found without its project id, and with it only in its own project.
    expect((await call("GET", "/sessions/s-3-1", { token: adminKey })).json.session).toMatchObject({
      session_id: "s-3-1",
      project_id: projects[1],
    });
    expect((await call("GET", `/sessions/s-3-1?project_id=${projects[0]}`, { token: adminKey })).status).toBe(404);
    // A filter on status narrows every project's page.
    await call("PATCH", "/sessions/s-6-0", { token: devices[0]!.deviceKey, body: { status: "completed" } });
    expect(
      (await call<SessionPage>("GET", "/sessions?status=completed", { token: adminKey })).json.sessions.map(
        (s) => s.session_id,
      ),
    ).toEqual(["s-6-0"]);
  });
});
