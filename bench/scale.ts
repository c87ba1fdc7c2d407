// `npm run bench:scale`: issue 22's simulation at 1/1000 scale. It starts `wrangler dev` on
// bench/scale-entry.ts (the app with every binding counted), registers 1,000 devices in 10
// projects (one of 300, nine of about 78) and a light project of 3,000 devices, runs the agent
// simulator at W-typical (0.4 lines/s, a heartbeat every 30 s) on the 1,000 and lightly (a few
// lines each, heartbeats every 30 s) on the 3,000, and measures every figure of the issue's goal
// table. It prints the table: each figure as measured, the arithmetic that takes it to
// 1,000,000 devices or a 10,000-device project, and its bound with ✓ or ✗. Figures go to
// .wrangler/bench-scale/report.json and report.md (report-quick.* for --quick). Note: wrangler dev starts afresh in
// .wrangler/bench-scale (the folder is emptied first), so copy a run's report elsewhere to keep it.
//
//   --minutes N   the steady window the figures are taken over (5 by default)
//   --quick       a smoke run: a 1-minute window
//   --divide N    every project N times smaller (for working on the benchmark itself; its figures are not the issue's)
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DATASETS } from "../agent/samples/loghub.ts";
import { api, startServer } from "./server.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const minutesArg = args.indexOf("--minutes");
const MINUTES = quick ? 1 : minutesArg >= 0 ? Number(args[minutesArg + 1]) : 5;
if (!(MINUTES > 0)) throw new Error("--minutes needs a number above 0");

const PORT = 8820;
const INSPECTOR = 8821;
const PERSIST = ".wrangler/bench-scale";
const ORIGIN = `http://127.0.0.1:${PORT}`;
/** The W-typical projects: one of 300 (the 300-device figures), nine sharing the other 700. */
const divideArg = args.indexOf("--divide");
const DIVIDE = divideArg >= 0 ? Number(args[divideArg + 1]) : 1;
const TYPICAL = [300, 78, 78, 78, 78, 78, 78, 78, 77, 77].map((n) => Math.max(1, Math.round(n / DIVIDE)));
const LIGHT = Math.round(3000 / DIVIDE);
/** After the simulators start, before the steady window: sessions open, first heartbeats and sends. */
const WARMUP_S = quick ? 30 : 60;
const WARMUP_MAX_S = quick ? 150 : 300;
const LOG_SHARDS = 64;
/**
 * A project's object's methods that its log shards call: a delivery of counts (at most every 10 minutes a shard, at once
 * when a shard starts and asks) and a quota reservation (each batch while a shard has not yet heard the project's word,
 * which it keeps in memory only). At this scale a shard takes a batch from its one or few devices a minute, goes idle
 * and is evicted, so it starts, asks and reserves again nearly every batch; a shard of a 10,000-device project (~156
 * devices, a batch every ~0.4 s) stays up. They scale with the shards in use (64 at 10,000 devices), not the devices.
 */
const PER_SHARD_METHODS = new Set(["deliverShard", "reserve"]);
const TARGET = { devices: 1_000_000, projects: 10_000, project: 10_000 };

/** The `i`th device of a project, as the simulator's own fleet names them (agent/simulate/fleet.ts, which strip-only Node cannot load). */
const profileOf = (i: number, run: string) => {
  const number = String(i + 1).padStart(4, "0");
  return {
    dsn: `scale-${run}-${number}`,
    name: `Scale device ${number}`,
    device_type: "robot",
    dataset: DATASETS[i % DATASETS.length]!,
  };
};

const began = Date.now();
const log = (...a: unknown[]) => console.log(`[${((Date.now() - began) / 1000).toFixed(0).padStart(4)} s]`, ...a);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const fmt = (n: number, digits = 2) =>
  Number.isInteger(n) ? n.toLocaleString("en-US") : n.toLocaleString("en-US", { maximumFractionDigits: digits });

interface Scope {
  d1_queries: number;
  d1_rows_written: number;
  d1_rows_by_table: Record<string, number>;
  object_calls: Record<string, number>;
  object_methods: Record<string, number>;
  shard_query_limits: number[];
  shard_rows: number;
  shards_called: Record<string, number>;
  r2_ops: Record<string, number>;
  r2_archive_puts: number;
  queue_sends: number;
  tail_lines: Record<string, number>;
  tail_calls: number;
  subrequests?: number;
}
interface Stats {
  at: number;
  constructed: Record<string, number>;
  methods: Record<string, Record<string, number>>;
  totals: Scope;
  objects: Record<string, [number, number]>;
  d1_by_object: Record<string, [number, number]>;
}
interface QueueRun extends Scope {
  messages: number;
  projects: number;
  types: Record<string, number>;
  ms: number;
  subrequests: number;
  failed?: string;
}

const bench = async <T>(path: string, method = "GET"): Promise<T> => {
  const res = await fetch(`${ORIGIN}${path}`, { method });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};
const stats = () => bench<Stats>("/__bench/stats");

// ---------------------------------------------------------------------------------------------
// D1's size, read from the local database file (node:sqlite's dbstat): bytes of records per table.

function d1File(): string {
  const dir = join(PERSIST, "v3", "d1", "miniflare-D1DatabaseObject");
  const file = readdirSync(dir).find((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (!file) throw new Error(`no D1 database under ${dir}`);
  return join(dir, file);
}

interface D1Size {
  bytes: number;
  /** Bytes of records (payload) per table, its indexes included. */
  tables: Record<string, number>;
  rows: Record<string, number>;
}

function d1Size(): D1Size {
  const db = new DatabaseSync(d1File(), { readOnly: true });
  try {
    const pageCount = (db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count;
    const pageSize = (db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
    const owner = new Map<string, string>();
    for (const r of db
      .prepare("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table','index')")
      .all() as Array<{ name: string; tbl_name: string }>)
      owner.set(r.name, r.tbl_name);
    const tables: Record<string, number> = {};
    for (const r of db.prepare("SELECT name, SUM(payload) AS payload FROM dbstat GROUP BY name").all() as Array<{
      name: string;
      payload: number;
    }>) {
      const t = owner.get(r.name) ?? r.name;
      tables[t] = (tables[t] ?? 0) + r.payload;
    }
    const rows: Record<string, number> = {};
    for (const t of new Set(owner.values())) {
      if (t.startsWith("sqlite_") || t.startsWith("_cf_")) continue;
      try {
        rows[t] = (db.prepare(`SELECT COUNT(*) AS n FROM "${t}"`).get() as { n: number }).n;
      } catch {}
    }
    return { bytes: pageCount * pageSize, tables, rows };
  } finally {
    db.close();
  }
}

const diff = (a: Record<string, number>, b: Record<string, number>) => {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
};

/** What people create (excluded from the size bound): orgs, projects, people, keys, tokens, devices, rules. */
const CREATED_BY_PEOPLE =
  /^(orgs|projects|users|members|memberships|api_keys|registration_tokens|devices|alert_rules|invites|d1_migrations)$/;
/** Written once per shard a project uses (≤ 64 rows a project), not per device-day: apart from the per-device-day figure. */
const PER_PROJECT_ONCE = /^log_shards$/;
/** One row per project, rewritten in place, whose size follows the project's devices (~50 B each): it grows as people register devices, not with time. */
const PER_PROJECT_FLEET = /^project_statuses$/;
/** A row per project a day (a month): extrapolated per project. */
const PER_PROJECT_DAY = /^(daily_stats|monthly_stats)$/;

// ---------------------------------------------------------------------------------------------
// The fleet.

interface Project {
  id: string;
  devices: number;
  light: boolean;
  ids: string[];
  /** Simulator processes driving it (the light project's 3,000 devices are six of 500, so they greet faster). */
  parts: Array<{ from: number; devices: number; stateFile: string }>;
}
/** Devices per simulator process. */
const PER_SIMULATOR = 500;

/** Registers the project's devices through the entry's fast path (the registration services in-process), 100 a request. */
async function registerDevices(project: Project, run: string) {
  const saved: unknown[] = [];
  for (let from = 0; from < project.devices; from += 100) {
    const profiles = Array.from({ length: Math.min(100, project.devices - from) }, (_, i) => profileOf(from + i, run));
    const res = await fetch(`${ORIGIN}/__bench/register`, {
      method: "POST",
      body: JSON.stringify({
        project_id: project.id,
        devices: profiles.map((p) => ({ dsn: p.dsn, name: p.name, device_type: p.device_type, sample: p.dataset })),
      }),
    });
    if (!res.ok) throw new Error(`registering devices: ${res.status} ${await res.text()}`);
    const regs = (await res.json()) as Array<{ device_id: string }>;
    regs.forEach((reg, i) => {
      saved.push({ ...reg, ...profiles[i] });
      project.ids.push(reg.device_id);
    });
  }
  // The simulator's state files (agent/simulate/fleet.ts): it drives these devices instead of registering new ones.
  project.parts.forEach((part) => {
    writeFileSync(
      part.stateFile,
      JSON.stringify({
        backend_url: ORIGIN,
        project_id: project.id,
        devices: saved.slice(part.from, part.from + part.devices),
      }),
      { mode: 0o600 },
    );
  });
}

function simulate(
  orgKey: string,
  p: Project,
  part: Project["parts"][number],
): { child: ChildProcess; started: Promise<void>; done: Promise<string> } {
  const flags = p.light
    ? ["--rate", "0.01", "--heartbeat", "30", "--sessions-per-day", "0"]
    : ["--rate", "0.4", "--heartbeat", "30", "--sessions-per-day", "1", "--session-length", "1h", "--files", "0"];
  const child = spawn(
    process.execPath,
    [
      "--experimental-transform-types",
      "--no-warnings",
      "agent/cli.ts",
      "simulate",
      "--devices",
      String(part.devices),
      "--project",
      p.id,
      "--state",
      part.stateFile,
      "--duration",
      "86400",
      "--quiet",
      ...flags,
    ],
    { env: { ...process.env, FLEETBEAT_URL: ORIGIN, FLEETBEAT_API_KEY: orgKey }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let resolveStarted: () => void;
  const started = new Promise<void>((r) => (resolveStarted = r));
  child.stdout!.on("data", (d: Buffer) => {
    out += d;
    if (/simulate: \d+ devices/.test(out)) resolveStarted();
  });
  child.stderr!.on("data", (d: Buffer) => (out += d));
  const done = new Promise<string>((r) => child.on("exit", () => r(out)));
  void done.then((o) => {
    if (!/simulate: \d+ devices/.test(o)) console.error(`simulator of ${p.id} ended before it started:\n${o}`);
  });
  return { child, started, done };
}

// ---------------------------------------------------------------------------------------------
// Reads as a user makes them, each counted in a scope of its own.

let scopeSeq = 0;
async function scoped(path: string, token: string, headers: Record<string, string> = {}) {
  const id = `s${++scopeSeq}-${Date.now()}`;
  const res = await fetch(`${ORIGIN}${path}`, {
    headers: { authorization: `Bearer ${token}`, "x-bench-scope": id, ...headers },
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${body.slice(0, 300)}`);
  const scope = await bench<Scope>(`/__bench/scope?id=${id}`);
  return { body, scope };
}

interface ReadFigures {
  devices: number;
  search: {
    calls: number;
    shard_calls: number;
    shards: number;
    device_calls: number;
    rows_held: number;
    max_limit: number;
    lines: number;
  };
  export: { calls: number; pages: number; calls_per_page: number; lines: number; rows_held: number };
  loki: {
    calls: number;
    shard_calls: number;
    shards: number;
    device_calls: number;
    rows_held: number;
    max_limit: number;
    lines: number;
  };
}

async function reads(p: Project, key: string): Promise<ReadFigures> {
  const calls = (s: Scope) => sum(Object.values(s.object_calls));
  const search = await scoped(`/api/v1/logs?project_id=${p.id}&limit=100`, key);
  const exp = await scoped(`/api/v1/logs/export?project_id=${p.id}&format=ndjson`, key);
  const exportLines = exp.body.split("\n").filter(Boolean).length;
  const end = BigInt(Date.now() + 1000) * 1_000_000n;
  const q = encodeURIComponent('{module=~".+"}');
  const loki = await scoped(
    `/loki/api/v1/query_range?query=${q}&start=${end - 3_600_000_000_000n}&end=${end}&limit=100&direction=backward`,
    key,
    { "x-scope-orgid": p.id },
  );
  const lokiLines = sum(
    ((JSON.parse(loki.body).data?.result ?? []) as Array<{ values: unknown[] }>).map((r) => r.values.length),
  );
  const pages = Math.max(1, Math.ceil(exportLines / 1000));
  return {
    devices: p.devices,
    search: {
      calls: calls(search.scope),
      shard_calls: search.scope.object_calls.LOG_SHARD ?? 0,
      shards: Object.keys(search.scope.shards_called).length,
      device_calls: search.scope.object_calls.DEVICE_HUB ?? 0,
      rows_held: search.scope.shard_rows,
      max_limit: Math.max(0, ...search.scope.shard_query_limits),
      lines: (JSON.parse(search.body).logs ?? []).length,
    },
    export: {
      calls: calls(exp.scope),
      pages,
      calls_per_page: calls(exp.scope) / pages,
      lines: exportLines,
      rows_held: exp.scope.shard_rows,
    },
    loki: {
      calls: calls(loki.scope),
      shard_calls: loki.scope.object_calls.LOG_SHARD ?? 0,
      shards: Object.keys(loki.scope.shards_called).length,
      max_limit: Math.max(0, ...loki.scope.shard_query_limits),
      device_calls: loki.scope.object_calls.DEVICE_HUB ?? 0,
      rows_held: loki.scope.shard_rows,
      lines: lokiLines,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A live-tail viewer of one device.

async function openViewer(orgKey: string, projectId: string, deviceId: string) {
  const { ticket } = await api(`${ORIGIN}/api/v1`, "POST", "/logs/stream/ticket", orgKey, { project_id: projectId });
  const ws = new WebSocket(
    `ws://127.0.0.1:${PORT}/api/v1/logs/stream?ticket=${encodeURIComponent(ticket)}&device_id=${encodeURIComponent(deviceId)}`,
  );
  const got = { lines: 0, otherDevices: 0, frames: 0, dropped: 0, ready: false };
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("message", (ev) => {
      const f = JSON.parse(String(ev.data)) as {
        type: string;
        seq?: number;
        logs?: Array<{ device_id: string }>;
        count?: number;
      };
      if (f.type === "ready") {
        got.ready = true;
        resolve();
      } else if (f.type === "logs") {
        got.frames++;
        for (const l of f.logs ?? []) {
          got.lines++;
          if (l.device_id !== deviceId) got.otherDevices++;
        }
        ws.send(JSON.stringify({ type: "ack", seq: f.seq }));
      } else if (f.type === "dropped") got.dropped += f.count ?? 0;
    });
    ws.addEventListener("error", () => reject(new Error("the viewer's socket failed")));
    setTimeout(() => reject(new Error("the viewer got no ready frame in 30 s")), 30_000);
  });
  return { ws, got };
}

// ---------------------------------------------------------------------------------------------

const projectOf = (
  key: string,
  projects: Project[],
  deviceProject: Map<string, Project>,
): Project | "org" | undefined => {
  const [binding, ...rest] = key.split(":");
  const name = rest.join(":");
  if (binding === "DEVICE_HUB") return deviceProject.get(name);
  if (name.startsWith("org:")) return "org";
  return projects.find((p) => name.startsWith(p.id));
};

async function main() {
  log(
    `starting wrangler dev on bench/scale-entry.ts at ${ORIGIN} (state in ${PERSIST}); steady window ${MINUTES} min${quick ? " (--quick)" : ""}`,
  );
  const server = await startServer(PORT, PERSIST, {
    entry: "bench/scale-entry.ts",
    inspectorPort: INSPECTOR,
    logFile: join(PERSIST, "..", "bench-scale-server.log"),
  });
  const sims: ReturnType<typeof simulate>[] = [];
  let viewer: Awaited<ReturnType<typeof openViewer>> | undefined;
  const stopAll = () => {
    for (const s of sims) if (s.child.exitCode === null) s.child.kill("SIGTERM");
    try {
      viewer?.ws.close();
    } catch {}
    server.stop();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      stopAll();
      process.exit(130);
    });
  }
  try {
    await run(server.admin, sims, (v) => (viewer = v));
  } finally {
    stopAll();
  }
}

async function run(
  admin: string,
  sims: ReturnType<typeof simulate>[],
  setViewer: (v: Awaited<ReturnType<typeof openViewer>>) => void,
) {
  const base = `${ORIGIN}/api/v1`;
  const org = await api(base, "POST", "/orgs", admin, { name: "bench-scale", tier: "enterprise" });
  const orgKey: string = org.api_key.key;
  const projects: Project[] = [];
  for (const [i, devices] of [...TYPICAL.map((n) => [n, false] as const), [LIGHT, true] as const].entries()) {
    const { project } = await api(base, "POST", "/projects", orgKey, { name: `scale-${i}` });
    const n = devices[0];
    const parts = Array.from({ length: Math.ceil(n / PER_SIMULATOR) }, (_, k) => ({
      from: k * PER_SIMULATOR,
      devices: Math.min(PER_SIMULATOR, n - k * PER_SIMULATOR),
      stateFile: join(PERSIST, `fleet-${i}-${k}.json`),
    }));
    projects.push({ id: project.id, devices: n, light: devices[1], ids: [], parts });
  }
  const typical = projects.filter((p) => !p.light);
  const p300 = projects[0]!;
  const light = projects.find((p) => p.light)!;

  // 1. Registration through the entry's fast path: through the public API it took ~4 devices/s on this shared machine.
  const regStarted = Date.now();
  const run = Math.random().toString(36).slice(2, 8);
  for (const p of projects) await registerDevices(p, run);
  const registration = {
    path: "bench-only route POST /__bench/register (the registration services of POST /capsules/generate and POST /fleet/register, in-process: the same D1 rows and DeviceHub provisioning, without HTTP; the public API managed ~4 devices/s here)",
    devices: sum(projects.map((p) => p.devices)),
    seconds: (Date.now() - regStarted) / 1000,
  };
  log(
    `registered ${registration.devices} devices through the bench-only fast path in ${registration.seconds.toFixed(0)} s`,
  );
  const deviceProject = new Map<string, Project>();
  for (const p of projects) for (const id of p.ids) deviceProject.set(id, p);

  // 2. The simulators, one per project; the light project's first.
  const size0 = d1Size();
  const stats0 = await stats();
  const simStarted = Date.now();
  for (const p of [light, ...typical]) for (const part of p.parts) sims.push(simulate(orgKey, p, part));
  await Promise.all(sims.map((s) => s.started));
  log(
    `all ${sims.length} simulators run (${((Date.now() - simStarted) / 1000).toFixed(0)} s to greet every device); warming up at least ${WARMUP_S} s, until the W-typical projects' D1 writes from the start (transitions online, sessions opened) are done`,
  );
  // Warm-up: at least WARMUP_S, then until the W-typical projects wrote no D1 row for 70 s (at most WARMUP_MAX_S).
  const warmStarted = Date.now();
  const typicalRowsNow = (st: Stats) =>
    sum(
      Object.entries(st.d1_by_object)
        .filter(([k]) => {
          const p = projectOf(k, projects, deviceProject);
          return p !== undefined && p !== "org" && !p.light;
        })
        .map(([, [, r]]) => r),
    );
  let lastRows = -1;
  const warmSamples: Stats[] = [];
  let lastChange = Date.now();
  while (Date.now() - warmStarted < WARMUP_MAX_S * 1000) {
    await sleep(10_000);
    const st = await stats();
    warmSamples.push(st);
    const r = typicalRowsNow(st);
    if (r !== lastRows) {
      lastRows = r;
      lastChange = Date.now();
    }
    if (Date.now() - warmStarted >= WARMUP_S * 1000 && Date.now() - lastChange >= 70_000) break;
  }
  const warmupS = (Date.now() - warmStarted) / 1000;
  log(`warm-up done after ${warmupS.toFixed(0)} s`);

  // 3. The steady window, with a viewer of one device of the 300-device project, sampled every 15 s.
  const watched = p300.ids[0]!;
  const viewer = await openViewer(orgKey, p300.id, watched);
  setViewer(viewer);
  const size1 = d1Size();
  const stats1 = await stats();
  const samples: Stats[] = [stats1];
  log(`steady window: ${MINUTES} min, a live-tail viewer watching device ${watched}`);
  const windowEnd = stats1.at + MINUTES * 60_000;
  while (Date.now() < windowEnd) {
    await sleep(Math.min(15_000, Math.max(0, windowEnd - Date.now())));
    samples.push(await stats());
  }
  const stats2 = samples.at(-1)!;
  const size2 = d1Size();
  viewer.ws.close();
  const windowS = (stats2.at - stats1.at) / 1000;

  // 4. Project-wide reads while the fleet still runs: at 300 and at 3,000 devices.
  log("reads: search, export and Loki pages of the 300- and the 3,000-device projects");
  const read300 = await reads(p300, orgKey);
  const read3000 = await reads(light, orgKey);

  // 5. Stop the fleet (sessions end, what is left is sent), then the cron runs and their queue work.
  log("stopping the simulators");
  for (const s of sims) s.child.kill("SIGTERM");
  const outputs = await Promise.all(sims.map((s) => s.done));
  const stopped = Date.now();
  const stats3 = await stats();
  log("cron runs: hourly, daily, monthly; waiting for the jobs queue to drain");
  const crons: Record<string, Scope> = {};
  for (const cron of ["0 * * * *", "5 0 * * *", "20 0 1 * *"])
    crons[cron] = await bench<Scope>(`/__bench/scheduled?cron=${encodeURIComponent(cron)}`, "POST");
  let runs: QueueRun[] = [];
  for (let quiet = 0, seen = -1; quiet < 4; ) {
    await sleep(2500);
    runs = await bench<QueueRun[]>("/__bench/queue");
    quiet = runs.length === seen ? quiet + 1 : 0;
    seen = runs.length;
  }

  // 6. The archive: every device and shard sends what it owes, every shard moves all its lines to R2.
  log("archiving every shard's lines now");
  const beforeArchive = await stats();
  for (const p of projects) await bench(`/__bench/flush?project_id=${p.id}`, "POST");
  for (const p of projects) await bench(`/__bench/archive?project_id=${p.id}`, "POST");
  const afterArchive = await stats();
  const archive = await bench<{ objects: number; lines: number; device_hours: number; shard_hours: number }>(
    "/__bench/archive-stats",
  );
  const size3 = d1Size();
  const ended = Date.now();

  // -------------------------------------------------------------------------------------------
  // The figures.

  // D1 rows written, by project: each object's own D1 use, plus what Worker requests wrote (not put down to a project).
  // `withShardMarks: false` leaves out what log shards write: a shard marks itself in use once in its project's life (≤ 64 rows a project, log_shards).
  const rowsBy = (a: Stats, b: Stats, withShardMarks = true) => {
    const by = new Map<Project | "org" | "worker", number>();
    let objects = 0;
    for (const [k, [, rows]] of Object.entries(b.d1_by_object)) {
      const d = rows - (a.d1_by_object[k]?.[1] ?? 0);
      if (!d) continue;
      objects += d;
      if (!withShardMarks && k.startsWith("LOG_SHARD:")) continue;
      const p = projectOf(k, projects, deviceProject) ?? "org";
      by.set(p, (by.get(p) ?? 0) + d);
    }
    by.set("worker", b.totals.d1_rows_written - a.totals.d1_rows_written - objects);
    return by;
  };
  const steadyRows = rowsBy(stats1, stats2);
  const steadyTotal = stats2.totals.d1_rows_written - stats1.totals.d1_rows_written;
  const steadyByTable = diff(stats1.totals.d1_rows_by_table, stats2.totals.d1_rows_by_table);
  const typicalRows =
    sum(typical.map((p) => steadyRows.get(p) ?? 0)) + (steadyRows.get("worker") ?? 0) + (steadyRows.get("org") ?? 0);
  const startRows = stats1.totals.d1_rows_written - stats0.totals.d1_rows_written;
  const startByTable = diff(stats0.totals.d1_rows_by_table, stats1.totals.d1_rows_by_table);
  const stopRows = stats3.totals.d1_rows_written - stats2.totals.d1_rows_written;
  const stopByTable = diff(stats2.totals.d1_rows_by_table, stats3.totals.d1_rows_by_table);
  // The most rows one project wrote within any minute of the run (the start's storm of transitions included):
  // between two samples at most a minute apart (samples come every 10-15 s), besides its shards' one-time marks
  // (listed apart: a project's first lines, not what its fleet does). Not rows over a span just past a minute
  // divided by it: a project that writes once every 60 s has two writes in a 61 s span half the time, which is
  // not two rows a minute.
  let worstMinute = { rows: 0, project: "" as string, devices: 0 };
  const all = [stats0, ...warmSamples, ...samples, stats3];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length && all[j]!.at - all[i]!.at <= 60_000; j++) {
      for (const [p, rows] of rowsBy(all[i]!, all[j]!, false)) {
        if (typeof p === "string") continue;
        if (rows > worstMinute.rows) worstMinute = { rows, project: p.id, devices: p.devices };
      }
    }
  }
  const perProjectRate = (p: Project) => (steadyRows.get(p) ?? 0) / windowS;
  // A project's statuses reach D1 as one row, at most once a minute, whatever its size: a project's rate is
  // bounded by its worst minute, and the light project (10× the devices of the largest W-typical one) shows
  // the rate does not grow with devices. A deployment's rate is its projects' rates: the busiest W-typical
  // project's, × 10,000 projects (what Worker requests wrote, not put down to a project, scaled by devices).
  const project10k = Math.max(perProjectRate(p300), perProjectRate(light), worstMinute.rows / 60);
  const busiestTypical = Math.max(...typical.map(perProjectRate));
  const unattributed = ((steadyRows.get("worker") ?? 0) + (steadyRows.get("org") ?? 0)) / windowS;
  const d1Rows = {
    measured_per_s: steadyTotal / windowS,
    typical_per_s: typicalRows / windowS,
    by_table: steadyByTable,
    busiest_typical_project_per_s: busiestTypical,
    unattributed_per_s: unattributed,
    at_1m_per_s:
      busiestTypical * TARGET.projects + unattributed * (TARGET.devices / sum(typical.map((p) => p.devices))),
    p300_per_s: perProjectRate(p300),
    light_per_s: perProjectRate(light),
    at_10k_project_per_s: project10k,
    start: { rows: startRows, by_table: startByTable, seconds: (stats1.at - stats0.at) / 1000 },
    stop: { rows: stopRows, by_table: stopByTable },
    worst_project_minute: worstMinute,
  };
  // Sessions: each W-typical device opened one when its run began and ended it when it stopped.
  const sessionsOpened = sum(
    outputs.map((o) => Number(/(\d[\d,]*) sessions? (?:started|opened)/.exec(o)?.[1]?.replace(/,/g, "") ?? 0)),
  );
  const sessionRows = (startByTable.sessions ?? 0) + (steadyByTable.sessions ?? 0) + (stopByTable.sessions ?? 0);
  const sessionCount = sum(typical.map((p) => p.devices));
  const rowsPerSession = sessionRows / sessionCount;
  const sessionsAt1m = (TARGET.devices / 86_400) * rowsPerSession;

  // D1 size growth: all tables but what people create, over the run; sessions apart (one per device here, one a day in W-typical).
  const grown = diff(size0.tables, size3.tables);
  const growthSteady = diff(size1.tables, size2.tables);
  const activity = (t: Record<string, number>) =>
    sum(
      Object.entries(t)
        .filter(
          ([k]) =>
            !CREATED_BY_PEOPLE.test(k) &&
            !PER_PROJECT_ONCE.test(k) &&
            !PER_PROJECT_FLEET.test(k) &&
            !PER_PROJECT_DAY.test(k) &&
            k !== "sessions",
        )
        .map(([, v]) => v),
    );
  const sessionBytes = grown.sessions ?? 0;
  const bytesPerSession = sessionBytes / sessionCount;
  const runDeviceDays = (sum(projects.map((p) => p.devices)) * windowS) / 86_400;
  // The steady window's rate, or the whole run's (start and stop included) when that is more.
  const wholeDeviceDays = (sum(projects.map((p) => p.devices)) * (ended - simStarted)) / 1000 / 86_400;
  const steadyBytesPerDeviceDay = Math.max(activity(growthSteady) / runDeviceDays, activity(grown) / wholeDeviceDays);
  const perDeviceDay = steadyBytesPerDeviceDay + bytesPerSession; // W-typical: one session a day
  const rowsGrown = diff(size0.rows, size3.rows);
  const rowBytes = (t: string) => (rowsGrown[t] ? (grown[t] ?? 0) / rowsGrown[t]! : 0);
  const perProjectYear = rowBytes("daily_stats") * 365 + rowBytes("monthly_stats") * 12;
  const perYear1m = perDeviceDay * TARGET.devices * 365 + perProjectYear * TARGET.projects;
  const d1SizeFig = {
    before: size0.bytes,
    after: size3.bytes,
    tables_grown_bytes: grown,
    rows_grown: diff(size0.rows, size3.rows),
    steady_window_grown_bytes: growthSteady,
    steady_bytes_per_device_day: steadyBytesPerDeviceDay,
    bytes_per_session: bytesPerSession,
    per_device_day: perDeviceDay,
    per_year_at_1m: perYear1m,
    sessions_per_year_at_1m: bytesPerSession * TARGET.devices * 365,
    daily_stats_row_bytes: rowBytes("daily_stats"),
    monthly_stats_row_bytes: rowBytes("monthly_stats"),
    per_project_year: perProjectYear,
  };

  // Busiest object over the steady window, and what its rate is in a 10,000-device project.
  // Which shard each device's lines go to (src/contract/log-shards.ts, asked of the entry).
  const shardOfDevice = new Map<string, number>();
  for (const p of projects) {
    const res = await fetch(`${ORIGIN}/__bench/shard-of`, { method: "POST", body: JSON.stringify(p.ids) });
    for (const [, n] of Object.entries((await res.json()) as Record<string, number>))
      shardOfDevice.set(`${p.id}/shard/${n}`, (shardOfDevice.get(`${p.id}/shard/${n}`) ?? 0) + 1);
  }
  const shardsInUse = (projectId: string) =>
    [...shardOfDevice.keys()].filter((k) => k.startsWith(`${projectId}/shard/`)).length;
  const objectRates = Object.entries(stats2.objects).map(([k, [n, peak]]) => {
    const rate = (n - (stats1.objects[k]?.[0] ?? 0)) / windowS;
    const methodRates = Object.fromEntries(
      Object.entries(stats2.methods[k] ?? {}).map(([m, c]) => [m, (c - (stats1.methods[k]?.[m] ?? 0)) / windowS]),
    );
    const p = projectOf(k, projects, deviceProject);
    const binding = k.split(":")[0]!;
    // What each object's load follows: a device's object, its device; a viewer group, the viewers and what they watch
    // (one viewer of one device here, the same in any project); a log shard, the devices hashed to it (10,000 / 64 in a
    // 10,000-device project); the project's object, its fan-in objects and the org's hub, all their project's (org's) devices.
    const name = k.slice(binding.length + 1);
    const devicesBehind =
      binding === "DEVICE_HUB" || binding === "TAIL_GROUP"
        ? 1
        : binding === "LOG_SHARD"
          ? (shardOfDevice.get(name) ?? 1)
          : p === "org"
            ? sum(projects.map((x) => x.devices))
            : (p?.devices ?? 1);
    const scale =
      binding === "DEVICE_HUB" || binding === "TAIL_GROUP"
        ? 1
        : binding === "LOG_SHARD"
          ? TARGET.project / LOG_SHARDS / devicesBehind
          : TARGET.project / devicesBehind;
    // A project's object, by what drives each method: deliveries from shards follow the shards in use (64 at 10,000
    // devices), its own alarm is one object's, everything else follows the devices.
    const at10k =
      binding === "PROJECT_HUB" && p !== "org" && p
        ? sum(
            Object.entries(methodRates).map(
              ([m, r]) =>
                r *
                (PER_SHARD_METHODS.has(m) ? LOG_SHARDS / Math.max(1, shardsInUse(p.id)) : m === "(alarm)" ? 1 : scale),
            ),
          )
        : rate * scale;
    return {
      key: k,
      binding,
      project: p === "org" ? "org" : (p?.id ?? "?"),
      devices: devicesBehind,
      rate,
      peak,
      scale,
      at10k,
      allLinear: rate * scale,
      methods: methodRates,
    };
  });
  objectRates.sort((a, b) => b.rate - a.rate);
  const busiest = objectRates[0]!;
  const busiest10k = [...objectRates].sort((a, b) => b.at10k - a.at10k)[0]!;
  const byClass: Record<
    string,
    { objects: number; requests_per_s: number; busiest: string; busiest_per_s: number; busiest_at_10k_per_s: number }
  > = {};
  for (const o of objectRates) {
    const c = (byClass[o.binding] ??= {
      objects: 0,
      requests_per_s: 0,
      busiest: o.key,
      busiest_per_s: o.rate,
      busiest_at_10k_per_s: 0,
    });
    c.objects++;
    c.requests_per_s += o.rate;
    c.busiest_at_10k_per_s = Math.max(c.busiest_at_10k_per_s, o.at10k);
  }

  // Lines shipped to viewer groups during the window, by device.
  const tailLines = diff(stats1.totals.tail_lines, stats2.totals.tail_lines);
  const watchedLines = tailLines[watched] ?? 0;
  const otherLines = sum(
    Object.entries(tailLines)
      .filter(([d]) => d !== watched)
      .map(([, n]) => n),
  );
  const tail = {
    watched,
    watched_lines: watchedLines,
    other_devices_lines: otherLines,
    other_devices: Object.keys(tailLines).filter((d) => d !== watched).length,
    viewer_got: viewer.got,
  };

  // Queue consumer invocations and cron runs.
  const worstQueries = Math.max(0, ...runs.map((r) => r.d1_queries), ...Object.values(crons).map((c) => c.d1_queries));
  const worstSub = Math.max(
    0,
    ...runs.map((r) => r.subrequests),
    ...Object.values(crons).map((c) => c.subrequests ?? 0),
  );
  const projectRuns = runs.filter((r) => r.projects > 0);
  // A project message carries at most 25 projects (src/jobs/messages.ts PROJECTS_PER_MESSAGE), a batch at most 5 messages (wrangler.toml).
  const perProjectQueries = Math.max(0, ...projectRuns.map((r) => r.d1_queries / r.projects));
  const perProjectSub = Math.max(0, ...projectRuns.map((r) => r.subrequests / r.projects));
  const jobs = {
    invocations: runs.length,
    failed: runs.filter((r) => r.failed).length,
    max_d1_queries: worstQueries,
    max_subrequests: worstSub,
    per_project_d1_queries: perProjectQueries,
    per_project_subrequests: perProjectSub,
    full_batch_d1_queries: perProjectQueries * 125,
    full_batch_subrequests: perProjectSub * 125,
    crons: Object.fromEntries(
      Object.entries(crons).map(([k, c]) => [
        k,
        { d1_queries: c.d1_queries, subrequests: c.subrequests, queue_sends: c.queue_sends },
      ]),
    ),
    runs: runs.map((r) => ({
      messages: r.messages,
      projects: r.projects,
      types: r.types,
      d1_queries: r.d1_queries,
      d1_rows_written: r.d1_rows_written,
      subrequests: r.subrequests,
      ms: r.ms,
      failed: r.failed,
    })),
  };

  // Archive objects per device-hour with lines.
  const archivePuts = afterArchive.totals.r2_archive_puts - beforeArchive.totals.r2_archive_puts;
  const archiveFig = {
    puts: afterArchive.totals.r2_archive_puts,
    puts_when_forced: archivePuts,
    ...archive,
    per_device_hour: archive.device_hours ? afterArchive.totals.r2_archive_puts / archive.device_hours : 0,
  };

  // -------------------------------------------------------------------------------------------
  // The table.

  const ok = (pass: boolean) => (pass ? "✓" : "✗");
  const typicalDevices = sum(typical.map((p) => p.devices));
  const readsCalls = (r: ReadFigures) => Math.max(r.search.calls, r.export.calls_per_page, r.loki.calls);
  const readsPass =
    readsCalls(read300) <= 64 &&
    readsCalls(read3000) <= 64 &&
    read3000.search.device_calls + read3000.loki.device_calls === 0 &&
    read3000.search.rows_held <= 1.5 * read300.search.rows_held + 100 &&
    read3000.loki.rows_held <= 1.5 * read300.loki.rows_held + 100;
  const rows: Array<{
    figure: string;
    measured: string;
    arithmetic: string;
    at_1m: string;
    at_10k: string;
    bound: string;
    pass: boolean;
    why?: string;
  }> = [];
  const rowsPass1m = d1Rows.at_1m_per_s + sessionsAt1m <= 200;
  rows.push({
    figure: "D1 rows written (meta.rows_written), steady",
    measured: `${fmt(d1Rows.measured_per_s, 3)} rows/s over ${windowS.toFixed(0)} s (${fmt(steadyTotal)} rows; W-typical projects ${fmt(d1Rows.typical_per_s, 3)}/s; ${p300.devices}-device project ${fmt(d1Rows.p300_per_s, 3)}/s; ${light.devices}-device project ${fmt(d1Rows.light_per_s, 3)}/s)`,
    arithmetic: `1M: the busiest W-typical project's ${fmt(busiestTypical, 4)}/s × ${fmt(TARGET.projects)} projects (a project writes one statuses row a minute at most, whatever its size) + what no project wrote ${fmt(unattributed, 3)}/s × ${fmt(TARGET.devices)}/${typicalDevices} + sessions ${fmt(rowsPerSession, 2)} rows each × 1/device-day × 1M/86,400 s; 10k project: max(the ${p300.devices}-device project's ${fmt(d1Rows.p300_per_s, 4)}/s, the ${light.devices}-device project's ${fmt(d1Rows.light_per_s, 4)}/s, the worst minute of any project ${fmt(worstMinute.rows / 60, 3)}/s): one row a minute caps it at any size`,
    at_1m: `${fmt(d1Rows.at_1m_per_s + sessionsAt1m, 1)}/s (${fmt(d1Rows.at_1m_per_s, 1)} steady + ${fmt(sessionsAt1m, 1)} sessions)`,
    at_10k: `${fmt(project10k, 2)}/s`,
    bound: "≤ 200/s; ≤ 5/s",
    pass: rowsPass1m && project10k <= 5,
  });
  const stormAt1m = (worstMinute.rows / 60) * TARGET.projects;
  rows.push({
    figure: "D1 rows written, worst minute of one project (the start: every device comes online at once)",
    measured: `${fmt(worstMinute.rows, 1)} rows/min in a ${fmt(worstMinute.devices)}-device project, besides its log shards' one-time marks (${fmt(startByTable.log_shards ?? 0)} rows at the start for ${projects.length} projects: once per shard in a project's life, ≤ 64 a project)`,
    arithmetic: `1M: every one of 10,000 projects at once: ${fmt(worstMinute.rows, 1)}/60 × 10,000; 10k project: the per-project cap holds it (measured ${fmt(worstMinute.rows / 60, 2)}/s)`,
    at_1m: `${fmt(stormAt1m, 0)}/s`,
    at_10k: `${fmt(worstMinute.rows / 60, 2)}/s`,
    bound: '≤ 200/s "whatever the fleet does"; ≤ 5/s',
    pass: stormAt1m <= 200 && worstMinute.rows / 60 <= 5,
  });
  rows.push({
    figure: "D1 size growth (excluding orgs, projects, keys, tokens, devices, rules)",
    measured: `${fmt(steadyBytesPerDeviceDay, 1)} B per device-day besides sessions (record bytes, indexes included) + ${fmt(bytesPerSession, 0)} B per session; daily_stats ${rowsGrown.daily_stats ? `${fmt(rowBytes("daily_stats"), 0)} B a row` : "no row written by this run's crons (not measured)"}, monthly_stats ${rowsGrown.monthly_stats ? `${fmt(rowBytes("monthly_stats"), 0)} B a row` : "none written (not measured)"}; D1 file ${fmt(size0.bytes)} → ${fmt(size3.bytes)} B`,
    arithmetic: `(${fmt(steadyBytesPerDeviceDay, 1)} + ${fmt(bytesPerSession, 0)} × 1 session/day) B × 1,000,000 devices × 365 days + (daily_stats × 365 + monthly_stats × 12) × 10,000 projects`,
    at_1m: `${fmt(perYear1m / 1e9, 2)} GB/year (sessions ${fmt(d1SizeFig.sessions_per_year_at_1m / 1e9, 2)} GB)`,
    at_10k: "—",
    bound: "≤ 1 GB/year",
    pass: perYear1m <= 1e9,
  });
  rows.push({
    figure: "object calls per project-wide page (search / export / Loki)",
    measured: `${p300.devices} devices: ${read300.search.calls} / ${fmt(read300.export.calls_per_page, 1)} (${read300.export.calls} calls, ${read300.export.pages} pages) / ${read300.loki.calls}; ${light.devices}: ${read3000.search.calls} / ${fmt(read3000.export.calls_per_page, 1)} (${read3000.export.calls} calls, ${read3000.export.pages} pages) / ${read3000.loki.calls}; shards asked: search ${read300.search.shards} / ${read3000.search.shards}, Loki ${read300.loki.shards} / ${read3000.loki.shards}; device objects called: ${read300.search.device_calls + read3000.search.device_calls + read300.loki.device_calls + read3000.loki.device_calls}; shard rows held per search page ${read300.search.rows_held} / ${read3000.search.rows_held}, Loki ${read300.loki.rows_held} / ${read3000.loki.rows_held}`,
    arithmetic: `10k project: the calls are the shards in use (≤ 64) whatever the device count; rows the shards answered at ${light.devices} within 1.5× those at ${p300.devices} (+100)`,
    at_1m: "—",
    at_10k: `≤ ${Math.max(readsCalls(read300), readsCalls(read3000)).toFixed(0)}`,
    bound: `≤ 64, the same at 300 and 3,000 (here ${p300.devices} and ${light.devices}); rows held do not grow`,
    pass: readsPass,
  });
  rows.push({
    figure: "lines shipped for one viewer watching one device",
    measured: `watched device ${watchedLines} lines; ${otherLines} lines from ${tail.other_devices} other devices (of ${fmt(sum(projects.map((p) => p.devices)) - 1)}); the viewer got ${viewer.got.lines} lines, ${viewer.got.otherDevices} of other devices`,
    arithmetic: "10k project: others ship 0 whatever their number",
    at_1m: "—",
    at_10k:
      otherLines === 0
        ? "that device's lines only"
        : `${fmt((otherLines / sum(projects.map((p) => p.devices))) * TARGET.project, 0)} lines of others`,
    bound: "that device's lines only",
    pass: otherLines === 0 && viewer.got.otherDevices === 0 && watchedLines > 0,
  });
  rows.push({
    figure: "busiest object's requests/s (heartbeat 30 s, 0.4 lines/s)",
    measured: `${busiest.key} ${fmt(busiest.rate, 2)}/s (peak second ${busiest.peak}); scaled the most: ${busiest10k.key} ${fmt(busiest10k.rate, 3)}/s behind ${fmt(busiest10k.devices)} devices`,
    arithmetic: `${
      Object.entries(busiest10k.methods)
        .filter(([, r]) => r > 0)
        .map(([m, r]) => `${m} ${fmt(r, 3)}/s`)
        .join(" + ") || `${fmt(busiest10k.rate, 3)}/s`
    }, scaled: a project's object or fan-in object × 10,000 / the project's devices (${fmt(busiest10k.scale, 2)} here), but deliverShard and reserve (calls from shards) × 64 / shards in use and its alarm × 1 (every method × ${fmt(busiest10k.scale, 2)}: ${fmt(busiest10k.allLinear, 1)}/s); a log shard × (10,000 / 64) / its devices; a device's object or a viewer group × 1`,
    at_1m: "—",
    at_10k: `${fmt(busiest10k.at10k, 1)}/s`,
    bound: "≤ 500/s",
    pass: busiest10k.at10k <= 500,
  });
  rows.push({
    figure: "one cron or queue invocation",
    measured: `${jobs.invocations} queue invocations + 3 cron runs: max ${worstQueries} D1 queries, ${worstSub} subrequests${jobs.failed ? `; ${jobs.failed} failed` : ""}`,
    arithmetic: `a full batch (5 messages × 25 projects): ${fmt(perProjectQueries, 1)} queries and ${fmt(perProjectSub, 1)} subrequests per project × 125`,
    at_1m: `${fmt(jobs.full_batch_d1_queries, 0)} queries, ${fmt(jobs.full_batch_subrequests, 0)} subrequests`,
    at_10k: "",
    bound: "≤ 1,000 and ≤ 1,000",
    pass:
      worstQueries <= 1000 &&
      worstSub <= 1000 &&
      jobs.full_batch_d1_queries <= 1000 &&
      jobs.full_batch_subrequests <= 1000 &&
      jobs.failed === 0,
  });
  rows.push({
    figure: "R2 objects written for the archive",
    measured: `${archiveFig.puts} objects for ${archive.device_hours} device-hours with lines (${fmt(archive.lines)} lines, ${archive.shard_hours} shard-hours)`,
    arithmetic: "per device-hour, independent of the fleet's size (one object per shard-hour)",
    at_1m: `${fmt(archiveFig.per_device_hour, 3)} per device-hour`,
    at_10k: "",
    bound: "≤ 1 per device-hour",
    pass: archiveFig.per_device_hour <= 1 && archive.device_hours > 0,
  });

  const lines: string[] = [];
  lines.push(`# bench:scale, ${new Date(began).toISOString()}${quick ? " (--quick)" : ""}`);
  lines.push("");
  lines.push(
    `Fleet: ${typical.length} W-typical projects (${TYPICAL.join(", ")} devices: 0.4 lines/s, heartbeat 30 s, a session a day, over the device socket) + 1 light project of ${LIGHT} (0.01 lines/s, heartbeat 30 s, no sessions).`,
  );
  if (DIVIDE !== 1)
    lines.push(
      `Scale: --divide ${DIVIDE}: every project ${DIVIDE}× smaller than the issue's 1/1000 scale (${sum(projects.map((p) => p.devices))} devices, not 4,000); the arithmetic uses the device counts run.`,
    );
  lines.push(
    `Registration: ${registration.path}: ${registration.devices} devices in ${registration.seconds.toFixed(0)} s. Steady window: ${windowS.toFixed(0)} s after a ${warmupS.toFixed(0)} s warm-up.`,
  );
  lines.push("");
  lines.push(
    "| figure | measured at 1/1000 | arithmetic | at 1,000,000 devices | at a 10,000-device project | bound | |",
  );
  lines.push("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows)
    lines.push(
      `| ${r.figure} | ${r.measured} | ${r.arithmetic} | ${r.at_1m} | ${r.at_10k} | ${r.bound} | ${ok(r.pass)} |`,
    );
  lines.push("");
  lines.push(
    "D1 rows written in the steady window, by table: " +
      (Object.entries(steadyByTable)
        .map(([t, n]) => `${t} ${n}`)
        .join(", ") || "none"),
  );
  lines.push(
    "D1 rows written at the start (registration done → steady window; transitions online, sessions opened), by table: " +
      (Object.entries(startByTable)
        .map(([t, n]) => `${t} ${n}`)
        .join(", ") || "none"),
  );
  lines.push(
    "D1 rows written at the stop (sessions ended, last sends), by table: " +
      (Object.entries(stopByTable)
        .map(([t, n]) => `${t} ${n}`)
        .join(", ") || "none"),
  );
  lines.push(
    "D1 size growth over the whole run, record bytes by table: " +
      (Object.entries(grown)
        .map(
          ([t, n]) =>
            `${t} ${fmt(n)}${CREATED_BY_PEOPLE.test(t) ? " (created by people, excluded)" : PER_PROJECT_ONCE.test(t) ? ` (once per shard in use: ${fmt(n / projects.length, 0)} B a project, not per day)` : PER_PROJECT_FLEET.test(t) ? ` (a row per project rewritten in place: ${fmt(n / sum(projects.map((p) => p.devices)), 0)} B per device registered, not per day)` : ""}`,
        )
        .join(", ") || "none"),
  );
  lines.push(
    "D1 size growth in the steady window, record bytes by table: " +
      (Object.entries(growthSteady)
        .map(([t, n]) => `${t} ${fmt(n)}`)
        .join(", ") || "none"),
  );
  lines.push(
    "Requests per object, by class, over the steady window: " +
      Object.entries(byClass)
        .map(
          ([c, v]) =>
            `${c}: ${v.objects} objects, ${fmt(v.requests_per_s, 1)}/s in all, busiest ${v.busiest} ${fmt(v.busiest_per_s, 2)}/s, at a 10,000-device project ${fmt(v.busiest_at_10k_per_s, 1)}/s`,
        )
        .join("; "),
  );
  const methods = diff(stats1.totals.object_methods, stats2.totals.object_methods);
  const starts = diff(stats1.constructed, stats2.constructed);
  lines.push(
    "Objects started in the steady window (an object evicted while idle starts again when next called), by class: " +
      (Object.entries(starts)
        .map(([c, n]) => `${c} ${n}`)
        .join(", ") || "none"),
  );
  lines.push(
    "Object requests in the steady window, by method (per second): " +
      Object.entries(methods)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 16)
        .map(([m, n]) => `${m} ${fmt(n / windowS, 2)}`)
        .join(", "),
  );
  lines.push(
    `Queue invocations: ${runs
      .map(
        (r) =>
          `${Object.entries(r.types)
            .map(([t, n]) => `${n}×${t}`)
            .join("+")}: ${r.d1_queries} q, ${r.subrequests} sub`,
      )
      .join("; ")}`,
  );
  const failures = rows.filter((r) => !r.pass);
  lines.push("");
  lines.push(
    failures.length ? `Missed: ${failures.map((r) => r.figure).join("; ")}.` : "Every figure within its bound.",
  );
  const text = lines.join("\n");
  console.log(`\n${text}\n`);
  log(`done in ${((ended - began) / 1000).toFixed(0)} s`);

  const report = {
    at: new Date(began).toISOString(),
    quick,
    divide: DIVIDE,
    minutes: MINUTES,
    window_s: windowS,
    fleet: {
      typical: TYPICAL,
      light: LIGHT,
      projects: projects.map((p) => ({ id: p.id, devices: p.devices, light: p.light })),
    },
    registration,
    warmup_s: warmupS,
    table: rows,
    d1_rows: {
      ...d1Rows,
      rows_per_session: rowsPerSession,
      sessions_at_1m_per_s: sessionsAt1m,
      sessions_reported: sessionsOpened,
    },
    d1_size: d1SizeFig,
    reads: { "300": read300, "3000": read3000 },
    tail,
    objects: { busiest, busiest_at_10k: busiest10k, by_class: byClass, top: objectRates.slice(0, 20) },
    jobs,
    archive: archiveFig,
    stop_s: (stopped - stats2.at) / 1000,
    simulators: outputs.map((o) =>
      o
        .split("\n")
        .filter((l) => /simulate:|sent|accepted|failed/i.test(l))
        .slice(-6)
        .join("\n"),
    ),
  };
  mkdirSync(PERSIST, { recursive: true });
  // A smoke run keeps its figures apart, so it never overwrites a real run's.
  const name = quick ? "report-quick" : "report";
  writeFileSync(join(PERSIST, `${name}.json`), JSON.stringify(report, null, 2));
  writeFileSync(join(PERSIST, `${name}.md`), `${text}\n`);
  log(`figures in ${join(PERSIST, name)}.json and .md`);
}

await main();
