// Properties over what clients may send: fast-check generates ingest bodies, query strings,
// path ids and socket frames, and every answer is held to the contract:
// - never a 5xx, and every non-2xx answer is {error: {code, message, details?}} with a code
//   that fits its status (an error frame on a socket likewise, never "internal");
// - valid lines beside bad ones are stored exactly once and counted once (GET /logs,
//   the session's total_logs, GET /stats/usage), also when a batch_id is sent again;
// - nothing of org B is ever visible to org A's keys: B's ids answer 404, never the object.
// Runs, seed and shrinking are set in properties/runner.ts (FC_RUNS, FC_SEED, FC_SHRINK).

import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { settle } from "../support/settle";
import {
  type Answer,
  allLogs,
  call,
  gzip,
  type LooseJson,
  line,
  newDevice,
  newKey,
  newOrg,
  newProject,
  readText,
  tailTicket,
  tenant,
} from "./helpers";
import { type Expected, type LineSpec, lineSpecs, materialize } from "./properties/lines";
import { checkProperty, reportGenerated, TIMEOUT_MS } from "./properties/runner";
import { expectClientError, expectErrorFrame, expectNoLeak } from "./properties/shapes";
import { connect } from "./properties/socket";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** A well-formed id that names nothing: `<prefix>_` and 26 Crockford characters. */
const madeUpId = (prefix: string) =>
  fc.array(fc.constantFrom(...CROCKFORD), { minLength: 26, maxLength: 26 }).map((cs) => `${prefix}_${cs.join("")}`);
const hex64 = fc
  .array(fc.constantFrom(..."0123456789abcdef"), { minLength: 64, maxLength: 64 })
  .map((cs) => cs.join(""));
const utf8 = (s: string) => new TextEncoder().encode(s).byteLength;

interface OrgA {
  orgId: string;
  adminKey: string;
  viewerKey: string;
  /** P1/D1: HTTP ingest. P2/D2: the device socket. P3/D3: the live tail. P4/D4: refused batches. */
  p1: string;
  d1: { deviceId: string; deviceKey: string };
  p2: string;
  d2: { deviceId: string; deviceKey: string };
  p3: string;
  d3: { deviceId: string; deviceKey: string };
  p4: string;
  d4: { deviceId: string; deviceKey: string };
  sessionId: string;
}

interface OrgB {
  orgId: string;
  adminKey: string;
  viewerKey: string;
  projectId: string;
  deviceId: string;
  deviceKey: string;
  sessionId: string;
  keyIds: string[];
  commandId: string;
  /** The device's labels and state as B last saw them. */
  device: Record<string, unknown>;
  /** Everything of B that must never appear in an answer to A. */
  secrets: string[];
}

let A: OrgA;
let B: OrgB;

beforeAll(async () => {
  const a = await newOrg();
  const viewerKey = await newKey(a.adminKey, "viewer");
  const projects = [];
  for (let i = 1; i <= 4; i++) {
    const p = await newProject(a.adminKey, `props-${i}`);
    projects.push({ p, d: await newDevice(a.adminKey, p) });
  }
  const sessionId = `a-${crypto.randomUUID()}`;
  expect(
    (await call("POST", "/sessions", { token: projects[0]!.d.deviceKey, body: { session_id: sessionId } })).status,
  ).toBe(201);
  A = {
    orgId: a.orgId,
    adminKey: a.adminKey,
    viewerKey,
    p1: projects[0]!.p,
    d1: projects[0]!.d,
    p2: projects[1]!.p,
    d2: projects[1]!.d,
    p3: projects[2]!.p,
    d3: projects[2]!.d,
    p4: projects[3]!.p,
    d4: projects[3]!.d,
    sessionId,
  };

  const b = await tenant();
  const bSession = `b-${crypto.randomUUID()}`;
  expect(
    (await call("POST", "/sessions", { token: b.deviceKey, body: { session_id: bSession, name: "org-b-secret-run" } }))
      .status,
  ).toBe(201);
  const bIngest = await call("POST", "/logs/ingest", {
    token: b.deviceKey,
    body: { session_id: bSession, logs: [line("ERROR", "org-b-secret-1"), line("INFO", "org-b-secret-2")] },
  });
  expect(bIngest.json.accepted).toBe(2);
  const keys = await call("GET", "/keys", { token: b.adminKey });
  const command = await call("POST", "/fleet/commands", {
    token: b.adminKey,
    body: { device_id: b.deviceId, command: "org-b-secret-command" },
  });
  expect(command.status).toBe(201);
  B = {
    orgId: b.orgId,
    adminKey: b.adminKey,
    viewerKey: b.viewerKey,
    projectId: b.projectId,
    deviceId: b.deviceId,
    deviceKey: b.deviceKey,
    sessionId: bSession,
    keyIds: keys.json.keys.map((k: LooseJson) => k.id),
    commandId: command.json.command.id,
    device: {},
    secrets: [],
  };
  const { name, environment, status, decommissioned_at } = (
    await call("GET", `/fleet/devices/${b.deviceId}`, { token: b.adminKey })
  ).json.device;
  B.device = { name, environment, status, decommissioned_at };
  B.secrets = [b.orgId, b.projectId, b.deviceId, b.dsn, bSession, "org-b-secret", B.commandId, ...B.keyIds];
});

afterAll(() => {
  console.log(reportGenerated());
});

/** POST /logs/ingest with a JSON body, gzipped or not. */
async function sendBatch(deviceKey: string, body: unknown, gzipped: boolean): Promise<Answer> {
  const text = JSON.stringify(body);
  if (!gzipped)
    return call("POST", "/logs/ingest", {
      token: deviceKey,
      raw: text,
      headers: { "content-type": "application/json" },
    });
  return call("POST", "/logs/ingest", {
    token: deviceKey,
    raw: await gzip(text),
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
  });
}

async function usageOf(projectId: string, deviceId: string) {
  await settle(deviceId);
  const res = await call("GET", `/stats/usage?project_id=${projectId}`, { token: A.viewerKey });
  expect(res.status).toBe(200);
  return res.json;
}

/** The fields of a stored line that the sender chose. */
const asSent = (l: LooseJson): Expected => ({
  timestamp_us: l.timestamp_us,
  level: l.level,
  module: l.module,
  message: l.message,
  logger: l.logger,
  thread_id: l.thread_id,
  process_id: l.process_id,
  context: l.context,
});
const markerOf = (message: string) => message.split(" ", 1)[0]!;
const byMarker = (x: Expected, y: Expected) => (markerOf(x.message) < markerOf(y.message) ? -1 : 1);
const bytesOf = (e: Expected) =>
  utf8(e.message) +
  utf8(e.module) +
  utf8(e.logger ?? "") +
  utf8(e.thread_id ?? "") +
  (e.context === null ? 0 : utf8(JSON.stringify(e.context)));

describe("ingest properties", () => {
  it(
    "valid lines beside bad ones are stored and counted exactly once, gzipped or not, however often a batch is retried",
    async () => {
      const batch = fc.record({
        specs: lineSpecs(25),
        gzipped: fc.boolean(),
        batchId: fc.boolean(),
        retries: fc.array(fc.boolean(), { maxLength: 2 }),
        session: fc.constantFrom("none", "named-by-logs", "opened-first", "existing"),
      });
      const expected = new Map<string, Expected>();
      let total = 0;
      let totalBytes = 0;
      await checkProperty("ingest: mixed lines, gzip, retries", 60, batch, async (c, run) => {
        const now = Date.now();
        const made = c.specs.map((s: LineSpec, i) => materialize(s, now, `p1r${run}l${i}`));
        const valid = made.flatMap((m) => (m.expected ? [m.expected] : []));
        const invalidIdx = made.flatMap((m, i) => (m.expected ? [] : [i]));
        const sessionId =
          c.session === "none" ? undefined : c.session === "existing" ? A.sessionId : `p1-session-${run}`;
        if (c.session === "opened-first") {
          expect(
            (await call("POST", "/sessions", { token: A.d1.deviceKey, body: { session_id: sessionId } })).status,
          ).toBe(201);
        }
        const body = {
          ...(sessionId ? { session_id: sessionId } : {}),
          ...(c.batchId ? { batch_id: `p1-batch-${run}` } : {}),
          logs: made.map((m) => m.line),
        };
        const first = await sendBatch(A.d1.deviceKey, body, c.gzipped);
        expect(first.status, JSON.stringify(first.json)).toBe(200);
        expect(first.json.accepted).toBe(valid.length);
        expect(first.json.duplicate).toBe(false);
        expect(first.json.rejected.map((r: LooseJson) => r.index)).toEqual(invalidIdx);
        for (const r of first.json.rejected) expect(r.reason).toMatch(/\S/);
        // A retry is only a retry when it names the batch; without a batch_id it is a new batch.
        if (c.batchId) {
          for (const gzipped of c.retries) {
            const again = await sendBatch(A.d1.deviceKey, body, gzipped);
            expect(again.status).toBe(200);
            expect(again.json).toMatchObject({
              accepted: first.json.accepted,
              rejected: first.json.rejected,
              duplicate: true,
            });
          }
        }
        for (const e of valid) expected.set(markerOf(e.message), e);
        total += valid.length;
        totalBytes += valid.reduce((n, e) => n + bytesOf(e), 0);

        const usage = await usageOf(A.p1, A.d1.deviceId);
        expect(usage.logs, "usage counts each accepted line once").toBe(total);
        expect(usage.log_bytes, "log_bytes as docs/usage.md defines it").toBe(totalBytes);
        if (sessionId && c.session !== "existing") {
          const session = await call("GET", `/sessions/${encodeURIComponent(sessionId)}`, { token: A.viewerKey });
          if (valid.length === 0 && c.session === "named-by-logs" && session.status === 404) return; // no line opened it
          expect(session.status).toBe(200);
          expect(session.json.session.total_logs).toBe(valid.length);
          const stored = await allLogs(A.viewerKey, `session_id=${encodeURIComponent(sessionId)}&order=asc&limit=1000`);
          expect(stored.map(asSent).sort(byMarker)).toEqual([...valid].sort(byMarker));
        }
      });

      // Every line of every case, once: the device's whole store against what was accepted.
      const stored = await allLogs(A.viewerKey, `device_id=${A.d1.deviceId}&limit=1000`);
      expect(stored.length).toBe(total);
      const byMarkerStored = new Map(stored.map((l) => [markerOf(l.message), l]));
      expect(byMarkerStored.size, "no line stored twice").toBe(stored.length);
      for (const [marker, e] of expected) expect(asSent(byMarkerStored.get(marker)), marker).toEqual(e);
      const existing = await call("GET", `/sessions/${A.sessionId}`, { token: A.viewerKey });
      expect(existing.json.session.total_logs).toBe(stored.filter((l) => l.session_id === A.sessionId).length);
    },
    TIMEOUT_MS,
  );

  it(
    "a batch refused whole stores and counts nothing, and says why in the contract's shape",
    async () => {
      const goodLines = [line("INFO", "refused-1"), line("ERROR", "refused-2")];
      const bomb = await gzip(`{"logs":[],"pad":"${" ".repeat(6 * 1024 * 1024)}"}`);
      const twoMembers = new Uint8Array([...(await gzip('{"logs":')), ...(await gzip("[]}"))]);
      const json = (body: unknown) => ({ body: JSON.stringify(body), headers: { "content-type": "application/json" } });
      const variants: Record<
        string,
        () => Promise<{ body: BodyInit; headers: Record<string, string>; status: number }>
      > = {
        "malformed JSON": async () => ({
          body: '{"logs":[',
          headers: { "content-type": "application/json" },
          status: 400,
        }),
        "not an object": async () => ({ ...json([goodLines]), status: 400 }),
        "logs not an array": async () => ({ ...json({ logs: { 0: goodLines[0] } }), status: 400 }),
        "no logs": async () => ({ ...json({ batch_id: "x" }), status: 400 }),
        "empty batch_id": async () => ({ ...json({ batch_id: "", logs: goodLines }), status: 400 }),
        "batch_id too long": async () => ({ ...json({ batch_id: "b".repeat(129), logs: goodLines }), status: 400 }),
        "session_id with a slash": async () => ({ ...json({ session_id: "a/b", logs: goodLines }), status: 400 }),
        "session_id with a control character": async () => ({
          ...json({ session_id: "run\u0001", logs: goodLines }),
          status: 400,
        }),
        "session_id too long": async () => ({ ...json({ session_id: "s".repeat(129), logs: goodLines }), status: 400 }),
        "text/plain": async () => ({
          body: JSON.stringify({ logs: goodLines }),
          headers: { "content-type": "text/plain" },
          status: 415,
        }),
        brotli: async () => ({
          body: JSON.stringify({ logs: goodLines }),
          headers: { "content-type": "application/json", "content-encoding": "br" },
          status: 415,
        }),
        "gzip that is not": async () => ({
          body: JSON.stringify({ logs: goodLines }),
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
          status: 400,
        }),
        "two gzip members": async () => ({
          body: twoMembers,
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
          status: 400,
        }),
        "gzip bomb": async () => ({
          body: bomb,
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
          status: 413,
        }),
        "5,001 lines": async () => ({
          ...json({ logs: Array.from({ length: 5001 }, () => goodLines[0]) }),
          status: 413,
        }),
        "invalid UTF-8": async () => ({
          body: new Uint8Array([
            ...new TextEncoder().encode('{"logs":[{"level":"INFO","module":"m","timestamp_us":1,"message":"'),
            0xff,
            0xfe,
            ...new TextEncoder().encode('"}]}'),
          ]),
          headers: { "content-type": "application/json" },
          status: 400,
        }),
      };
      await checkProperty(
        "ingest: batches refused whole",
        30,
        fc.constantFrom(...Object.keys(variants)),
        async (name) => {
          const v = await variants[name]!();
          const res = await call("POST", "/logs/ingest", { token: A.d4.deviceKey, raw: v.body, headers: v.headers });
          expectClientError(res.status, res.json, name);
          expect(res.status, name).toBe(v.status);
        },
      );
      const usage = await usageOf(A.p4, A.d4.deviceId);
      expect(usage.logs).toBe(0);
      expect(usage.log_bytes).toBe(0);
      expect(await allLogs(A.viewerKey, `device_id=${A.d4.deviceId}`)).toEqual([]);
    },
    TIMEOUT_MS,
  );
});

/** Values that have broken query parsers: numbers out of range, odd dates, ids of both orgs. */
function wildValues() {
  const numbers = fc.constantFrom(
    "0",
    "-1",
    "1",
    "1.5",
    "1e308",
    "-1e308",
    "1e-400",
    "99999999999999999999999",
    "9007199254740993",
    "NaN",
    "Infinity",
    "-0",
    "0x10",
    " 5",
    "5 ",
    "1000",
    "1001",
    "200",
    "201",
    "",
  );
  const dates = fc.oneof(
    fc.constantFrom(
      "2026-02-30T00:00:00Z",
      "9999-12-31T23:59:59Z",
      "0000-01-01T00:00:00Z",
      "2026-11-25T10:00:00+14:00",
      "2026-11-25",
      "2255-12-31T00:00:00Z",
      "2256-01-01T00:00:00Z",
      "2026-11-25T10:00:00.1234567890123Z",
    ),
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    fc.date({ noInvalidDate: true }).map((d) => String(d.getTime())),
  );
  const ids = fc.oneof(
    fc.constantFrom(A.p1, A.d1.deviceId, A.sessionId, A.orgId, B.projectId, B.deviceId, B.sessionId, B.orgId),
    madeUpId("prj"),
    madeUpId("dev"),
    madeUpId("org"),
  );
  const enums = fc.constantFrom(
    "asc",
    "desc",
    "csv",
    "ndjson",
    "json",
    "xml",
    "true",
    "false",
    "online",
    "offline",
    "maintenance",
    "error",
    "production",
    "prod",
    "DEV",
    "1m",
    "5m",
    "15m",
    "1h",
    "60m",
    "1d",
    "24h",
    "2m",
    "active",
    "completed",
    "ERROR,WARN",
    "error",
    "TRACE",
    ",,,",
    "WARN,WARNING",
  );
  const cursors = fc.oneof(
    fc.base64String({ maxLength: 80 }),
    fc.jsonValue({ maxDepth: 2 }).map((v) => btoa(unescape(encodeURIComponent(JSON.stringify(v))))),
    fc.constant("x".repeat(3000)),
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
    { weight: 2, arbitrary: numbers },
    { weight: 1, arbitrary: fc.bigInt().map(String) },
    { weight: 2, arbitrary: dates },
    { weight: 3, arbitrary: ids },
    { weight: 2, arbitrary: enums },
    { weight: 1, arbitrary: cursors },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  );
}

/** A value each key takes when used as documented, so that cases also get past validation. */
function plausibleValues(): Record<string, fc.Arbitrary<string>> {
  const DAY = 86_400_000;
  const time = fc
    .integer({ min: -10 * DAY, max: DAY })
    .chain((offset) => fc.constantFrom(new Date(Date.now() + offset).toISOString(), String(Date.now() + offset)));
  return {
    project_id: fc.constant(A.p1),
    device_id: fc.constant(A.d1.deviceId),
    session_id: fc.constant(A.sessionId),
    org_id: fc.constant(A.orgId),
    module: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.constant("test")),
    level: fc.constantFrom("ERROR,WARN", "info", "DEBUG,INFO,WARN,ERROR,FATAL", "fatal"),
    from: time,
    to: time,
    q: fc.string({ maxLength: 30 }),
    order: fc.constantFrom("asc", "desc"),
    limit: fc.integer({ min: 1, max: 2000 }).map(String),
    format: fc.constantFrom("csv", "ndjson", "json"),
    environment: fc.constantFrom("production", "prod", "Dev", "testing"),
    type: fc.constantFrom("amr", "drone"),
    include_decommissioned: fc.constantFrom("true", "false"),
    interval: fc.constantFrom("1m", "5m", "15m", "1h", "60m", "1d", "24h"),
  };
}

/** Query keys that scope a request to a project, device or session of one org. */
const SCOPING = new Set(["project_id", "device_id", "session_id"]);

describe("query-string properties", () => {
  it(
    "GET /logs, /logs/export, /fleet/devices, /sessions and /stats/usage answer every query in the contract's shape, and only with org A's data",
    async () => {
      // `scoped`: the endpoint needs a project, device or session; most cases name one first.
      const endpoints: { path: string; keys: string[]; scoped?: true; status?: string[] }[] = [
        {
          path: "/logs",
          keys: [
            "project_id",
            "device_id",
            "session_id",
            "module",
            "level",
            "from",
            "to",
            "q",
            "order",
            "limit",
            "cursor",
          ],
          scoped: true,
        },
        {
          path: "/logs/export",
          keys: ["format", "project_id", "device_id", "session_id", "module", "level", "from", "to", "q", "order"],
          scoped: true,
        },
        {
          path: "/fleet/devices",
          keys: ["project_id", "environment", "status", "type", "q", "include_decommissioned", "limit", "cursor"],
          status: ["online", "offline", "maintenance", "error"],
        },
        {
          path: "/sessions",
          keys: ["project_id", "device_id", "status", "from", "to", "limit", "cursor"],
          status: ["active", "completed", "failed", "aborted", "timed_out"],
        },
        { path: "/stats/usage", keys: ["project_id", "org_id"], scoped: true },
        { path: `/fleet/devices/${A.d1.deviceId}/metrics`, keys: ["from", "to", "interval"] },
        { path: `/fleet/devices/${A.d1.deviceId}/commands/history`, keys: ["limit", "cursor"] },
      ];
      const wild = wildValues();
      const plausible = plausibleValues();
      // A documented key with a plausible value, a documented key with a wild one, or any key at all.
      const pair = (keys: string[], statuses: string[] = []) =>
        fc.oneof(
          {
            weight: 8,
            arbitrary: fc
              .constantFrom(...keys)
              .chain((k) =>
                fc.tuple(fc.constant(k), k === "status" ? fc.constantFrom(...statuses) : (plausible[k] ?? wild)),
              ),
          },
          { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...keys), wild) },
          { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 12 }), wild) },
        );
      const query = fc.integer({ min: 0, max: endpoints.length - 1 }).chain((e) =>
        fc.record({
          endpoint: fc.constant(endpoints[e]!),
          pairs: fc
            .tuple(
              endpoints[e]!.scoped
                ? fc.option(fc.constant([["project_id", A.p1]]), { freq: 5, nil: [] })
                : fc.constant([]),
              fc.array(pair(endpoints[e]!.keys, endpoints[e]!.status), { maxLength: 4 }),
            )
            .map(([scope, rest]) => [...scope, ...rest] as [string, string][]),
          // Mostly encoded as a browser would; sometimes as typed, stray % signs and all.
          raw: fc.boolean().chain((r) => (r ? fc.boolean() : fc.constant(false))),
          junk: fc.constantFrom("", "&", "&&=", "%", "%zz", "%E0%A4%A", "a=%", "=x", "&limit", "#frag"),
          admin: fc.boolean(),
        }),
      );
      const statuses = new Map<number, number>();
      await checkProperty(
        "queries: /logs, /logs/export, /fleet/devices, /sessions, /stats/usage",
        150,
        query,
        async (c) => {
          const qs = c.raw ? c.pairs.map(([k, v]) => `${k}=${v}`).join("&") : new URLSearchParams(c.pairs).toString();
          const url = `${c.endpoint.path}?${qs}${c.junk}`;
          const res = await exports.default.fetch(`http://fleetbeat.test/api/v1${url}`, {
            headers: { authorization: `Bearer ${c.admin ? A.adminKey : A.viewerKey}` },
          });
          const text = await readText(res);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const context = `GET ${url} → ${res.status}`;
          if (res.status >= 200 && res.status < 300) {
            expectNoLeak(text, B.secrets, context);
            // A request scoped to one of B's projects, devices or sessions is never answered with data.
            const foreign = c.pairs.filter(
              ([k, v]) => SCOPING.has(k) && [B.projectId, B.deviceId, B.sessionId].includes(v),
            );
            if (foreign.length > 0) {
              expect(foreign, `${context}: scoped to org B yet answered ${text.slice(0, 200)}`).toEqual([]);
            }
          } else {
            expectClientError(res.status, JSON.parse(text), context);
          }
        },
      );
      console.log(`[properties] query statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    },
    TIMEOUT_MS,
  );

  it("B's ids in A's scoping parameters answer 404", async () => {
    const asks = [
      `/logs?project_id=${B.projectId}`,
      `/logs?device_id=${B.deviceId}`,
      `/logs?session_id=${B.sessionId}`,
      `/logs/export?project_id=${B.projectId}`,
      `/logs/export?device_id=${B.deviceId}`,
      `/fleet/devices?project_id=${B.projectId}`,
      `/sessions?project_id=${B.projectId}`,
      `/stats/usage?project_id=${B.projectId}`,
      `/sessions/${B.sessionId}`,
      `/sessions/${A.sessionId}?project_id=${B.projectId}`,
    ];
    for (const path of asks) {
      const res = await call("GET", path, { token: A.viewerKey });
      expect(res.status, `${path}: ${JSON.stringify(res.json)}`).toBe(404);
      expectClientError(res.status, res.json, path);
    }
  });
});

describe("what the properties found", () => {
  // Found by the query property (FC_RUNS=300, seeds 1, 2 and 3: "GET /sessions?limit=691 → 500"):
  // a page of GET /sessions asked each device's object for its live counts with one bound
  // variable per session, and a Durable Object's SQLite takes at most 100, so a page holding
  // more than 100 sessions of one device answered 500 "too many SQL variables". Fixed in
  // 8168156 (one JSON parameter); this pins it.
  it("GET /sessions pages holding more than 100 sessions of one device answer 200", async () => {
    const t = await tenant();
    for (let i = 0; i < 101; i++) {
      expect((await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: `many-${i}` } })).status).toBe(
        201,
      );
    }
    const page = await call("GET", `/sessions?project_id=${t.projectId}&limit=200`, { token: t.viewerKey });
    expect(page.status, JSON.stringify(page.json)).toBe(200);
    expect(page.json.sessions).toHaveLength(101);
  });
});

describe("path properties", () => {
  it(
    "any id in a path answers in the contract's shape; B's ids answer 404 and B's objects are untouched",
    async () => {
      type Kind = "org" | "project" | "device" | "session" | "key" | "command";
      const bIds: Record<Kind, string[]> = {
        org: [B.orgId],
        project: [B.projectId],
        device: [B.deviceId],
        session: [B.sessionId],
        key: B.keyIds,
        command: [B.commandId],
      };
      const prefix: Record<Kind, string> = {
        org: "org",
        project: "prj",
        device: "dev",
        session: "ses",
        key: "key",
        command: "cmd",
      };
      const aIds: Record<Kind, string> = {
        org: A.orgId,
        project: A.p1,
        device: A.d1.deviceId,
        session: A.sessionId,
        key: "",
        command: "",
      };
      interface Route {
        method: string;
        path: string;
        kinds: Kind[];
        token: "admin" | "viewer" | "device";
        body?: (id: string) => unknown;
        /** Statuses a route may answer B's id with besides 404 (a route only the server admin may call). */
        alsoForB?: number[];
      }
      const routes: Route[] = [
        { method: "GET", path: "/fleet/devices/{device}", kinds: ["device"], token: "viewer" },
        {
          method: "PATCH",
          path: "/fleet/devices/{device}",
          kinds: ["device"],
          token: "admin",
          body: () => ({ name: "renamed by A" }),
        },
        {
          method: "PUT",
          path: "/fleet/devices/{device}",
          kinds: ["device"],
          token: "admin",
          body: () => ({ status: "maintenance" }),
        },
        { method: "DELETE", path: "/fleet/devices/{device}", kinds: ["device"], token: "admin" },
        { method: "GET", path: "/fleet/devices/{device}/metrics", kinds: ["device"], token: "viewer" },
        { method: "GET", path: "/fleet/devices/{device}/commands/history", kinds: ["device"], token: "viewer" },
        { method: "GET", path: "/fleet/devices/{device}/commands", kinds: ["device"], token: "device" },
        {
          method: "POST",
          path: "/fleet/devices/{device}/commands/{command}/ack",
          kinds: ["device", "command"],
          token: "device",
          body: () => ({ status: "succeeded" }),
        },
        { method: "GET", path: "/sessions/{session}", kinds: ["session"], token: "viewer" },
        {
          method: "PATCH",
          path: "/sessions/{session}",
          kinds: ["session"],
          token: "device",
          body: () => ({ status: "aborted" }),
        },
        { method: "DELETE", path: "/keys/{key}", kinds: ["key"], token: "admin" },
        { method: "GET", path: "/projects/{project}", kinds: ["project"], token: "viewer" },
        { method: "DELETE", path: "/projects/{project}", kinds: ["project"], token: "admin" },
        { method: "GET", path: "/orgs/{org}", kinds: ["org"], token: "viewer" },
        {
          method: "PATCH",
          path: "/orgs/{org}",
          kinds: ["org"],
          token: "admin",
          body: () => ({ name: "taken over" }),
          alsoForB: [403],
        },
        {
          method: "POST",
          path: "/fleet/commands",
          kinds: ["device"],
          token: "admin",
          body: (id) => ({ device_id: id, command: "reboot" }),
        },
        {
          method: "POST",
          path: "/logs/stream/ticket",
          kinds: ["project"],
          token: "viewer",
          body: (id) => ({ project_id: id }),
        },
      ];
      const garbage = fc.oneof(
        fc.string({ unit: "grapheme", maxLength: 40 }).map(encodeURIComponent),
        fc.string({ unit: "binary", maxLength: 20 }).map(encodeURIComponent),
        fc.constantFrom(
          "",
          ".",
          "..",
          "%2e%2e",
          "%2F",
          "a%2Fb",
          "%00",
          "null",
          "undefined",
          "0",
          "-1",
          "1e308",
          "x".repeat(300),
          "dev_",
          "dev_0000000000000000000000000",
          "DEV_00000000000000000000000000",
        ),
      );
      const idFor = (kind: Kind, route: Route) =>
        fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(...bIds[kind]).map((id) => ({ id, from: "B" as const })) },
          { weight: 2, arbitrary: madeUpId(prefix[kind]).map((id) => ({ id, from: "made-up" as const })) },
          {
            weight: 1,
            arbitrary: fc
              .constantFrom(...Object.values(prefix))
              .chain(madeUpId)
              .map((id) => ({ id, from: "made-up" as const })),
          },
          { weight: 2, arbitrary: garbage.map((id) => ({ id, from: "garbage" as const })) },
          // A's own ids only where reading them changes nothing.
          ...(route.method === "GET" && route.token !== "device" && aIds[kind]
            ? [{ weight: 1, arbitrary: fc.constant({ id: aIds[kind], from: "A" as const }) }]
            : []),
        );
      const request = fc.integer({ min: 0, max: routes.length - 1 }).chain((r) =>
        fc.record({
          route: fc.constant(routes[r]!),
          ids: fc.tuple(...routes[r]!.kinds.map((k) => idFor(k, routes[r]!))),
        }),
      );
      const tokens = { admin: A.adminKey, viewer: A.viewerKey, device: A.d1.deviceKey };
      await checkProperty(
        "paths: /fleet/devices/:id, /sessions/:id, /keys/:id, /projects/:id, /orgs/:id",
        100,
        request,
        async ({ route, ids }) => {
          let path = route.path;
          for (const [i, k] of route.kinds.entries()) path = path.replace(`{${k}}`, ids[i]!.id);
          const bodyId = route.body && !route.path.includes(`{${route.kinds[0]}}`) ? ids[0]!.id : undefined;
          const res = await call(route.method, path, { token: tokens[route.token], body: route.body?.(bodyId ?? "") });
          const context = `${route.method} ${path}${bodyId ? ` ${JSON.stringify(route.body!(bodyId))}` : ""} → ${res.status}`;
          if (res.status >= 200 && res.status < 300) expectNoLeak(JSON.stringify(res.json), B.secrets, context);
          else expectClientError(res.status, res.json, context);
          if (ids.some((x) => x.from === "B"))
            expect([404, ...(route.alsoForB ?? [])], `${context}: ${JSON.stringify(res.json)}`).toContain(res.status);
          if (ids.every((x) => x.from === "A")) expect(res.status, context).toBe(200);
        },
      );

      // B's org, project, device, session, keys and command are as they were.
      const asB = (path: string) => call("GET", path, { token: B.adminKey });
      expect((await asB(`/orgs/${B.orgId}`)).json.org.name).toBe("Acme Robotics");
      expect((await asB(`/projects/${B.projectId}`)).status).toBe(200);
      const { name, environment, status, decommissioned_at } = (await asB(`/fleet/devices/${B.deviceId}`)).json.device;
      expect({ name, environment, status, decommissioned_at }).toEqual(B.device);
      expect((await asB(`/sessions/${B.sessionId}`)).json.session.status).toBe("active");
      expect((await asB("/keys")).json.keys.map((k: LooseJson) => k.id).sort()).toEqual([...B.keyIds].sort());
      expect((await call("GET", "/me", { token: B.viewerKey })).status).toBe(200);
      const history = (await asB(`/fleet/devices/${B.deviceId}/commands/history`)).json.commands;
      expect(history.map((h: LooseJson) => [h.id, h.status])).toEqual([[B.commandId, "queued"]]);
      expect((await call("POST", "/fleet/heartbeat", { token: B.deviceKey, body: {} })).status).toBe(200);
    },
    TIMEOUT_MS,
  );
});

describe("socket properties", () => {
  /** A frame spec for the device socket; lines are made when the case runs. */
  type DeviceFrameSpec =
    | { kind: "json"; value: unknown }
    | { kind: "text"; text: string }
    | { kind: "binary"; bytes: Uint8Array }
    | { kind: "deep"; depth: number; open: string }
    | {
        kind: "logs";
        id?: string | number;
        session?: string;
        sessionOk: boolean;
        batch?: string;
        batchOk: boolean;
        specs: LineSpec[];
      }
    | { kind: "heartbeat"; id?: string | number; fields: Record<string, unknown> }
    | { kind: "command_ack"; id?: string | number; fields: Record<string, unknown> }
    | { kind: "other"; id?: unknown; type: unknown; fields: Record<string, unknown> };

  const frameId = fc.option(fc.oneof(fc.string({ maxLength: 10 }), fc.integer()), { nil: undefined });

  it(
    "the device socket answers every frame once, with an ack or an error frame, and stays open; acks count exactly",
    async () => {
      const deviceFrame: fc.Arbitrary<DeviceFrameSpec> = fc.oneof<fc.MaybeWeightedArbitrary<DeviceFrameSpec>[]>(
        fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: "json" as const, value })),
        fc.string({ unit: "grapheme", maxLength: 30 }).map((text) => ({ kind: "text" as const, text })),
        fc.uint8Array({ maxLength: 40 }).map((bytes) => ({ kind: "binary" as const, bytes })),
        fc.record({
          kind: fc.constant("deep" as const),
          depth: fc.integer({ min: 30, max: 5000 }),
          open: fc.constantFrom("[", '{"a":'),
        }),
        {
          weight: 4,
          arbitrary: fc
            .record({
              kind: fc.constant("logs" as const),
              id: frameId,
              sessionChoice: fc.constantFrom("none", "good", "bad"),
              batchChoice: fc.constantFrom("none", "fresh", "reused", "bad"),
              specs: lineSpecs(8),
              n: fc.nat(3),
            })
            .map(({ sessionChoice, batchChoice, n, ...r }) => ({
              ...r,
              session:
                sessionChoice === "none"
                  ? undefined
                  : sessionChoice === "good"
                    ? `ws-session-${n}`
                    : ["a/b", "", " x", "\u0007"][n],
              sessionOk: sessionChoice !== "bad",
              batch:
                batchChoice === "none"
                  ? undefined
                  : batchChoice === "fresh"
                    ? `fresh-${crypto.randomUUID()}`
                    : batchChoice === "reused"
                      ? `reused-${n}`
                      : ["", "b".repeat(129)][n % 2],
              batchOk: batchChoice !== "bad",
            })),
        },
        fc.record({
          kind: fc.constant("heartbeat" as const),
          id: frameId,
          fields: fc.record(
            {
              status: fc.oneof(
                fc.constantFrom("online", "maintenance", "error", "sleeping", ""),
                fc.jsonValue({ maxDepth: 1 }),
              ),
              metrics: fc.oneof(
                fc.dictionary(
                  fc.string({ maxLength: 70 }),
                  fc.oneof(fc.double(), fc.integer(), fc.jsonValue({ maxDepth: 1 })),
                  { maxKeys: 40 },
                ),
                fc.jsonValue({ maxDepth: 1 }),
              ),
              session_id: fc.oneof(fc.constant("ws-session-0"), fc.string({ maxLength: 10 })),
            },
            { requiredKeys: [] },
          ),
        }),
        fc.record({
          kind: fc.constant("command_ack" as const),
          id: frameId,
          fields: fc.record(
            {
              command_id: fc.oneof(madeUpId("cmd"), fc.constant(B.commandId), fc.string({ maxLength: 10 })),
              status: fc.oneof(
                fc.constantFrom("succeeded", "failed", "rejected", "done"),
                fc.jsonValue({ maxDepth: 1 }),
              ),
              result: fc.jsonValue({ maxDepth: 2 }),
            },
            { requiredKeys: [] },
          ),
        }),
        fc.record({
          kind: fc.constant("other" as const),
          id: fc.jsonValue({ maxDepth: 1 }),
          type: fc.oneof(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 })),
          fields: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
        }),
      );

      const socket = await connect("/fleet/connect", { authorization: `Bearer ${A.d2.deviceKey}` });
      expect(socket.status).toBe(101);
      let seen = (await socket.next(0, (f) => f.type === "ready")) + 1;
      let stored = 0;
      let framesSent = 0;
      await checkProperty(
        "device socket frames",
        40,
        fc.array(deviceFrame, { minLength: 1, maxLength: 5 }),
        async (frames, run) => {
          for (const [i, spec] of frames.entries()) {
            const now = Date.now();
            let payload: string | Uint8Array;
            let id: unknown;
            let expectLogs: { valid: number; invalid: number[] } | null = null;
            switch (spec.kind) {
              case "json":
                payload = JSON.stringify(spec.value);
                id =
                  spec.value && typeof spec.value === "object" && !Array.isArray(spec.value)
                    ? (spec.value as LooseJson).id
                    : undefined;
                break;
              case "text":
                payload = spec.text;
                try {
                  const v = JSON.parse(spec.text);
                  id = v && typeof v === "object" ? v.id : undefined;
                } catch {
                  // not JSON: answered bad_request, without an id
                }
                break;
              case "binary":
                payload = spec.bytes;
                break;
              case "deep":
                payload = `${spec.open.repeat(spec.depth)}1${(spec.open === "[" ? "]" : "}").repeat(spec.depth)}`;
                break;
              case "logs": {
                const made = spec.specs.map((s, j) => materialize(s, now, `ws${run}f${i}l${j}`));
                payload = JSON.stringify({
                  type: "logs",
                  id: spec.id,
                  session_id: spec.session,
                  batch_id: spec.batch,
                  logs: made.map((m) => m.line),
                });
                id = spec.id;
                if (spec.sessionOk && spec.batchOk) {
                  expectLogs = {
                    valid: made.filter((m) => m.expected).length,
                    invalid: made.flatMap((m, j) => (m.expected ? [] : [j])),
                  };
                }
                break;
              }
              case "heartbeat":
              case "command_ack":
                payload = JSON.stringify({ type: spec.kind, id: spec.id, ...spec.fields });
                id = spec.id;
                break;
              case "other":
                payload = JSON.stringify({ ...spec.fields, type: spec.type, id: spec.id });
                id = spec.id;
                break;
            }
            socket.send(payload);
            framesSent++;
            const at = await socket.next(seen, (f) => f.type === "ack" || f.type === "error");
            const answer = socket.frames[at];
            const context = `frame ${typeof payload === "string" ? payload.slice(0, 200) : `<${payload.byteLength} bytes>`} → ${JSON.stringify(answer).slice(0, 300)}`;
            // Nothing else may come in between: a device with no commands queued gets only answers.
            expect(socket.frames.slice(seen, at), context).toEqual([]);
            seen = at + 1;
            if (typeof id === "string" || typeof id === "number")
              expect(answer.id, context).toBe(JSON.parse(JSON.stringify(id)));
            if (answer.type === "error") {
              expectErrorFrame(answer, context);
              expect(expectLogs, `${context}: a well-formed logs frame is acknowledged`).toBeNull();
            } else {
              expect(answer.of, context).toBeTypeOf("string");
              if (answer.of === "logs") {
                if (!answer.duplicate) stored += answer.accepted;
                if (expectLogs && !answer.duplicate) {
                  expect(answer.accepted, context).toBe(expectLogs.valid);
                  expect(
                    answer.rejected.map((r: LooseJson) => r.index),
                    context,
                  ).toEqual(expectLogs.invalid);
                }
              }
            }
            expect(socket.closed, context).toBeNull();
          }
        },
      );
      socket.close();
      const lines = await allLogs(A.viewerKey, `device_id=${A.d2.deviceId}&limit=1000`);
      expect(lines.length, "lines stored through the socket").toBe(stored);
      expect(new Set(lines.map((l) => markerOf(l.message))).size, "none twice").toBe(lines.length);
      expect((await usageOf(A.p2, A.d2.deviceId)).logs).toBe(stored);
      console.log(`[properties] device socket: ${framesSent} frames sent, ${stored} lines stored`);
    },
    TIMEOUT_MS,
  );

  it(
    "a live-tail viewer's frames are answered with a filter or an error frame, it stays open, and it sees only its project",
    async () => {
      // Each field either valid by docs/limits.md or wrong in a way the filter schema names.
      const good = {
        device_id: fc.oneof(fc.constant(A.d3.deviceId), madeUpId("dev")),
        session_id: fc.constantFrom("run-1", crypto.randomUUID(), "Ärger ✓"),
        module: fc.string({ minLength: 1, maxLength: 128 }),
        level: fc.constantFrom<unknown>("ERROR,WARN", ["error"], "fatal", "warn, info", ["DEBUG", "INFO"], ""),
        q: fc.string({ maxLength: 256 }),
      };
      const bad = {
        device_id: fc.constantFrom<unknown>("dev_123", A.p3, 5, null, ""),
        session_id: fc.constantFrom<unknown>("a/b", "", " x", "\u0001", 5, "s".repeat(129)),
        module: fc.constantFrom<unknown>("", "m".repeat(129), 5, [], null),
        level: fc.constantFrom<unknown>("TRACE", ["WARNING"], ["a", "b", "c", "d", "e", "f"], "ERROR,LOUD", 3, {
          ERROR: true,
        }),
        q: fc.constantFrom<unknown>("q".repeat(257), 5, ["x"]),
      };
      type Field = keyof typeof good;
      const fieldNames = Object.keys(good) as Field[];
      const filterFrame = fc
        .record({
          fields: fc.subarray(fieldNames),
          badOne: fc.option(fc.constantFrom(...fieldNames), { nil: undefined }),
          unknownKey: fc.option(fc.constantFrom("levels", "device", "project_id", "filter2", "__proto__x"), {
            nil: undefined,
          }),
          nested: fc.boolean(),
        })
        .chain(({ fields, badOne, unknownKey, nested }) => {
          const names = badOne && !fields.includes(badOne) ? [...fields, badOne] : fields;
          const values = names.map((n) => (n === badOne ? bad[n] : good[n]));
          return fc.tuple(...values).map((vs) => {
            const filter: Record<string, unknown> = Object.fromEntries(names.map((n, i) => [n, vs[i]]));
            if (unknownKey) filter[unknownKey] = "x";
            return {
              kind: "filter" as const,
              frame: nested ? { type: "filter", filter } : { type: "filter", ...filter },
              valid: !badOne && !unknownKey,
            };
          });
        });
      const tailFrame = fc.oneof(
        { weight: 4, arbitrary: filterFrame },
        {
          weight: 1,
          arbitrary: fc.nat().map((seq) => ({ kind: "ack" as const, frame: { type: "ack", seq }, valid: true })),
        },
        {
          weight: 1,
          arbitrary: fc
            .constantFrom<unknown>(-1, 1.5, "3", null, true)
            .map((seq) => ({ kind: "ack" as const, frame: { type: "ack", seq }, valid: false })),
        },
        {
          weight: 1,
          arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ kind: "any" as const, frame: v, valid: undefined })),
        },
        {
          weight: 1,
          arbitrary: fc.string({ maxLength: 20 }).map((t) => ({ kind: "text" as const, frame: t, valid: undefined })),
        },
      );

      const viewer = await connect(`/logs/stream?ticket=${await tailTicket(A.viewerKey, A.p3)}`);
      expect(viewer.status).toBe(101);
      let seen = (await viewer.next(0, (f) => f.type === "ready")) + 1;
      let sentinel = 0;
      /** Sends a known filter and waits for its echo: everything before it answers earlier frames. */
      const fence = async () => {
        const module = `sentinel-${++sentinel}`;
        viewer.send(JSON.stringify({ type: "filter", module }));
        const at = await viewer.next(seen, (f) => f.type === "filter" && f.filter?.module === module);
        const between = viewer.frames.slice(seen, at);
        seen = at + 1;
        return between;
      };
      let framesSent = 0;
      await checkProperty(
        "live-tail filter frames",
        40,
        fc.array(tailFrame, { minLength: 1, maxLength: 5 }),
        async (frames, run) => {
          for (const f of frames) {
            viewer.send(typeof f.frame === "string" ? f.frame : JSON.stringify(f.frame));
            framesSent++;
            const answers = await fence();
            const context = `frame ${JSON.stringify(f.frame).slice(0, 200)} → ${JSON.stringify(answers).slice(0, 300)}`;
            if (f.frame === "ping") {
              expect(answers, context).toEqual([{ raw: "pong" }]);
              continue;
            }
            expect(answers.length, context).toBeLessThanOrEqual(1);
            for (const a of answers) {
              if (a.type === "error") expectErrorFrame(a, context);
              else expect(a.type, context).toBe("filter");
            }
            if (f.kind === "ack" && f.valid) expect(answers, context).toEqual([]);
            else if (f.valid === true)
              expect(
                answers.map((a) => a.type),
                context,
              ).toEqual(["filter"]);
            else if (f.valid === false)
              expect(
                answers.map((a) => a.error?.code),
                context,
              ).toEqual(["validation_failed"]);
            else
              expect(answers.length, `${context}: every frame that is not an ack is answered`).toBe(
                f.kind === "any" &&
                  (f.frame as LooseJson)?.type === "ack" &&
                  Number.isInteger((f.frame as LooseJson).seq) &&
                  (f.frame as LooseJson).seq >= 0
                  ? 0
                  : 1,
              );
            expect(viewer.closed, context).toBeNull();
          }
          // Now and then B's device logs while A watches: none of it may reach A's viewer.
          if (run % 5 === 0)
            expect(
              (
                await call("POST", "/logs/ingest", {
                  token: B.deviceKey,
                  body: { logs: [line("ERROR", `org-b-secret-live-${run}`)] },
                })
              ).status,
            ).toBe(200);
        },
      );

      // Watching everything again: D3's lines arrive, and no frame ever carried B's.
      viewer.send(JSON.stringify({ type: "filter" }));
      seen = (await viewer.next(seen, (f) => f.type === "filter")) + 1;
      await call("POST", "/logs/ingest", { token: B.deviceKey, body: { logs: [line("FATAL", "org-b-secret-final")] } });
      expect(
        (
          await call("POST", "/logs/ingest", {
            token: A.d3.deviceKey,
            body: { logs: [line("INFO", "a-live-1"), line("ERROR", "a-live-2")] },
          })
        ).json.accepted,
      ).toBe(2);
      await viewer.next(seen, (f) => f.type === "logs" && f.logs.some((l: LooseJson) => l.message === "a-live-2"));
      const delivered = viewer.frames.filter((f) => f.type === "logs").flatMap((f) => f.logs);
      expect(delivered.map((l: LooseJson) => l.message)).toEqual(["a-live-1", "a-live-2"]);
      expectNoLeak(
        JSON.stringify(viewer.frames.filter((f) => f.type === "logs" || f.type === "dropped")),
        B.secrets,
        "tail frames",
      );
      expect(viewer.closed).toBeNull();
      viewer.close();
      console.log(`[properties] live tail: ${framesSent} frames sent, ${sentinel} fences`);
    },
    TIMEOUT_MS,
  );

  it(
    "forged device keys and tail tickets never open a socket, and are refused in the contract's shape",
    async () => {
      const forged = fc.oneof(
        fc.tuple(madeUpId("dev"), hex64).map(([d, h]) => ({ kind: "device" as const, credential: `fbd_${d}.${h}` })),
        hex64.map((h) => ({ kind: "device" as const, credential: `fbd_${A.d2.deviceId}.${h}` })),
        hex64.map((h) => ({ kind: "device" as const, credential: `fbd_${B.deviceId}.${h}` })),
        fc.string({ maxLength: 60 }).map((s) => ({ kind: "device" as const, credential: s.replace(/\s/g, "") || "x" })),
        fc.tuple(madeUpId("prj"), hex64).map(([p, h]) => ({ kind: "ticket" as const, credential: `${p}.fbt_${h}` })),
        hex64.map((h) => ({ kind: "ticket" as const, credential: `${A.p3}.fbt_${h}` })),
        hex64.map((h) => ({ kind: "ticket" as const, credential: `${B.projectId}.fbt_${h}` })),
        fc.string({ maxLength: 300 }).map((s) => ({ kind: "ticket" as const, credential: s })),
      );
      await checkProperty("forged device keys and tail tickets", 60, forged, async ({ kind, credential }) => {
        const res =
          kind === "device"
            ? await exports.default.fetch("http://fleetbeat.test/api/v1/fleet/connect", {
                headers: { upgrade: "websocket", authorization: `Bearer ${credential}` },
              })
            : await exports.default.fetch(
                `http://fleetbeat.test/api/v1/logs/stream?ticket=${encodeURIComponent(credential)}`,
                { headers: { upgrade: "websocket" } },
              );
        res.webSocket?.accept();
        res.webSocket?.close();
        const context = `${kind} ${credential.slice(0, 120)} → ${res.status}`;
        expect(res.status, context).not.toBe(101);
        expectClientError(res.status, JSON.parse(await readText(res)), context);
        expect([400, 401], context).toContain(res.status);
      });
    },
    TIMEOUT_MS,
  );
});
