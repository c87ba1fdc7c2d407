// GET /logs/facets and GET /logs/volume: lines counted in the log shards and merged by the
// Worker. Two devices, two modules, two sessions, at known times; the counts, their order and
// names, the range, the caps, the filters, and what a bounded scan says when it stops short.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CHUNK } from "../../durable-objects/log-shard/chunks";
import { COUNT_SCAN } from "../../durable-objects/log-shard/line-counts";
import { app } from "../../src/app";
import { FACETS, VOLUME } from "../../src/contract/log-counts";
import { shardOf } from "../../src/contract/log-shards";
import { logShard } from "../../src/stubs/log-shard";
import { call, ingest, newDevice, newOrg, newProject, readText, tenant } from "./helpers";

const S = 1_000_000; // µs
const MIN = 60 * S;
const iso = (us: number) => new Date(us / 1000).toISOString();

const at = (ts: number, level: string, module: string, message: string) => ({
  timestamp_us: ts,
  level,
  module,
  message,
});

/**
 * A project with device A (named by its DSN) and device B ("Bravo"), and lines from `base`, a
 * minute boundary two hours ago:
 * - A, module nav, session "Run one" (opened by name): 10 ERROR + 20 INFO at base + 0…29 s;
 * - A, module arm, no session: 1 FATAL + 4 INFO at base + 100…104 s;
 * - B, module arm, a session opened by its lines alone: 3 WARN ("gripper slipped") + 9 DEBUG at base + 200…211 s;
 * - B, module old: 7 INFO 30 hours ago (outside the default 24 h).
 */
async function fleet() {
  const t = await tenant();
  const b = await newDevice(t.adminKey, t.projectId, undefined, { name: "Bravo" });
  // On a 5-minute boundary, so 1- and 5-minute buckets both start at it.
  const base = Math.floor((Date.now() - 2 * 3_600_000) / 300_000) * 300_000 * 1000;
  const runOne = `run-${crypto.randomUUID()}`;
  const runTwo = `run-${crypto.randomUUID()}`;
  expect(
    (await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: runOne, name: "Run one" } })).status,
  ).toBe(201);
  const nav = Array.from({ length: 30 }, (_, i) =>
    at(base + i * S, i < 10 ? "ERROR" : "INFO", "nav", `waypoint ${i} reached`),
  );
  expect((await ingest(t.deviceKey, { session_id: runOne, logs: nav })).json.accepted).toBe(30);
  const arm = Array.from({ length: 5 }, (_, i) =>
    at(base + (100 + i) * S, i === 0 ? "FATAL" : "INFO", "arm", `joint ${i} moved`),
  );
  expect((await ingest(t.deviceKey, { logs: arm })).json.accepted).toBe(5);
  const bArm = Array.from({ length: 12 }, (_, i) =>
    at(base + (200 + i) * S, i < 3 ? "WARN" : "DEBUG", "arm", i < 3 ? `gripper slipped ${i}` : `servo tick ${i}`),
  );
  expect((await ingest(b.deviceKey, { session_id: runTwo, logs: bArm })).json.accepted).toBe(12);
  const old = Date.now() * 1000 - 30 * 3_600_000_000;
  const oldLines = Array.from({ length: 7 }, (_, i) => at(old + i * S, "INFO", "old", `boot ${i}`));
  expect((await ingest(b.deviceKey, { logs: oldLines })).json.accepted).toBe(7);
  return { ...t, b, base, runOne, runTwo, old };
}

const facets = (token: string, query: string) => call("GET", `/logs/facets?${query}`, { token });
const volume = (token: string, query: string) => call("GET", `/logs/volume?${query}`, { token });
const sum = (points: any[], level?: string) =>
  points.reduce((n, p) => n + (level ? p[level] : p.debug + p.info + p.warn + p.error + p.fatal), 0);

describe("GET /logs/facets", () => {
  it("counts the last 24 hours per device, module and session, the most first, with names", async () => {
    const f = await fleet();
    const res = await facets(f.viewerKey, `project_id=${f.projectId}`);
    expect(res.status).toBe(200);
    expect(res.json.devices).toEqual([
      { id: f.deviceId, name: f.dsn, lines: 35 },
      { id: f.b.deviceId, name: "Bravo", lines: 12 },
    ]);
    expect(res.json.modules).toEqual([
      { name: "nav", lines: 30 },
      { name: "arm", lines: 17 },
    ]);
    // A session named when opened keeps its name; one opened by its lines alone is named by its id.
    expect(res.json.sessions).toEqual([
      { id: f.runOne, name: "Run one", lines: 30 },
      { id: f.runTwo, name: f.runTwo, lines: 12 },
    ]);
    expect(res.json.partial).toBe(false);
    expect(res.json.counted_from).toBeNull();
    expect(Date.parse(res.json.to) - Date.parse(res.json.from)).toBe(24 * 3_600_000);
  });

  it("counts only lines in [from, to)", async () => {
    const f = await fleet();
    const res = await facets(
      f.viewerKey,
      `project_id=${f.projectId}&from=${iso(f.base + 100 * S)}&to=${iso(f.base + 205 * S)}`,
    );
    expect(res.status).toBe(200);
    expect(res.json.devices).toEqual(
      [
        { id: f.deviceId, name: f.dsn, lines: 5 },
        { id: f.b.deviceId, name: "Bravo", lines: 5 },
      ].sort((x, y) => (x.id < y.id ? -1 : 1)),
    );
    expect(res.json.modules).toEqual([{ name: "arm", lines: 10 }]);
    expect(res.json.sessions).toEqual([{ id: f.runTwo, name: f.runTwo, lines: 5 }]);
    expect(res.json.from).toBe(`${iso(f.base + 100 * S).slice(0, -1)}000Z`);

    // Further back, the old lines count too; milliseconds are taken as well as ISO times.
    const wide = await facets(f.viewerKey, `project_id=${f.projectId}&from=${Math.floor(f.old / 1000) - 1000}`);
    expect(wide.json.modules).toEqual([
      { name: "nav", lines: 30 },
      { name: "arm", lines: 17 },
      { name: "old", lines: 7 },
    ]);
    expect(wide.json.devices.find((d: any) => d.id === f.b.deviceId).lines).toBe(19);

    // An empty range past the lines counts nothing.
    const none = await facets(
      f.viewerKey,
      `project_id=${f.projectId}&from=${iso(f.base + 300 * S)}&to=${iso(f.base + 400 * S)}`,
    );
    expect(none.json).toMatchObject({ devices: [], modules: [], sessions: [], partial: false });
  });

  it("lists at most FACETS.max of each, the most frequent", async () => {
    const t = await tenant();
    const now = Date.now() * 1000 - 60 * S;
    // Modules m1…m6 with 1…6 lines each.
    const lines = [1, 2, 3, 4, 5, 6].flatMap((n) =>
      Array.from({ length: n }, (_, i) => at(now - i * S, "INFO", `m${n}`, `line ${i}`)),
    );
    expect((await ingest(t.deviceKey, { logs: lines })).json.accepted).toBe(21);
    const saved = FACETS.max;
    FACETS.max = 3;
    try {
      const res = await facets(t.viewerKey, `project_id=${t.projectId}`);
      expect(res.json.modules).toEqual([
        { name: "m6", lines: 6 },
        { name: "m5", lines: 5 },
        { name: "m4", lines: 4 },
      ]);
      expect(res.json.devices).toHaveLength(1);
    } finally {
      FACETS.max = saved;
    }
    expect(FACETS.max).toBe(500);
  });

  it("answers 404 for another org's project, 400 naming the field for a missing project or a reversed range", async () => {
    const f = await fleet();
    const other = await newOrg();
    const theirs = await newProject(other.adminKey);
    const res = await facets(f.viewerKey, `project_id=${theirs}`);
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("not_found");
    // Their key does not see ours either.
    expect((await facets(other.adminKey, `project_id=${f.projectId}`)).status).toBe(404);

    const missing = await facets(f.viewerKey, "");
    expect(missing.status).toBe(400);
    expect(missing.json.error.code).toBe("validation_failed");
    expect(missing.json.error.details.map((d: any) => d.path)).toContain("project_id");

    const reversed = await facets(f.viewerKey, `project_id=${f.projectId}&from=${iso(f.base + MIN)}&to=${iso(f.base)}`);
    expect(reversed.status).toBe(400);
    expect(reversed.json.error.details[0]).toMatchObject({ location: "query", path: "from" });
    const equal = await facets(f.viewerKey, `project_id=${f.projectId}&from=${iso(f.base)}&to=${iso(f.base)}`);
    expect(equal.status).toBe(400);
    const bad = await facets(f.viewerKey, `project_id=${f.projectId}&from=yesterday`);
    expect(bad.status).toBe(400);
    expect(bad.json.error.details[0].path).toBe("from");
  });

  it("asks each shard in use once and no device, and writes no row", async () => {
    const f = await fleet();
    const shards = [...new Set([shardOf(f.deviceId), shardOf(f.b.deviceId)])];
    // What the shards owe the project goes first, so no delivery of theirs falls inside the measure.
    await Promise.all(shards.map((s) => logShard(env, f.projectId, s).flush()));
    const rowsBefore = await Promise.all(shards.map((s) => logShard(env, f.projectId, s).storageRows()));
    const out = await measured(`/logs/facets?project_id=${f.projectId}`, f.viewerKey);
    expect(out.status).toBe(200);
    expect(JSON.parse(out.body).devices).toHaveLength(2);
    expect(out.calls.shard).toBe(shards.length);
    expect(out.calls.device).toBe(0);
    // One call to the project's object at most for the sessions' names (besides the API call's own record).
    expect(out.calls.sessionNames).toBe(1);
    expect(await Promise.all(shards.map((s) => logShard(env, f.projectId, s).storageRows()))).toEqual(rowsBefore);
  });

  it("says when a shard stopped at its scan bound, and counts what it read", async () => {
    const t = await tenant();
    const now = Date.now() * 1000 - 60 * S;
    const saved = { chunk: CHUNK.maxLines, scan: COUNT_SCAN.maxLines };
    CHUNK.maxLines = 10;
    try {
      // Three chunks of ten lines in the device's shard.
      const lines = Array.from({ length: 30 }, (_, i) => at(now - i * S, "INFO", "nav", `line ${i}`));
      expect((await ingest(t.deviceKey, { logs: lines })).json.accepted).toBe(30);
      const full = await facets(t.viewerKey, `project_id=${t.projectId}`);
      expect(full.json.modules).toEqual([{ name: "nav", lines: 30 }]);
      expect(full.json.partial).toBe(false);
      COUNT_SCAN.maxLines = 10;
      const cut = await facets(t.viewerKey, `project_id=${t.projectId}`);
      expect(cut.status).toBe(200);
      expect(cut.json.partial).toBe(true);
      expect(cut.json.modules).toEqual([{ name: "nav", lines: 10 }]);
      expect(typeof cut.json.counted_from).toBe("string");
      const v = await volume(t.viewerKey, `project_id=${t.projectId}`);
      expect(v.json.partial).toBe(true);
      expect(sum(v.json.points)).toBe(10);
    } finally {
      CHUNK.maxLines = saved.chunk;
      COUNT_SCAN.maxLines = saved.scan;
    }
  });
});

describe("GET /logs/volume", () => {
  it("counts lines per bucket and level; the buckets sum to the lines", async () => {
    const f = await fleet();
    const range = `project_id=${f.projectId}&from=${iso(f.base)}&to=${iso(f.base + 5 * MIN)}`;
    const res = await volume(f.viewerKey, `${range}&interval=1m`);
    expect(res.status).toBe(200);
    expect(res.json.interval).toBe("1m");
    expect(res.json.points.map((p: any) => p.t)).toEqual([0, 1, 2, 3, 4].map((i) => iso(f.base + i * MIN)));
    expect(res.json.points.map((p: any) => sum([p]))).toEqual([30, 5, 0, 12, 0]);
    expect(res.json.points[0]).toMatchObject({ debug: 0, info: 20, warn: 0, error: 10, fatal: 0 });
    expect(res.json.points[1]).toMatchObject({ debug: 0, info: 4, warn: 0, error: 0, fatal: 1 });
    expect(res.json.points[3]).toMatchObject({ debug: 9, info: 0, warn: 3, error: 0, fatal: 0 });
    expect(res.json.partial).toBe(false);

    // The same filters as GET /logs narrow it.
    const byDevice = await volume(f.viewerKey, `${range}&interval=1m&device_id=${f.b.deviceId}`);
    expect(byDevice.json.points.map((p: any) => sum([p]))).toEqual([0, 0, 0, 12, 0]);
    const byModule = await volume(f.viewerKey, `${range}&interval=1m&module=arm`);
    expect(byModule.json.points.map((p: any) => sum([p]))).toEqual([0, 5, 0, 12, 0]);
    const byWords = await volume(f.viewerKey, `${range}&interval=1m&q=gripper`);
    expect(byWords.json.points.map((p: any) => sum([p]))).toEqual([0, 0, 0, 3, 0]);
    expect(sum(byWords.json.points, "warn")).toBe(3);
    const byLevel = await volume(f.viewerKey, `${range}&interval=1m&level=ERROR,FATAL`);
    expect(byLevel.json.points.map((p: any) => sum([p]))).toEqual([10, 1, 0, 0, 0]);
    const bySession = await volume(f.viewerKey, `${range}&interval=1m&session_id=${f.runOne}`);
    expect(sum(bySession.json.points)).toBe(30);
    const nothing = await volume(f.viewerKey, `${range}&interval=1m&q=${encodeURIComponent("no such words here")}`);
    expect(sum(nothing.json.points)).toBe(0);
    // A device's lines without naming the project, as GET /logs takes them.
    const deviceOnly = await volume(
      f.viewerKey,
      `device_id=${f.deviceId}&from=${iso(f.base)}&to=${iso(f.base + 5 * MIN)}&interval=5m`,
    );
    expect(deviceOnly.json.points).toEqual([{ t: iso(f.base), debug: 0, info: 24, warn: 0, error: 10, fatal: 1 }]);
  });

  it("picks an interval for 60 to 120 buckets over the last 24 hours, and refuses too many buckets", async () => {
    const f = await fleet();
    const res = await volume(f.viewerKey, `project_id=${f.projectId}`);
    expect(res.status).toBe(200);
    expect(res.json.interval).toBe("15m");
    expect(res.json.points.length).toBeGreaterThanOrEqual(60);
    expect(res.json.points.length).toBeLessThanOrEqual(121);
    expect(sum(res.json.points)).toBe(47);
    const hour = await volume(
      f.viewerKey,
      `project_id=${f.projectId}&from=${iso(f.base)}&to=${iso(f.base + 60 * MIN)}`,
    );
    expect(hour.json.interval).toBe("30s");
    expect(hour.json.points).toHaveLength(120);

    const tooMany = await volume(f.viewerKey, `project_id=${f.projectId}&interval=1s`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error.details[0]).toMatchObject({ path: "interval" });
    expect(VOLUME.maxBuckets).toBe(2_000);
    const badInterval = await volume(f.viewerKey, `project_id=${f.projectId}&interval=2d`);
    expect(badInterval.status).toBe(400);
    expect(badInterval.json.error.details[0].path).toBe("interval");
    const noScope = await volume(f.viewerKey, "");
    expect(noScope.status).toBe(400);
    expect(noScope.json.error.details[0].path).toBe("project_id");
    const other = await newOrg();
    expect((await volume(other.adminKey, `project_id=${f.projectId}`)).status).toBe(404);
  });
});

/** Runs one request through the app with bindings that count the object calls it makes. */
async function measured(path: string, token: string) {
  const calls = { shard: 0, device: 0, sessionNames: 0 };
  const counted = <T extends object>(ns: T, on: (method: string) => void): T =>
    new Proxy(ns, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (prop !== "get" || typeof value !== "function")
          return typeof value === "function" ? value.bind(target) : value;
        return (...args: unknown[]) => {
          const stub = Reflect.apply(value as (...a: unknown[]) => object, target, args) as object;
          return new Proxy(stub, {
            get(s, m) {
              const f = Reflect.get(s, m, s) as unknown;
              if (typeof f !== "function") return f;
              return (...a: unknown[]) => {
                on(String(m));
                return Reflect.apply(f as (...x: unknown[]) => unknown, s, a);
              };
            },
          });
        };
      },
    });
  const wrapped = {
    ...env,
    LOG_SHARD: counted(env.LOG_SHARD, () => calls.shard++),
    DEVICE_HUB: counted(env.DEVICE_HUB, () => calls.device++),
    PROJECT_HUB: counted(env.PROJECT_HUB, (m) => void (m === "sessionNames" && calls.sessionNames++)),
  } as Env;
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`http://fleetbeat.test/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } }),
    wrapped,
    ctx,
  );
  const body = await readText(res);
  await waitOnExecutionContext(ctx);
  return { status: res.status, body, calls };
}
