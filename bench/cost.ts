// `npm run bench:cost`: what a device-month costs at Cloudflare's prices, for issue 21's three
// workloads over the device socket and over HTTPS, for this tree and for the code before the
// cost work (commit BEFORE, checked out into a temporary folder), in one run. Two parts:
//   1. lifetime (bench/cost-lifetime.workers.ts, in the workers test pool, both trees at once):
//      a device on a moved clock, at steady state (its windows full), what a fresh device costs
//      in the same ten minutes the real-time part measures, and its lines' archive and expiry;
//   2. real time: `wrangler dev bench/meter-entry.ts` of each tree, one org on the pro tier,
//      a project per workload and transport, the agent simulator (agent/cli.ts simulate, this
//      tree's, against both servers) for a warm-up and a window of --window seconds (600), then
//      the hourly cron job once (today's only enqueues: its queue consumer's work is waited for).
// Everything is counted by bench/meter.ts. A device-month is then composed (bench/cost-model.ts):
// the window's rates scaled to 30 days; plus what the window cannot see, from the lifetime part
// (steady-state hours minus the fresh window, so nothing counts twice); plus each line's archive
// and expiry; plus sessions, counted whole (one a day); plus storage at steady state, modelled
// from the measured sizes. A project's hourly job, measured, is shared by its devices. It prints
// the bills, and writes .wrangler/bench-cost/report.{json,md} (docs/COSTS.md is written from one).
// Servers listen on 8810 (now) and 8811 (before), with state under .wrangler/bench-cost-*.
//
//   npm run bench:cost [-- --window S] [-- --quick] [-- --no-before] [-- --before REV] [-- --no-wait]
//
// --quick: a smoke run (2-minute window, fewer devices, an hour of lifetime). --no-wait: start the
// window even if it would cross a UTC hour (what comes on the hour would then be in it twice).
// --before REV: another commit to compare with.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { addUsage, dollars, emptyUsage, GOALS, LINE_ITEMS, MODEL, PRICES, type Usage } from "./cost-model.ts";
import { FIELDS, type R2Tally, type Reading, type Tally } from "./meter.ts";
import { api, startServer } from "./server.ts";

/** The code before the cost work (issue 21). */
const BEFORE = process.argv.includes("--before") ? process.argv[process.argv.indexOf("--before") + 1]! : "fb6c2ad";
const MAIN = path.resolve(import.meta.dirname, "..");
const OUT = path.join(MAIN, ".wrangler/bench-cost");
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const QUICK = flag("--quick");
/**
 * A device hands its project what it owes every DELIVERY.everyMs (10 minutes, src/contract/usage.ts),
 * and a socket's heartbeats are saved with that. The simulators' devices all start together, so
 * their deliveries fall together: the window is one interval long and starts half an interval
 * after they start, so each device delivers once in it, not at its edges.
 */
const DELIVERY_S = 600;
const WINDOW_S = Number(option("--window") ?? (QUICK ? 120 : DELIVERY_S));
const WARMUP_S = QUICK ? 30 : DELIVERY_S / 2;
/** About how long a server and its simulators take to start, before the warm-up. */
const SETUP_S = 90;
const WITH_BEFORE = !flag("--no-before");
const WAIT_FOR_HOUR = !flag("--no-wait");

type Tree = "now" | "before";
type Transport = "socket" | "https";
type WorkloadName = "idle" | "typical" | "heavy";
const TRANSPORTS: Transport[] = ["socket", "https"];
const WORKLOADS: WorkloadName[] = ["idle", "typical", "heavy"];

/** The simulator's projects: one per workload and transport, and W-typical's sessions apart (see compose). */
interface Spec {
  key: "idle" | "typical" | "session" | "heavy";
  workload: WorkloadName;
  devices: number;
  flags: string[];
}
const SPECS: Spec[] = [
  {
    key: "idle",
    workload: "idle",
    devices: QUICK ? 4 : 20,
    flags: ["--rate", "0", "--sessions-per-day", "0", "--heartbeat", "30"],
  },
  // W-typical's lines and heartbeats; its session comes once a day, so it is counted whole, apart (below).
  { key: "typical", workload: "typical", devices: QUICK ? 3 : 10, flags: ["--rate", "0.4", "--sessions-per-day", "0"] },
  // W-typical with its day's session: it starts in the warm-up and lasts the window; stopping ends it and uploads its files.
  {
    key: "session",
    workload: "typical",
    devices: QUICK ? 2 : 5,
    flags: ["--rate", "0.4", "--sessions-per-day", "1", "--session-length", "1h", "--files", "2", "--file-mb", "1"],
  },
  { key: "heavy", workload: "heavy", devices: QUICK ? 1 : 2, flags: ["--rate", "100", "--sessions-per-day", "0"] },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (...a: unknown[]) => console.log(`[${((Date.now() - began) / 1000).toFixed(0).padStart(4)} s]`, ...a);
const began = Date.now();

// ---- the tree before ---------------------------------------------------------------------------

/** Checks out BEFORE into a temporary folder, with this tree's node_modules and the meter's files. */
function checkoutBefore(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fleetbeat-before-"));
  execFileSync("sh", ["-c", `git -C "${MAIN}" archive ${BEFORE} | tar -x -C "${dir}"`]);
  symlinkSync(path.join(MAIN, "node_modules"), path.join(dir, "node_modules"));
  for (const f of ["meter.ts", "meter-entry.ts", "cost.vitest.config.ts", "cost-lifetime.workers.ts"]) {
    copyFileSync(path.join(MAIN, "bench", f), path.join(dir, "bench", f));
  }
  return dir;
}

// ---- the lifetime part -------------------------------------------------------------------------

interface Phase {
  ms: number;
  totals: Tally;
  r2: R2Tally;
  labels: Record<string, Partial<Tally>>;
  api: Tally;
}
interface LifetimeCase {
  agent: "new" | "old";
  workload: WorkloadName;
  transport: Transport;
  fresh: Phase & { seconds: number };
  steady: Phase & { hours: number; lines: number };
  archive: Phase | null;
  expiry: Phase | null;
  lifetime_lines: number;
  object_bytes: { fresh: number; steady_before: number; steady_after: number };
}

function runLifetime(tree: string, agent: "new" | "old"): Promise<LifetimeCase[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(tree, "node_modules/.bin/vitest"),
      ["run", "--config", "bench/cost.vitest.config.ts"],
      {
        cwd: tree,
        env: { ...process.env, COST_AGENT: agent, COST_QUICK: QUICK ? "1" : "0", FORCE_COLOR: "0" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    child.on("exit", (code) => {
      writeFileSync(path.join(OUT, `lifetime-${agent}.log`), out);
      const cases = out
        .split("\n")
        .filter((l) => l.includes("COST-LIFETIME "))
        .map((l) => JSON.parse(l.slice(l.indexOf("COST-LIFETIME ") + 14)) as LifetimeCase);
      if (code !== 0 || cases.length === 0)
        reject(new Error(`the lifetime part (${agent}) failed (exit ${code}); see ${OUT}/lifetime-${agent}.log`));
      else resolve(cases);
    });
  });
}

// ---- the real-time part ------------------------------------------------------------------------

interface SimSummary {
  seconds: number;
  devices: number;
  accepted: number;
  heartbeats: number;
  sessions_ended: number;
  artifacts: number;
  artifact_bytes: number;
  errors: number;
}

interface Sim {
  spec: Spec;
  transport: Transport;
  projectId: string;
  stateFile: string;
  child: ChildProcess;
  out: string;
  ready: Promise<void>;
  exited: Promise<void>;
}

function parseSummary(out: string): SimSummary {
  const num = (re: RegExp, i = 1) => Number(re.exec(out)?.[i] ?? Number.NaN);
  return {
    seconds: num(/stopped after ([\d.]+) s/),
    devices: num(/stopped after [\d.]+ s with (\d+) devices/),
    accepted: num(/lines:\s+\d+ logged, \d+ sent, (\d+) accepted/),
    heartbeats: num(/heartbeats: (\d+)/),
    sessions_ended: num(/sessions:\s+\d+ started, (\d+) ended/),
    artifacts: num(/artifacts:\s+(\d+) uploaded/),
    artifact_bytes: num(/artifacts:\s+\d+ uploaded \((\d+) bytes\)/),
    errors: num(/errors:\s+(\d+)/),
  };
}

function startSim(tree: Tree, port: number, orgKey: string, spec: Spec, transport: Transport, projectId: string): Sim {
  const stateFile = path.join(OUT, `devices-${tree}-${spec.key}-${transport}.json`);
  rmSync(stateFile, { force: true });
  const flags = [
    "--devices",
    String(spec.devices),
    "--project",
    projectId,
    "--state",
    stateFile,
    "--transport",
    transport,
    "--quiet",
    ...spec.flags,
    // Before, the agent sent what it had every second (flush_ms 1000).
    ...(tree === "before" ? ["--flush", "1"] : []),
  ];
  const child = spawn(
    process.execPath,
    ["--experimental-transform-types", "--no-warnings", "agent/cli.ts", "simulate", ...flags],
    {
      cwd: MAIN,
      env: { ...process.env, FLEETBEAT_API_KEY: orgKey, FLEETBEAT_URL: `http://127.0.0.1:${port}` },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const sim = { spec, transport, projectId, stateFile, child, out: "" } as Sim;
  sim.ready = new Promise((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      sim.out += d;
      if (/simulate: \d+ devices/.test(sim.out)) resolve();
    });
    child.stderr!.on("data", (d) => (sim.out += d));
    child.on("exit", () =>
      reject(new Error(`simulator ${tree} ${spec.key} ${transport} exited early:\n${sim.out.slice(-2000)}`)),
    );
  });
  sim.exited = new Promise((resolve) => child.on("exit", () => resolve()));
  return sim;
}

interface RealTime {
  tree: Tree;
  window_s: number;
  /** By `${spec.key}-${transport}`. */
  projects: Record<string, { projectId: string; devices: string[]; summary: SimSummary }>;
  s0: Reading;
  s1: Reading;
  s2: Reading;
  s3: Reading;
  s4: Reading;
  r2_stored: Record<string, { objects: number; bytes: number }>;
  project_count: number;
}

async function realTime(tree: Tree, dir: string, port: number): Promise<RealTime> {
  // startServer spawns wrangler in the current folder before its first await: the tree's own.
  process.chdir(dir);
  const starting = startServer(port, path.join(MAIN, `.wrangler/bench-cost-${tree}`), {
    entry: "bench/meter-entry.ts",
    logFile: path.join(OUT, `server-${tree}.log`),
  });
  process.chdir(MAIN);
  const server = await starting;
  const origin = `http://127.0.0.1:${port}`;
  const meter = async (): Promise<Reading> => (await fetch(`${origin}/__meter`)).json() as Promise<Reading>;
  const sims: Sim[] = [];
  try {
    const org = await api(server.base, "POST", "/orgs", server.admin, { name: `cost ${tree}`, tier: "pro" });
    const orgKey: string = org.api_key.key;
    const projects: Record<string, string> = {};
    for (const spec of SPECS) {
      for (const transport of TRANSPORTS) {
        const { project } = await api(server.base, "POST", "/projects", orgKey, { name: `${spec.key} ${transport}` });
        projects[`${spec.key}-${transport}`] = project.id;
      }
    }
    const s0 = await meter();
    for (const spec of SPECS)
      for (const transport of TRANSPORTS)
        sims.push(startSim(tree, port, orgKey, spec, transport, projects[`${spec.key}-${transport}`]!));
    await Promise.all(sims.map((s) => s.ready));
    log(`${tree}: ${sims.length} simulators running; warm-up ${WARMUP_S} s, then a window of ${WINDOW_S} s`);
    await sleep(WARMUP_S * 1000);
    const s1 = await meter();
    await sleep(WINDOW_S * 1000);
    const s2 = await meter();
    log(`${tree}: window over; stopping the simulators (they end their sessions and upload their files)`);
    for (const s of sims) s.child.kill("SIGTERM");
    await Promise.race([Promise.all(sims.map((s) => s.exited)), sleep(60_000)]);
    await sleep(10_000);
    const s3 = await meter();
    await fetch(`${origin}/__meter/cron?cron=${encodeURIComponent("0 * * * *")}`, { method: "POST" });
    // Today's cron run only enqueues: wait until the jobs queue's consumer has done its work.
    const s4 = await settled(meter);
    const r2Stored = (await (await fetch(`${origin}/__meter/r2`)).json()) as RealTime["r2_stored"];
    const out: RealTime["projects"] = {};
    for (const s of sims) {
      const state = JSON.parse(readFileSync(s.stateFile, "utf8")) as { devices: { device_id: string }[] };
      out[`${s.spec.key}-${s.transport}`] = {
        projectId: s.projectId,
        devices: state.devices.map((d) => d.device_id),
        summary: parseSummary(s.out),
      };
      writeFileSync(path.join(OUT, `simulator-${tree}-${s.spec.key}-${s.transport}.log`), s.out);
    }
    return {
      tree,
      window_s: (s2.at - s1.at) / 1000,
      projects: out,
      s0,
      s1,
      s2,
      s3,
      s4,
      r2_stored: r2Stored,
      project_count: Object.keys(projects).length,
    };
  } finally {
    for (const s of sims) s.child.kill("SIGKILL");
    server.stop();
  }
}

/** A reading taken once the jobs queue's consumer has been quiet for 6 s (at most a minute). */
async function settled(meter: () => Promise<Reading>): Promise<Reading> {
  const queueEvents = (r: Reading) =>
    r.totals.filter((t) => t.label.startsWith("queue ")).reduce((n, t) => n + t.events, 0);
  let last = await meter();
  let quietSince = Date.now();
  for (const end = Date.now() + 60_000; Date.now() < end && Date.now() - quietSince < 6_000; ) {
    await sleep(1_000);
    const r = await meter();
    if (queueEvents(r) !== queueEvents(last)) quietSince = Date.now();
    last = r;
  }
  return last;
}

// ---- reading the meter -------------------------------------------------------------------------

const zero = (): Tally => Object.fromEntries(FIELDS.map((f) => [f, 0])) as Tally;

/**
 * A project's objects, as scopes of the meter: its own, its devices', and those named after it
 * (its log shards `<project>/shard/<n>` and viewer groups `<project>/…`, src/contract/).
 */
function scopesOf(p: { projectId: string; devices: string[] }): (scope: string) => boolean {
  const devices = new Set(p.devices);
  return (scope) => scope === p.projectId || devices.has(scope) || scope.startsWith(`${p.projectId}/`);
}

/** What changed between two readings, for the scopes given, summed, and by label. */
function between(
  a: Reading,
  b: Reading,
  inScope: (scope: string) => boolean,
  keep: (label: string) => boolean = () => true,
) {
  const key = (r: { scope: string; label: string }) => `${r.scope}\t${r.label}`;
  const before = new Map(a.totals.map((r) => [key(r), r]));
  const total = zero();
  const labels: Record<string, Tally> = {};
  for (const r of b.totals) {
    if (!inScope(r.scope) || !keep(r.label)) continue;
    const was = before.get(key(r));
    const l = (labels[r.label] ??= zero());
    for (const f of FIELDS) {
      const d = r[f] - (was?.[f] ?? 0);
      total[f] += d;
      l[f] += d;
    }
  }
  return { total, labels };
}

function r2Between(a: Reading, b: Reading, key: string): R2Tally {
  const x = a.r2[key];
  const y = b.r2[key];
  return {
    class_a: (y?.class_a ?? 0) - (x?.class_a ?? 0),
    class_b: (y?.class_b ?? 0) - (x?.class_b ?? 0),
    deletes: (y?.deletes ?? 0) - (x?.deletes ?? 0),
    bytes_put: (y?.bytes_put ?? 0) - (x?.bytes_put ?? 0),
  };
}

/** A meter tally as billable usage, times `k`. */
function usageOf(t: Partial<Tally>, r2?: Partial<R2Tally>, k = 1): Partial<Usage> {
  return {
    object_rows_written: (t.rows_written ?? 0) * k,
    object_rows_read: (t.rows_read ?? 0) * k,
    object_requests: (t.object_requests ?? 0) * k,
    ws_messages: (t.ws_messages ?? 0) * k,
    worker_requests: (t.worker_requests ?? 0) * k,
    d1_rows_written: (t.d1_rows_written ?? 0) * k,
    d1_rows_read: (t.d1_rows_read ?? 0) * k,
    r2_class_a: (r2?.class_a ?? 0) * k,
    r2_class_b: (r2?.class_b ?? 0) * k,
    queue_ops: (t.queue_messages ?? 0) * 3 * k,
  };
}

const sessionLabel = (label: string) => /\/sessions|Session|[Uu]pload|artifact/.test(label);
const objectLabel = (label: string) => /^(DeviceHub|ProjectHub|FanIn|LogShard|TailGroup)\./.test(label);

// ---- composing a device-month ------------------------------------------------------------------

interface Bill {
  tree: Tree;
  workload: WorkloadName;
  transport: Transport;
  devices: number;
  lines_per_month: number;
  /** Where the usage comes from, each part a device-month. */
  parts: Record<string, Usage>;
  usage: Usage;
  total: number;
  goal: number;
  /** API analytics (ProjectHub.recordApi) as measured here, and if every device request flushed its own record. */
  api: { measured: number; unbatched: number };
  notes: string[];
}

function compose(rt: RealTime, lifetime: LifetimeCase[], workload: WorkloadName, transport: Transport): Bill {
  const notes: string[] = [];
  const project = (key: string) => rt.projects[`${key}-${transport}`]!;
  const main = project(workload);
  const devices = main.devices.length;
  const perDeviceSecond = rt.window_s * devices;
  const month = MODEL.month_s;
  const parts: Record<string, Usage> = {};

  // 1. The window's rates, scaled to a month. W-typical: 23 hours a day without its session, 1 with.
  const win = between(rt.s1, rt.s2, scopesOf(main));
  const winR2 = r2Between(rt.s1, rt.s2, `logs/${main.projectId}`);
  const window = addUsage(emptyUsage(), usageOf(win.total, winR2, month / perDeviceSecond));
  if (workload === "typical") {
    const s = project("session");
    const inSession = between(rt.s1, rt.s2, scopesOf(s));
    const share = MODEL.session_share_of_day;
    addUsage(window, window, -share);
    addUsage(window, usageOf(inSession.total, undefined, (month * share) / (rt.window_s * s.devices.length)));
  }
  parts["window (measured, scaled)"] = window;
  const linesPerMonth = (main.summary.accepted / (main.summary.seconds * devices)) * month;

  // 2. What the window cannot see: the lifetime part's steady hours minus its fresh window
  // (only from an hour or more of steady state: a shorter one sees nothing that comes hourly).
  const life = lifetime.find((c) => c.workload === workload && c.transport === transport);
  if (life && life.steady.hours >= 1) {
    const steadyPerDay = 24 / life.steady.hours;
    const freshPerDay = 86_400 / life.fresh.seconds;
    const c = addUsage(emptyUsage(), usageOf(life.steady.totals, life.steady.r2, steadyPerDay * MODEL.days_per_month));
    addUsage(c, usageOf(life.fresh.totals, life.fresh.r2, freshPerDay * MODEL.days_per_month), -1);
    parts["steady state beyond the window (lifetime)"] = c;
  } else
    notes.push(
      "no steady state simulated for this case (see cost-lifetime.workers.ts): nothing added beyond the window",
    );

  // 3. Each line's later life: the archive (R2 puts), deleting it from the hot store, and expiry.
  const lines = lifetime.find((c) => c.workload === workload && c.archive);
  if (lines && linesPerMonth > 0) {
    const k = linesPerMonth / lines.lifetime_lines;
    const l = addUsage(emptyUsage(), usageOf(lines.archive!.totals, lines.archive!.r2, k));
    addUsage(l, usageOf(lines.expiry!.totals, lines.expiry!.r2, k));
    parts["archive and expiry of lines (lifetime)"] = l;
  }

  // 4. W-typical's session, counted whole: what its start, end and files cost, once a day.
  let artifactBytesPerMonth = 0;
  if (workload === "typical") {
    const s = project("session");
    const whole = between(rt.s0, rt.s3, scopesOf(s), sessionLabel);
    const r2 = r2Between(rt.s0, rt.s3, `artifacts/${s.projectId}`);
    const sessions = s.summary.sessions_ended || 1;
    const perMonth = (MODEL.sessions_per_day * MODEL.days_per_month) / sessions;
    parts["sessions, counted whole (real time)"] = addUsage(emptyUsage(), usageOf(whole.total, r2, perMonth));
    artifactBytesPerMonth = r2.bytes_put * perMonth;
  }

  // 5. Storage at steady state, from the sizes measured.
  const storage = emptyUsage();
  const gb = 1024 ** 3;
  const sizes = life ?? lifetime.find((c) => c.workload === workload);
  if (sizes) {
    // A fresh device's objects' size, plus what the steady hours added: per line kept hot (14
    // days, at most HOT_STORE's lines), or, with no lines, per hour of metric history kept.
    const grown = sizes.object_bytes.steady_after - sizes.object_bytes.steady_before;
    const hotLines = Math.min(
      linesPerMonth * (MODEL.hot_days / MODEL.days_per_month),
      MODEL.hot_store_max_lines[rt.tree],
    );
    const kept =
      sizes.steady.lines > 0
        ? (grown / sizes.steady.lines) * hotLines
        : (grown / sizes.steady.hours) * MODEL.metric_days * 24;
    storage.object_storage_gb = (sizes.object_bytes.fresh + kept) / gb;
  }
  if (lines && linesPerMonth > 0) {
    // The archive at steady state holds a year of lines, gzip in R2 at the measured bytes a line.
    const gzPerLine = lines.archive!.r2.bytes_put / lines.lifetime_lines;
    storage.r2_storage_gb += (gzPerLine * linesPerMonth * (MODEL.archive_days / MODEL.days_per_month)) / gb;
  }
  storage.r2_storage_gb += (artifactBytesPerMonth * (MODEL.artifacts_kept_days / MODEL.days_per_month)) / gb;
  storage.d1_storage_gb = MODEL.d1_bytes_per_device / gb;
  parts["storage at steady state (modelled from measured sizes)"] = storage;
  // (The hourly job is a project's, whatever its devices: perProject() measures it. The code
  // before listed R2 in it; today's counts storage as it is written and lists nothing.)

  // Duration and CPU, from the events and lines of all the parts.
  const usage = emptyUsage();
  for (const p of Object.values(parts)) addUsage(usage, p);
  const objEvents = Object.entries(win.labels).filter(([l]) => objectLabel(l) && !l.endsWith(".constructor"));
  const wallMs =
    objEvents.reduce((n, [, t]) => n + t.wall_ms, 0) /
    Math.max(
      1,
      objEvents.reduce((n, [, t]) => n + t.events, 0),
    );
  const events = usage.object_requests + usage.ws_messages;
  const active = emptyUsage();
  active.object_gb_s =
    ((events * (wallMs + MODEL.object_cpu_ms_per_event) + linesPerMonth * MODEL.object_cpu_ms_per_line) / 1000) *
    MODEL.object_gb;
  active.worker_cpu_ms =
    usage.worker_requests * MODEL.worker_cpu_ms_per_request +
    (transport === "https" ? linesPerMonth * MODEL.worker_cpu_ms_per_line : 0);
  parts["duration and CPU (modelled per event and line)"] = active;
  addUsage(usage, active);

  // API analytics: what was measured (this isolate batches the records of all the project's
  // devices), and the bound if each device request flushed alone (a small fleet, spread out).
  const apiLabel = win.labels["ProjectHub.recordApi"] ?? zero();
  const apiMeasured = dollars(addUsage(emptyUsage(), usageOf(apiLabel, undefined, month / perDeviceSecond)));
  const rowsPerCall = apiLabel.object_requests ? apiLabel.rows_written / apiLabel.object_requests : 0;
  const unbatched = (usage.worker_requests *
    (PRICES.object_requests + rowsPerCall * PRICES.object_rows_written)) as number;
  if (main.summary.errors > 0) notes.push(`the simulator counted ${main.summary.errors} errors`);
  return {
    tree: rt.tree,
    workload,
    transport,
    devices,
    lines_per_month: linesPerMonth,
    parts,
    usage,
    total: dollars(usage),
    goal: GOALS[workload]![transport],
    api: { measured: apiMeasured, unbatched },
    notes,
  };
}

/**
 * The hourly job's own events: the cron run, the queue's consumer (today's job runs there), and
 * what they call in a project's object. Devices going offline after the simulators stopped
 * (their alarms, presence at the project, the log shards' deliveries) are not the job's.
 */
const hourlyLabel = (l: string) =>
  l.startsWith("cron ") ||
  l.startsWith("queue ") ||
  (l.startsWith("ProjectHub.") && !/^ProjectHub\.(deliver|alarm|presence|status|constructor)/.test(l));

/** What one project costs a month whatever its devices: the hourly job (measured once here), 720 times. */
function perProject(rt: RealTime): Usage {
  const cron = between(rt.s3, rt.s4, () => true, hourlyLabel);
  const r2 = Object.keys(rt.s4.r2).reduce(
    (n, k) => {
      const d = r2Between(rt.s3, rt.s4, k);
      return { class_a: n.class_a + d.class_a, class_b: n.class_b + d.class_b };
    },
    { class_a: 0, class_b: 0 },
  );
  return addUsage(emptyUsage(), usageOf(cron.total, r2, MODEL.hours_per_month / rt.project_count));
}

/** The window's biggest writers for a project, object rows and D1 rows apart, per device-month. */
function topWriters(rt: RealTime, key: string, n: number): { what: string; rows: number }[] {
  const p = rt.projects[key]!;
  const inScope = scopesOf(p);
  const k = MODEL.month_s / (rt.window_s * p.devices.length);
  const id = (w: { scope: string; label: string; what: string }) => `${w.scope}\t${w.label}\t${w.what}`;
  const before = new Map(rt.s1.writes.map((w) => [id(w), w.rows]));
  const by = new Map<string, number>();
  for (const w of rt.s2.writes) {
    if (!inScope(w.scope)) continue;
    const d = w.rows - (before.get(id(w)) ?? 0);
    if (d > 0) by.set(`${w.label}: ${w.what}`, (by.get(`${w.label}: ${w.what}`) ?? 0) + d * k);
  }
  return [...by]
    .map(([what, rows]) => ({ what, rows }))
    .sort((a, b) => b.rows - a.rows)
    .slice(0, n);
}

// ---- printing ----------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) =>
  Math.abs(n) >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n.toLocaleString("en-US", { maximumFractionDigits: digits });
const usd = (n: number) =>
  Math.abs(n) < 0.0001 ? "$0.0000" : Math.abs(n) >= 100 ? `$${n.toFixed(0)}` : `$${n.toFixed(4)}`;

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

function billTables(bills: Bill[]): string {
  const out: string[] = [];
  for (const w of WORKLOADS) {
    const cols = bills.filter((b) => b.workload === w);
    cols.sort(
      (a, b) => TRANSPORTS.indexOf(a.transport) - TRANSPORTS.indexOf(b.transport) || (a.tree === "now" ? -1 : 1),
    );
    const head = ["line item", ...cols.map((b) => `${b.transport}, ${b.tree === "now" ? "now" : "before"}`)];
    const rows = LINE_ITEMS.map((l) => [
      `${l.item} (${l.unit})`,
      ...cols.map(
        (b) => `${fmt(l.quantity(b.usage), l.unit.startsWith("GB") ? 4 : 0)} = ${usd(l.quantity(b.usage) * l.price)}`,
      ),
    ]);
    rows.push(["**total per device-month**", ...cols.map((b) => `**${usd(b.total)}**`)]);
    rows.push([
      "goal",
      ...cols.map(
        (b) => `≤ $${b.goal.toFixed(2)} ${b.tree === "now" ? (b.total <= b.goal ? "(meets)" : "(misses)") : ""}`,
      ),
    ]);
    rows.push(["lines per month", ...cols.map((b) => fmt(b.lines_per_month))]);
    rows.push([
      "API analytics in the total / if unbatched",
      ...cols.map((b) => `${usd(b.api.measured)} / ${usd(b.api.unbatched)}`),
    ]);
    out.push(`### W-${w}\n\n${table(head, rows)}`);
    const parts = Object.keys(cols[0]?.parts ?? {});
    out.push(
      `Where it comes from (dollars per device-month):\n\n${table(
        ["part", ...cols.map((b) => `${b.transport}, ${b.tree === "now" ? "now" : "before"}`)],
        parts.map((p) => [p, ...cols.map((b) => usd(b.parts[p] ? dollars(b.parts[p]!) : 0))]),
      )}`,
    );
    const notes = cols.flatMap((b) => b.notes.map((n) => `${b.transport}, ${b.tree}: ${n}`));
    if (notes.length) out.push(notes.map((n) => `- ${n}`).join("\n"));
  }
  return out.join("\n\n");
}

function fleetTable(bills: Bill[], project: Record<Tree, Usage>): string {
  const sizes = [100, 1000, 10_000];
  const rows = bills
    .filter((b) => b.tree === "now")
    .map((b) => [`W-${b.workload}, ${b.transport}`, ...sizes.map((n) => usd(n * b.total + dollars(project.now)))]);
  const before = bills
    .filter((b) => b.tree === "before")
    .map((b) => [
      `W-${b.workload}, ${b.transport} (before)`,
      ...sizes.map((n) => usd(n * b.total + dollars(project.before))),
    ]);
  return table(["fleet (one project), per month", ...sizes.map((n) => `${fmt(n)} devices`)], [...rows, ...before]);
}

function summaryTable(bills: Bill[]): string {
  const rows = WORKLOADS.map((w) => {
    const cell = (t: Transport) => {
      const now = bills.find((b) => b.tree === "now" && b.workload === w && b.transport === t);
      const before = bills.find((b) => b.tree === "before" && b.workload === w && b.transport === t);
      return `${now ? usd(now.total) : "?"} (goal ≤ $${GOALS[w]![t].toFixed(2)}${now ? (now.total <= GOALS[w]![t] ? ", meets" : ", misses") : ""})${before ? `; before ${usd(before.total)}` : ""}`;
    };
    return [`W-${w}`, cell("socket"), cell("https")];
  });
  return table(["workload", "socket", "HTTPS"], rows);
}

// ---- the run -----------------------------------------------------------------------------------

/** The commit measured as "now", and how many of its files in src/ and durable-objects/ were changed but not committed. */
function treeState(): string {
  const head = execFileSync("git", ["-C", MAIN, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  const dirty = execFileSync("git", ["-C", MAIN, "status", "--porcelain", "--", "src", "durable-objects"], {
    encoding: "utf8",
  })
    .split("\n")
    .filter(Boolean).length;
  return `${head}${dirty ? ` with ${dirty} uncommitted files in src/ and durable-objects/` : ""}`;
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const measured = treeState();
  const before = WITH_BEFORE ? checkoutBefore() : null;
  if (before) log(`the code before (${BEFORE}) is checked out in ${before}`);
  try {
    const lifetimePart = async () => {
      log("lifetime part: the workers test pool, both trees at once");
      const out = await Promise.all([
        runLifetime(MAIN, "new"),
        before ? runLifetime(before, "old") : Promise.resolve([]),
      ]);
      log(`lifetime part done: ${out[0].length} + ${out[1].length} cases`);
      return out;
    };
    const realTimePart = async () => {
      log("real-time part: a server per tree, the simulators against each");
      return Promise.all([
        realTime("now", MAIN, 8810),
        before ? realTime("before", before, 8811) : Promise.resolve(null),
      ]);
    };
    // The window must not hold a UTC hour's turn: what comes once an hour would count six times
    // over. The real-time part goes first if its window fits before the next hour; else the
    // lifetime part does, and then, if need be, the window waits for the hour to turn.
    const hour = 3_600_000;
    const windowAt = (start: number) => ({
      from: start + (SETUP_S + WARMUP_S - 60) * 1000,
      to: start + (SETUP_S + WARMUP_S + WINDOW_S) * 1000,
    });
    const fits = (start: number) => Math.floor(windowAt(start).from / hour) === Math.floor(windowAt(start).to / hour);
    let life: [LifetimeCase[], LifetimeCase[]];
    let rt: [RealTime, RealTime | null];
    if (!WAIT_FOR_HOUR || fits(Date.now())) {
      rt = await realTimePart();
      life = await lifetimePart();
    } else {
      life = await lifetimePart();
      if (!fits(Date.now())) {
        const { from, to } = windowAt(Date.now());
        const wait = Math.floor(to / hour) * hour + 15_000 - from;
        log(`waiting ${Math.round(wait / 1000)} s, so the window does not cross the hour`);
        await sleep(Math.max(0, wait));
      }
      rt = await realTimePart();
    }
    const [lifeNow, lifeBefore] = life;
    const [rtNow, rtBefore] = rt;

    const bills: Bill[] = [];
    for (const w of WORKLOADS) {
      for (const t of TRANSPORTS) {
        bills.push(compose(rtNow, lifeNow, w, t));
        if (rtBefore) bills.push(compose(rtBefore, lifeBefore, w, t));
      }
    }
    const project = { now: perProject(rtNow), before: rtBefore ? perProject(rtBefore) : emptyUsage() };
    const writers = [rtNow, rtBefore].flatMap((rt) =>
      rt
        ? ["idle", "typical", "heavy"].flatMap((w) =>
            TRANSPORTS.map((t) => {
              const top = topWriters(rt, `${w}-${t}`, rt.tree === "now" ? 8 : 4);
              return `- W-${w}, ${t}, ${rt.tree}: ${top.map((x) => `${fmt(x.rows)} ${x.what.replace(/\|/g, "/")}`).join("; ")}`;
            }),
          )
        : [],
    );
    const report = [
      `# bench:cost, ${new Date().toISOString()}`,
      `Now: ${measured} (at the start; ${treeState()} at the end); before: ${BEFORE}. Window ${rtNow.window_s.toFixed(0)} s after a ${WARMUP_S} s warm-up; prices read ${PRICES.read_on}; the whole run took ${((Date.now() - began) / 60000).toFixed(1)} min.`,
      summaryTable(bills),
      billTables(bills),
      `### Where the rows go\n\nThe window's biggest writers, rows written per device-month (\`d1:\` marks D1 statements; the event, then what wrote):\n\n${writers.join("\n")}`,
      `### Fleets\n\nA fleet is N devices of one workload in one project, plus what a project costs whatever its devices (the hourly job, measured once: now ${usd(dollars(project.now))}, before ${usd(dollars(project.before))} a month).\n\n${fleetTable(bills, project)}`,
    ].join("\n\n");
    writeFileSync(path.join(OUT, "report.md"), `${report}\n`);
    writeFileSync(
      path.join(OUT, "report.json"),
      JSON.stringify(
        {
          prices: PRICES,
          model: MODEL,
          window_s: rtNow.window_s,
          bills,
          project,
          lifetime: { now: lifeNow, before: lifeBefore },
          realtime: [rtNow, rtBefore],
        },
        null,
        1,
      ),
    );
    console.log(`\n${report}\n`);
    log(`written: ${path.join(OUT, "report.md")} and report.json`);
  } finally {
    if (before) rmSync(before, { recursive: true, force: true });
  }
}

await main();
