// The lifetime part of `npm run bench:cost`: a device's object on a moved clock. The real-time
// part (bench/cost.ts) runs fresh devices for minutes; what a device costs only later, or once
// an hour, or once its windows are full, it cannot see. Here the clock is moved (vitest's fake
// Date, which the Worker and the objects read too: they run in this isolate), the device is
// driven over HTTPS as an agent would, and each object's alarm is run when it is due, as the
// runtime would (bench/meter.ts keeps when each was set for). Everything is counted by the same
// meter as the real-time part (the app is bench/meter-entry.ts here too). For each workload:
//   - steady: H hours of the workload at steady state: the device registered long before and its
//     metric history full (RETENTION_MS), so what comes once an hour, or only once windows are
//     full, happens as it would in month N;
//   - fresh: the real-time part's own window (a device five minutes old, ten minutes, no hour
//     boundary), so bench/cost.ts can add to the real-time figures exactly what they miss
//     (steady per hour − fresh per hour), not count anything twice;
//   - archive and expiry: the steady hours' lines, hour by hour past the hot window (14 days,
//     pro) and past the archive's retention (365 days), one alarm per hour as in production;
//   - the hot store's bytes per line (the object's SQLite size) and the archive's (gzip in R2).
// It prints one JSON line per workload (`COST-LIFETIME {...}`) for bench/cost.ts. It runs in this
// tree, or in a checkout of the code before the cost work (the agent then flushes every second,
// as the agent of that code did: COST_AGENT=old).
import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterAll, beforeAll, it, vi } from "vitest";
import { alarms, FIELDS, forgetAlarm, type R2Tally, type Reading, reading, type Tally } from "./meter";

interface Line {
  level: string;
  module: string;
  message: string;
  thread_id?: string;
  context: Record<string, string>;
}
const bindings = env as unknown as {
  LOGHUB: Record<string, Line[]>;
  COST_AGENT: "new" | "old";
  COST_QUICK: string;
  ADMIN_TOKEN: string;
};
const AGENT = bindings.COST_AGENT;
/** A smoke run (bench:cost --quick): an hour or less of each. */
const QUICK = bindings.COST_QUICK === "1";
const BASE = "http://fleetbeat.bench/api/v1";
const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** How the agent sends lines: today's policy (a line waits at most 60 s, 1,000 go at once); before, a flush every second. */
const SEND_EVERY_MS = AGENT === "new" ? 60 * S : 1 * S;
const BATCH_MAX = 1000;
const HEARTBEAT_MS = 30 * S;
/** The pro tier's windows (src/contract/tiers.ts). */
const HOT_DAYS = 14;
const ARCHIVE_DAYS = 365;

type Transport = "socket" | "https";
interface Workload {
  name: "idle" | "typical" | "heavy";
  /** Lines a second (no bursts here: both phases the bench subtracts have the same lines). */
  rate: number;
  /** Hours of steady state simulated: what comes once an hour comes that many times. Fewer where a simulated hour is slow. */
  hours: number;
  /** Minutes of the workload before the steady hours are measured. */
  warmup: number;
}
// Four steady hours see what comes hourly four times, and keep the whole bench near 25 minutes on two cores.
const hours = (now: number, before: number, quick = 1) =>
  Math.min(QUICK ? quick : Infinity, AGENT === "new" ? now : before);
const WORKLOADS: Workload[] = [
  { name: "idle", rate: 0, hours: hours(4, 3), warmup: 60 },
  { name: "typical", rate: 0.4, hours: hours(4, 1), warmup: 60 },
  // The code before writes ~9 rows a line and reads its hot store for each batch, so at 100
  // lines/s it is simulated for minutes only, over HTTPS only: enough for its lines' archive and
  // expiry, too short for a steady state (bench/cost.ts adds none for it).
  { name: "heavy", rate: 100, hours: hours(1, 1 / 12, 1 / 6), warmup: AGENT === "new" ? 10 : 5 },
];
const TRANSPORTS: Transport[] = ["https", "socket"];
const simulated = (w: Workload, t: Transport) => AGENT === "new" || w.name !== "heavy" || t === "https";

async function call(method: string, path: string, token: string | null, body?: unknown) {
  const res = await exports.default.fetch(`${BASE}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = new TextDecoder().decode(await res.arrayBuffer());
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

interface Tenant {
  projectId: string;
  deviceId: string;
  deviceKey: string;
}

/** An org on the pro tier, a project and a device registered through a capsule, as the simulator does. */
async function tenant(name: string): Promise<Tenant> {
  const org = await call("POST", "/orgs", bindings.ADMIN_TOKEN, { name, tier: "pro" });
  const orgKey: string = org.api_key.key;
  const { project } = await call("POST", "/projects", orgKey, { name });
  const cap = await call("POST", "/capsules/generate", orgKey, {
    project_id: project.id,
    device_type: "robot",
    environment: "production",
  });
  const reg = await call("POST", "/fleet/register", null, {
    dsn: `${name}-1`,
    registration_token: cap.capsule.fleet.registration_token,
  });
  return { projectId: project.id, deviceId: reg.device_id, deviceKey: reg.device_key };
}

/** Loghub's samples one after another: a device's own kind of line, hour after hour. */
const corpus: Line[] = Object.values(bindings.LOGHUB).flat();

/** One device driven as an agent drives it, on the fake clock, over HTTPS or its WebSocket. */
class Device {
  private ws: WebSocket | null = null;
  private readonly waiting = new Map<number, (frame: { type: string; accepted?: number }) => void>();
  private frameId = 1;
  private nextBeat: number;
  private nextSend: number;
  private owed = 0;
  private pending: (Line & { timestamp_us: number })[] = [];
  private lastLineAt: number;
  private at = 0;
  private batches = 0;
  lines = 0;

  constructor(
    readonly t: Tenant,
    private readonly w: Workload,
    private readonly transport: Transport,
    now: number,
  ) {
    this.nextBeat = now;
    this.nextSend = now + SEND_EVERY_MS;
    this.lastLineAt = now;
  }

  /** Runs the workload, and every alarm as it falls due, until `until` (ms on the fake clock). */
  async run(until: number, opts: { beats?: boolean; lines?: boolean; beatEvery?: number } = {}): Promise<void> {
    const beats = opts.beats ?? true;
    const lines = (opts.lines ?? true) && this.w.rate > 0;
    for (;;) {
      const alarm = this.nextAlarm();
      // 1,000 lines waiting go at once, whatever the interval.
      const full = lines
        ? this.lastLineAt + ((BATCH_MAX - this.pending.length - this.owed) / this.w.rate) * S
        : Infinity;
      const next = Math.max(
        Date.now(),
        Math.ceil(
          Math.min(
            beats ? this.nextBeat : Infinity,
            lines ? Math.min(this.nextSend, full) : Infinity,
            alarm?.at ?? Infinity,
          ),
        ),
      );
      if (next >= until) break;
      vi.setSystemTime(next);
      if (alarm && alarm.at <= next) {
        // An overdue alarm runs now, as the runtime runs one it missed.
        if (!(await runDurableObjectAlarm(alarm.stub))) forgetAlarm(alarm.name);
        continue;
      }
      if (lines) this.log(next);
      if (beats && next >= this.nextBeat) {
        const beat = { status: "online", metrics: metricsAt(next) };
        if (this.transport === "socket") await this.frame({ type: "heartbeat", ...beat });
        else await call("POST", "/fleet/heartbeat", this.t.deviceKey, beat);
        this.nextBeat += opts.beatEvery ?? HEARTBEAT_MS;
      }
      if (lines && (next >= this.nextSend || this.pending.length >= BATCH_MAX)) await this.send(next);
    }
    // Lines are logged only while the workload runs: a phase of alarms alone leaves none owed.
    if (lines) this.log(until);
    else this.lastLineAt = until;
    vi.setSystemTime(until);
  }

  /** Runs every alarm that is due by `until`, moving the clock to each, with no traffic. */
  async alarms(until: number): Promise<void> {
    await this.run(until, { beats: false, lines: false });
  }

  /** The lines logged since the last call, up to `now` (a line every 1/rate s), sent as soon as 1,000 wait. */
  private log(now: number): void {
    this.owed += ((now - this.lastLineAt) / S) * this.w.rate;
    this.lastLineAt = now;
    for (; this.owed >= 1; this.owed--) {
      const line = corpus[this.at++ % corpus.length]!;
      this.pending.push({ ...line, timestamp_us: now * 1000 - Math.round(this.owed * (1e6 / this.w.rate)) });
    }
  }

  private async send(now: number): Promise<void> {
    if (now >= this.nextSend) this.nextSend = now + SEND_EVERY_MS;
    while (this.pending.length > 0) {
      const body = { batch_id: `b-${this.batches++}`, logs: this.pending.splice(0, BATCH_MAX) };
      const answer =
        this.transport === "socket"
          ? await this.frame({ type: "logs", ...body })
          : await call("POST", "/logs/ingest", this.t.deviceKey, body);
      this.lines += answer.accepted ?? 0;
    }
  }

  /** Opens the device's WebSocket (GET /fleet/connect), as the agent holds it. */
  async connect(): Promise<void> {
    if (this.transport !== "socket") return;
    const res = await exports.default.fetch(`${BASE}/fleet/connect`, {
      headers: { upgrade: "websocket", authorization: `Bearer ${this.t.deviceKey}` },
    });
    const ws = res.webSocket;
    if (!ws) throw new Error(`the device socket was refused: ${res.status}`);
    ws.accept();
    ws.addEventListener("message", (e) => {
      const frame = JSON.parse(e.data as string) as { id?: number; type: string; accepted?: number };
      if (frame.id === undefined) return;
      this.waiting.get(frame.id)?.(frame);
      this.waiting.delete(frame.id);
    });
    this.ws = ws;
  }

  close(): void {
    this.ws?.close(1000, "done");
    this.ws = null;
  }

  /** One frame over the socket, answered by its ack (or an error frame). */
  private frame(body: Record<string, unknown>): Promise<{ type: string; accepted?: number }> {
    const id = this.frameId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (f) =>
        f.type === "ack" ? resolve(f) : reject(new Error(`frame ${String(body.type)}: ${JSON.stringify(f)}`)),
      );
      this.ws!.send(JSON.stringify({ ...body, id }));
    });
  }

  /** The earliest alarm of the tenant's objects: its device, its project, its log shard (today's code). */
  private nextAlarm(): { at: number; name: string; stub: DurableObjectStub } | undefined {
    const next = alarms().find((a) => ofTenant(this.t, a.name));
    if (!next) return undefined;
    const ns = (env as unknown as Record<string, DurableObjectNamespace>)[BINDINGS[next.className] ?? ""];
    if (!ns) throw new Error(`no binding for ${next.className} (${next.name})`);
    return { at: next.at, name: next.name, stub: ns.get(ns.idFromName(next.name)) };
  }
}

/** wrangler.toml's binding of each object class. */
const BINDINGS: Record<string, string> = {
  DeviceHub: "DEVICE_HUB",
  ProjectHub: "PROJECT_HUB",
  FanIn: "FAN_IN",
  LogShard: "LOG_SHARD",
  TailGroup: "TAIL_GROUP",
};

/** Whether an object (a meter scope) is the tenant's: its device, its project, or one named after the project (its log shards). */
const ofTenant = (t: Tenant, scope: string) =>
  scope === t.deviceId || scope === t.projectId || scope.startsWith(`${t.projectId}/`);

/** The SQLite bytes of the tenant's objects, as of their last events. */
const bytesOf = (t: Tenant) =>
  Object.entries(reading().object_bytes)
    .filter(([name]) => ofTenant(t, name))
    .reduce((n, [, b]) => n + b, 0);

/** Drifting readings, as the simulator's heartbeats carry (five metrics). */
function metricsAt(t: number) {
  const x = t / 600_000;
  return {
    cpu_usage: 30 + 20 * Math.sin(x),
    memory_usage: 55 + 5 * Math.sin(x / 3),
    disk_usage: 40 + (t % 1e7) / 1e6,
    temperature: 45 + 3 * Math.cos(x),
    battery_level: 80 - 30 * Math.abs(Math.sin(x / 7)),
  };
}

/** What one phase cost a tenant (its device and its project), by line item, and by label. */
interface Phase {
  ms: number;
  totals: Tally;
  r2: R2Tally;
  labels: Record<string, Partial<Tally>>;
  /** API analytics (ProjectHub.recordApi and the org's hub), left out of `totals`: here they flush on the real clock. */
  api: Tally;
}

function diff(before: Reading, after: Reading, t: Tenant): Phase {
  const key = (r: { scope: string; label: string }) => `${r.scope}\t${r.label}`;
  const old = new Map(before.totals.map((r) => [key(r), r]));
  const totals = Object.fromEntries(FIELDS.map((f) => [f, 0])) as Tally;
  const api = Object.fromEntries(FIELDS.map((f) => [f, 0])) as Tally;
  const labels: Record<string, Partial<Tally>> = {};
  for (const r of after.totals) {
    if (!ofTenant(t, r.scope)) continue;
    const was = old.get(key(r));
    const into = r.label === "ProjectHub.recordApi" ? api : totals;
    // The test pool deletes an alarm before it runs it (runDurableObjectAlarm), outside any event
    // of the object; the runtime, which runs alarms in production, writes no row for that.
    const harness = r.label === "(outside any event)";
    const l: Partial<Tally> = {};
    for (const f of FIELDS) {
      if (harness && f === "rows_written_alarm") continue;
      const alarmRows = harness && f === "rows_written" ? r.rows_written_alarm - (was?.rows_written_alarm ?? 0) : 0;
      const d = r[f] - (was?.[f] ?? 0) - alarmRows;
      into[f] += d;
      if (d) l[f] = d;
    }
    if (Object.keys(l).length > 0) labels[r.label] = l;
  }
  const r2: R2Tally = { class_a: 0, class_b: 0, deletes: 0, bytes_put: 0 };
  for (const kind of ["artifacts", "logs"]) {
    const a = after.r2[`${kind}/${t.projectId}`];
    const b = before.r2[`${kind}/${t.projectId}`];
    for (const f of Object.keys(r2) as (keyof R2Tally)[]) r2[f] += (a?.[f] ?? 0) - (b?.[f] ?? 0);
  }
  return { ms: after.at - before.at, totals, r2, labels, api };
}

async function measure<T>(t: Tenant, work: () => Promise<T>): Promise<Phase> {
  const before = reading();
  await work();
  return diff(before, reading(), t);
}

/** 2027-03-01 12:07:13 UTC: no hour, day or month boundary near; each case lives 800 days after the last. */
const T0 = Date.UTC(2027, 2, 1, 12, 7, 13);

beforeAll(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
});
afterAll(() => {
  vi.useRealTimers();
});

for (const w of WORKLOADS) {
  for (const transport of TRANSPORTS.filter((t) => simulated(w, t))) {
    it(`${w.name} over ${transport}: a fresh device's window, steady hours, and the lines' archive and expiry`, async () => {
      const H = w.hours * HOUR;
      const t0 = T0 + (WORKLOADS.indexOf(w) * TRANSPORTS.length + TRANSPORTS.indexOf(transport)) * 800 * DAY;

      // Fresh: a new tenant, as in the real-time part: five minutes' warm-up, then ten (a delivery interval).
      const tf = t0 - 20 * DAY - 7 * MIN; // 12:00:13: the window ends at 12:15:13
      vi.setSystemTime(tf);
      const f = await tenant(`fresh-${w.name}-${transport}`);
      const df = new Device(f, w, transport, Date.now());
      await df.connect();
      await df.run(tf + 5 * MIN);
      const fresh = await measure(f, () => df.run(tf + 15 * MIN));
      const freshBytes = bytesOf(f);
      df.close();

      // Steady: registered a week before, heartbeating then, so its metric history is full when
      // the measured hours begin: the hours that age out of it while they run (a week older) are there.
      vi.setSystemTime(t0 - 7 * DAY - 2 * HOUR);
      const t = await tenant(`steady-${w.name}-${transport}`);
      // (A heartbeat every ten minutes is enough to leave an hour of metrics in each hour.)
      await new Device(t, w, "https", Date.now()).run(t0 - 7 * DAY + H + HOUR, { lines: false, beatEvery: 10 * MIN });
      // A week later: what fell due meanwhile, then the workload for a while before measuring.
      vi.setSystemTime(t0 - w.warmup * MIN - 30 * MIN);
      const d = new Device(t, w, transport, Date.now());
      await d.alarms(t0 - w.warmup * MIN);
      await d.connect();
      await d.run(t0);
      const linesBefore = d.lines;
      const bytesBefore = bytesOf(t);
      const steady = await measure(t, () => d.run(t0 + H));
      const steadyLines = d.lines - linesBefore;
      const bytesAfter = bytesOf(t);
      d.close();

      // The lines' later life (once per workload: it does not depend on how they came): past the
      // hot window an hour at a time, then past the archive's retention.
      let archive: Phase | null = null;
      let expiry: Phase | null = null;
      if (w.rate > 0 && transport === "https") {
        // The first line's hour (t0 − warm-up is within the hour before t0) leaves first.
        const hot = t0 - HOUR + HOT_DAYS * DAY;
        vi.setSystemTime(hot - 3 * HOUR);
        await d.alarms(hot - 2 * HOUR); // going offline, the metric history ageing out: not the lines'
        archive = await measure(t, () => d.alarms(hot + H + 3 * HOUR));
        const gone = t0 - HOUR + ARCHIVE_DAYS * DAY;
        vi.setSystemTime(gone - 3 * HOUR);
        await d.alarms(gone - 2 * HOUR);
        expiry = await measure(t, () => d.alarms(gone + H + 3 * HOUR));
      }

      console.log(
        `COST-LIFETIME ${JSON.stringify({
          agent: AGENT,
          workload: w.name,
          transport,
          fresh: { seconds: 600, ...fresh },
          steady: { hours: w.hours, lines: steadyLines, ...steady },
          archive,
          expiry,
          // Everything the device ingested (the hour before the measured ones too) went through archive and expiry.
          lifetime_lines: d.lines,
          object_bytes: { fresh: freshBytes, steady_before: bytesBefore, steady_after: bytesAfter },
        })}`,
      );
    });
  }
}
