// What the benchmarks share: a `wrangler dev` of their own (fresh state under .wrangler/),
// the API helpers, a device made the way a real one is, and the Loghub corpus as log lines.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { DATASETS, loadLoghub } from "../agent/samples/loghub.ts";

export interface BenchServer {
  base: string;
  admin: string;
  /** The wrangler dev process, leader of the group its workerd runs in. */
  pid: number;
  stop(): void;
}

export interface ServerOptions {
  /** A file for the server's output (else it is dropped). */
  logFile?: string;
  /** Where wrangler serves the V8 inspector, for CPU profiles (its default otherwise). */
  inspectorPort?: number;
  /** Another entry than wrangler.toml's `main`, with the same bindings (bench/limit-entry.ts). */
  entry?: string;
}

/**
 * wrangler.toml with every [[ratelimits]] binding's limit raised out of reach, as
 * `wrangler.bench.toml` beside it (paths in it are relative to its folder). A benchmark measures
 * what the platform can take (one device's batches as fast as they go, one key's queries), so
 * the per-device and per-key limits that would refuse most of that load are lifted; the limits
 * themselves cost nothing measurable (test/integration/rate-limits.test.ts checks they hold).
 */
function configWithoutRateLimits(): string {
  const file = "wrangler.bench.toml";
  const toml = readFileSync("wrangler.toml", "utf8");
  const raised = toml.replace(
    /simple = \{ limit = \d+, period = (\d+) \}/g,
    "simple = { limit = 1000000000, period = $1 }",
  );
  if (raised === toml) throw new Error("wrangler.toml declares no [[ratelimits]] to raise");
  writeFileSync(
    file,
    `# Written by bench/server.ts for benchmarks: wrangler.toml with its rate limits raised.\n${raised}`,
  );
  return file;
}

/**
 * Starts `wrangler dev` on loopback `port` with its own state in `persist` and a random admin
 * token, and waits until it answers.
 */
export async function startServer(port: number, persist: string, opts: ServerOptions = {}): Promise<BenchServer> {
  const { logFile, inspectorPort, entry } = opts;
  const base = `http://127.0.0.1:${port}/api/v1`;
  const admin = randomBytes(16).toString("hex");
  rmSync(persist, { recursive: true, force: true });
  const migrate = spawnSync(
    "npm",
    ["exec", "--", "wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist],
    {
      env: { ...process.env, CI: "true" },
      stdio: "ignore",
    },
  );
  if (migrate.status !== 0) throw new Error("migrations failed");
  const out = logFile ? openSync(logFile, "w") : "ignore";
  const child: ChildProcess = spawn(
    "npm",
    [
      "exec",
      "--",
      "wrangler",
      "dev",
      "--config",
      configWithoutRateLimits(),
      ...(entry ? [entry] : []),
      "--port",
      String(port),
      "--ip",
      "127.0.0.1",
      "--persist-to",
      persist,
      "--var",
      `ADMIN_TOKEN:${admin}`,
      "--show-interactive-dev-session=false",
      ...(inspectorPort ? ["--inspector-port", String(inspectorPort)] : []),
    ],
    { stdio: ["ignore", out, out], detached: true, env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false" } },
  );
  const stop = () => {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {}
  };
  try {
    await waitReady(base);
  } catch (err) {
    stop();
    throw err;
  }
  return { base, admin, pid: child.pid!, stop };
}

async function waitReady(base: string) {
  for (let i = 0; i < 240; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("server did not start");
}

export async function api(base: string, method: string, path: string, token: string | null, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const json: any = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** An org on the enterprise tier (no quota gets in the way) with one project. */
export async function newProject(s: BenchServer) {
  const org = await api(s.base, "POST", "/orgs", s.admin, { name: "bench", tier: "enterprise" });
  const orgKey: string = org.api_key.key;
  const { project } = await api(s.base, "POST", "/projects", orgKey, { name: "bench" });
  return { orgKey, projectId: project.id as string };
}

export async function newDevice(base: string, orgKey: string, projectId: string, dsn: string) {
  const cap = await api(base, "POST", "/capsules/generate", orgKey, {
    project_id: projectId,
    device_type: "bench",
    environment: "testing",
  });
  const reg = await api(base, "POST", "/fleet/register", null, {
    dsn,
    registration_token: cap.capsule.fleet.registration_token,
  });
  return reg as { device_id: string; device_key: string };
}

export const corpus = DATASETS.flatMap((d) => loadLoghub(d));

/** `count` bodies of `size` Loghub lines each, stamped just before now, with batch ids `prefix-<n>`. */
export function batchBodies(size: number, count: number, prefix: string): string[] {
  const bodies: string[] = [];
  let at = 0;
  for (let b = 0; b < count; b++) {
    const now = Date.now() * 1000;
    const logs = Array.from({ length: size }, (_, i) => ({
      ...corpus[at++ % corpus.length]!,
      timestamp_us: now - (size - i),
    }));
    bodies.push(JSON.stringify({ batch_id: `${prefix}-${b}`, logs }));
  }
  return bodies;
}

/** Sequential GET /health for `n` requests: the floor of any request through wrangler dev. */
export async function healthRate(base: string, n = 300): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await (await fetch(`${base}/health`)).json();
  return n / ((performance.now() - t0) / 1000);
}
