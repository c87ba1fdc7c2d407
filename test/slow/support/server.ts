// A real `npm start` for the slow tier: its own state (FLEETBEAT_STATE), a port of its own,
// its own process group (so stopping it stops wrangler and workerd beneath it), and ways to
// look at it from outside: the export line it printed, its workerd processes' memory, the
// Durable Object storage files under its state.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../../..");
/** Ports the drills may use on this shared machine, loopback only. */
const PORTS = { first: 8830, last: 8849 };
/** What is kept of a server's output: wrangler logs every request, and a drill makes many. */
const OUTPUT_KEPT = 256 * 1024;

/** The variables the README's steps set, which a server's environment must not inherit. */
const README_VARS = [
  "B",
  "ADMIN_TOKEN",
  "ORG_KEY",
  "PROJECT_ID",
  "ACME_KEY",
  "ACME_PROJECT",
  "REGISTRATION_TOKEN",
  "RULE_ID",
  "RECEIVER",
  "TOKEN",
  "OTLP_KEY",
  "DEVICE_ID",
  "DEVICE_KEY",
  "COMMAND_ID",
  "TICKET",
  "ANSWER",
  "DEVICE_DIR",
];

/** The environment a newcomer's shell has: none of the variables the README's steps set. */
export function freshEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  for (const name of README_VARS) delete env[name];
  return env as NodeJS.ProcessEnv;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

/** The first port of the drills' range that is free, with the one `npm start` gives its sign-in provider (port + 1000). */
export async function freePort(): Promise<number> {
  for (let port = PORTS.first; port <= PORTS.last; port++)
    if ((await portIsFree(port)) && (await portIsFree(port + 1000))) return port;
  throw new Error(`no free port in ${PORTS.first}-${PORTS.last}`);
}

export interface Server {
  port: number;
  /** The API base on loopback, http://127.0.0.1:<port>/api/v1. */
  api: string;
  state: string;
  /** The `export B=… ADMIN_TOKEN=… ORG_KEY=… PROJECT_ID=…` line `npm start` printed. */
  exportLine: string;
  vars: Record<string, string>;
  child: ChildProcess;
  /** How long from spawn to the export line. */
  startedInMs: number;
  /** The last OUTPUT_KEPT characters the server printed. */
  output(): string;
  /** SIGTERM to the whole group, SIGKILL if it is still there after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /**
   * Ctrl-C as a person gives it: in a terminal npm start reads it as a key, so it reaches its
   * script alone (here a SIGINT to that process), which stops the demo fleet, then the server.
   * Resolves whether the whole group is gone within `ms`.
   */
  interrupt(ms?: number): Promise<boolean>;
  /** SIGKILL to the whole group at once, as a crash or a power cut would; resolves once it is gone. */
  kill(): Promise<void>;
}

/**
 * Starts `npm start` with FLEETBEAT_STATE=`state` on `port` (the first free port of the
 * range by default) and waits for the export line. Starting again on the same state is a
 * restart: the same database, objects, files, admin token and demo org. Without `demo`, it
 * runs no demo fleet (DEMO=0): the drills count what they send, and share two cores. `env`
 * adds variables npm start reads (ALLOW_PRIVATE_WEBHOOKS=false, for production's webhook filter).
 */
export async function startServer(opts: {
  state: string;
  port?: number;
  timeoutMs?: number;
  demo?: boolean;
  env?: Record<string, string>;
}): Promise<Server> {
  const port = opts.port ?? (await freePort());
  const started = Date.now();
  const child = spawn("npm", ["start"], {
    cwd: ROOT,
    env: freshEnv({ ...opts.env, PORT: String(port), FLEETBEAT_STATE: opts.state, DEMO: opts.demo ? "1" : "0" }),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  const keep = (d: Buffer) => {
    output += d;
    if (output.length > 2 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  const groupGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (groupPids(child.pid!).length === 0) return true;
      await sleep(100);
    }
    return false;
  };

  const exportLine = await new Promise<string>((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? 180_000;
    const timer = setInterval(() => {
      const line = /^export B=.*$/m.exec(output);
      if (line) {
        clearInterval(timer);
        resolve(line[0]);
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        signalGroup("SIGKILL");
        reject(new Error(`npm start printed no export line in ${timeoutMs / 1000} s:\n${output.slice(-4000)}`));
      }
    }, 100);
    void exited.then(() => {
      clearInterval(timer);
      reject(new Error(`npm start exited (${child.exitCode}) before it was ready:\n${output.slice(-4000)}`));
    });
  });
  const vars = Object.fromEntries(
    exportLine
      .slice("export ".length)
      .split(" ")
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );

  return {
    port,
    api: `http://127.0.0.1:${port}/api/v1`,
    state: opts.state,
    exportLine,
    vars,
    child,
    startedInMs: Date.now() - started,
    output: () => output,
    async stop(graceMs = 15_000) {
      if (groupPids(child.pid!).length === 0) return;
      signalGroup("SIGTERM");
      if (!(await groupGone(graceMs))) {
        signalGroup("SIGKILL");
        await groupGone(10_000);
      }
      await Promise.race([exited, sleep(1000)]);
    },
    async interrupt(ms = 40_000) {
      const script = groupPids(child.pid!).find(
        (p) => p.comm === "node" && readFileSync(`/proc/${p.pid}/cmdline`, "utf8").includes("scripts/start.mjs"),
      );
      if (!script) throw new Error(`npm start's script is not running:\n${output.slice(-3000)}`);
      process.kill(script.pid, "SIGINT");
      return groupGone(ms);
    },
    async kill() {
      signalGroup("SIGKILL");
      if (!(await groupGone(10_000))) throw new Error(`process group ${child.pid} is still there after SIGKILL`);
      await Promise.race([exited, sleep(1000)]);
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface ProcInfo {
  pid: number;
  comm: string;
  pgrp: number;
}

function readProc(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so split at the last ")".
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const [state, , pgrp] = stat.slice(close + 2).split(" ");
    if (state === "Z") return null; // a zombie holds no memory and no port
    return { pid, comm, pgrp: Number(pgrp) };
  } catch {
    return null;
  }
}

/** Every live process of the process group `pgrp`. */
export function groupPids(pgrp: number): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProc(Number(entry));
    if (info && info.pgrp === pgrp) out.push(info);
  }
  return out;
}

/** Resident memory (VmRSS) of the server's workerd processes, in bytes, with their pids. */
export function workerdRss(server: Server): { bytes: number; pids: number[] } {
  let bytes = 0;
  const pids: number[] = [];
  for (const p of groupPids(server.child.pid!)) {
    if (p.comm !== "workerd") continue;
    try {
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"));
      if (kb) {
        bytes += Number(kb[1]) * 1024;
        pids.push(p.pid);
      }
    } catch {
      // it just exited
    }
  }
  return { bytes, pids };
}

/**
 * The SQLite files of each Durable Object class under the server's state: wrangler's
 * --persist-to keeps one per object in `<state>/v3/do/<script>-<Class>/`.
 */
export function durableObjectFiles(state: string): Record<string, number> {
  const root = path.join(state, "v3", "do");
  const counts: Record<string, number> = {};
  if (!existsSync(root)) return counts;
  for (const dir of readdirSync(root)) {
    // metadata.sqlite is the namespace's own index, there before any object.
    counts[dir] = readdirSync(path.join(root, dir)).filter(
      (f) => f.endsWith(".sqlite") && f !== "metadata.sqlite",
    ).length;
  }
  return counts;
}

/** JSON over HTTP with a bearer token; the status and the parsed body (null when there is none). */
export async function api(
  base: string,
  method: string,
  route: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** An org, a project, a viewer key and a registered device, made with the server admin token. */
export async function newTenant(server: Server, name = "Drill org") {
  const base = server.api;
  const must = async (what: string, p: Promise<{ status: number; json: any }>, status: number) => {
    const res = await p;
    if (res.status !== status) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.json)}`);
    return res.json;
  };
  const org = await must(
    "org",
    api(base, "POST", "/orgs", { token: server.vars.ADMIN_TOKEN, body: { name, tier: "enterprise" } }),
    201,
  );
  const adminKey: string = org.api_key.key;
  const viewer = await must(
    "viewer key",
    api(base, "POST", "/keys", { token: adminKey, body: { role: "viewer", name: "drill viewer" } }),
    201,
  );
  const project = await must(
    "project",
    api(base, "POST", "/projects", { token: adminKey, body: { name: "drill" } }),
    201,
  );
  const projectId: string = project.project.id;
  const capsule = await must(
    "capsule",
    api(base, "POST", "/capsules/generate", {
      token: adminKey,
      body: { project_id: projectId, device_type: "amr", environment: "testing" },
    }),
    201,
  );
  return {
    orgId: org.org.id as string,
    adminKey,
    viewerKey: viewer.key as string,
    projectId,
    registrationToken: capsule.capsule.fleet.registration_token as string,
  };
}

/** Every line GET /logs answers for `query`, following next_cursor to the end. */
export async function allLogs(base: string, token: string, query: string): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const res = await api(
      base,
      "GET",
      `/logs?${query}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      { token },
    );
    if (res.status !== 200) throw new Error(`GET /logs?${query}: ${res.status} ${JSON.stringify(res.json)}`);
    out.push(...res.json.logs);
    cursor = res.json.next_cursor;
  } while (cursor);
  return out;
}
