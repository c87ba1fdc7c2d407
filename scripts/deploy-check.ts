// `npm run deploy:check`: everything short of a real `wrangler deploy`, offline (CI runs it after
// lint). It fails (exit 1) when:
// - `wrangler deploy --dry-run` fails for production (the top level, `--env=""`) or staging;
// - the compressed Worker passes the Workers Paid limit, 10 MB (past 1 MB it only warns:
//   startup time grows with it);
// - the startup CPU time passes 1 s: `wrangler check startup` profiles the Worker's startup in a
//   local workerd, and this sums the profile's non-idle sample time;
// - src/worker-configuration.d.ts is not what `npm run cf-typegen` writes (`wrangler types --check`);
// - a binding or variable wrangler.toml declares (at the top level or in [env.staging]) is not used
//   by src/ and durable-objects/, or the code reads `env.NAME` that is neither declared nor a
//   secret; staging does not declare the same names as production, on resources of its own;
// - a secret (a name the code reads that wrangler.toml does not declare) is not typed in
//   src/secrets.d.ts, or not named in docs/deploy.md and .dev.vars.example.
// Then it prints one summary: sizes, startup CPU, bindings and secrets counted, OK or the failures.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { stripVTControlCharacters as stripAnsi } from "node:util";
import { unstable_readConfig } from "wrangler";

const ROOT = path.resolve(import.meta.dirname, "..");
const KiB = 1024;
const MiB = 1024 * KiB;
/** Workers Paid: the compressed Worker's limit, and the size past which this warns. */
const GZIP_LIMIT = 10 * MiB;
const GZIP_WARN = 1 * MiB;
/** Cloudflare's limit on a Worker's startup (its global scope and imports), in CPU ms. */
const STARTUP_LIMIT_MS = 1000;
/** A profile past the limit is taken again, this many times in all; the least counts (a busy machine only adds). */
const STARTUP_TRIES = 3;

/** The sizes wrangler prints after a dry run: "Total Upload: 2528.53 KiB / gzip: 537.53 KiB". */
export function parseUploadSize(output: string): { rawBytes: number; gzipBytes: number } | undefined {
  const m = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(stripAnsi(output));
  if (!m) return undefined;
  return { rawBytes: Math.round(Number(m[1]) * KiB), gzipBytes: Math.round(Number(m[2]) * KiB) };
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string } }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * CPU time in a V8 .cpuprofile: the sum of its samples' time deltas (µs), less those the
 * sampler found idle, in ms. Garbage collection is CPU, and counts.
 */
export function startupCpu(profile: CpuProfile): { sampledMs: number; activeMs: number; gcMs: number } {
  const names = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName]));
  let sampled = 0;
  let idle = 0;
  let gc = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    sampled += delta;
    const name = names.get(id);
    if (name === "(idle)") idle += delta;
    if (name === "(garbage collector)") gc += delta;
  });
  return { sampledMs: sampled / 1000, activeMs: (sampled - idle) / 1000, gcMs: gc / 1000 };
}

/** One name a Worker's env has from wrangler.toml: a binding of some kind, or a [vars] entry. */
export interface Declared {
  name: string;
  kind: string;
  /** What it names at Cloudflare (database, bucket, queue, namespace, class); "" for vars and assets. */
  resource: string;
}

type Config = ReturnType<typeof unstable_readConfig>;

/** Everything a Worker's env gets from one environment of a (normalized) wrangler config. */
export function declaredNames(config: Config): Declared[] {
  const out: Declared[] = [];
  const add = (kind: string, name: string | undefined, resource = "") => {
    if (name) out.push({ name, kind, resource });
  };
  for (const d of config.d1_databases) add("d1", d.binding, d.database_name ?? "");
  for (const r of config.r2_buckets) add("r2", r.binding, r.bucket_name ?? "");
  for (const k of config.kv_namespaces) add("kv", k.binding, k.id ?? "");
  for (const d of config.durable_objects.bindings) add("durable_object", d.name, d.class_name);
  for (const q of config.queues.producers ?? []) add("queue", q.binding, q.queue);
  for (const r of config.ratelimits) add("ratelimit", r.name, r.namespace_id);
  for (const s of config.services ?? []) add("service", s.binding, s.service);
  for (const a of config.analytics_engine_datasets) add("analytics_engine", a.binding, a.dataset ?? "");
  for (const h of config.hyperdrive) add("hyperdrive", h.binding, h.id);
  for (const v of config.vectorize) add("vectorize", v.binding, v.index_name);
  for (const w of config.workflows) add("workflow", w.binding, w.name);
  add("ai", config.ai?.binding);
  add("browser", config.browser?.binding);
  add("version_metadata", config.version_metadata?.binding);
  add("assets", config.assets?.binding);
  for (const name of Object.keys(config.vars)) add("var", name);
  return out;
}

export interface SourceFile {
  path: string;
  text: string;
}

/** Source without its comments, so a comment naming `env.X` is no use of X. (`://` in a URL is no comment.) */
const stripComments = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:\\])\/\/.*$/gm, "$1");

/** The names the code reads from a Worker env: `env.NAME`, `c.env.NAME`, `this.env.NAME`, `env["NAME"]`. */
export function envReads(files: readonly SourceFile[]): Map<string, string[]> {
  const reads = new Map<string, string[]>();
  for (const f of files) {
    const code = stripComments(f.text);
    for (const m of code.matchAll(
      /(?<![\w$/-])env\??(?:\.([A-Z][A-Z0-9_]*)\b|\.?\[\s*["'`]([A-Z][A-Z0-9_]*)["'`]\s*\])/g,
    )) {
      const name = (m[1] ?? m[2])!;
      const at = reads.get(name) ?? [];
      if (!at.includes(f.path)) at.push(f.path);
      reads.set(name, at);
    }
  }
  return reads;
}

/**
 * Whether the code uses a declared name: reads `env.NAME`, or names it as a string, as the
 * tier table names its rate-limit binding for `env[rule.binding]`.
 */
export function usedInCode(files: readonly SourceFile[], name: string): boolean {
  const re = new RegExp(`(?<![\\w$/-])env\\??\\.${name}\\b|["'\`]${name}["'\`]`);
  return files.some((f) => re.test(stripComments(f.text)));
}

/** The names src/secrets.d.ts types (its FleetbeatSecrets interface). */
export function typedSecrets(dts: string): string[] {
  const body = /interface FleetbeatSecrets\s*\{([\s\S]*?)\n\}/.exec(stripComments(dts))?.[1] ?? "";
  return [...body.matchAll(/^\s*([A-Z][A-Z0-9_]*)\??\s*:/gm)].map((m) => m[1]!);
}

export interface BindingReport {
  failures: string[];
  /** Names the code reads that wrangler.toml does not declare: set with `wrangler secret put`. */
  secrets: string[];
}

/**
 * Declared against used, both ways, for production and staging; staging's names against
 * production's; and the secrets against src/secrets.d.ts.
 */
export function compareBindings(input: {
  production: Declared[];
  staging: Declared[] | undefined;
  files: readonly SourceFile[];
  secretsTyped: readonly string[];
}): BindingReport {
  const { production, staging, files } = input;
  const failures: string[] = [];
  const envs: [string, Declared[]][] = [["wrangler.toml", production]];
  if (staging) envs.push(["[env.staging]", staging]);
  else failures.push("wrangler.toml has no [env.staging]");

  for (const [where, declared] of envs) {
    for (const d of declared) {
      if (!usedInCode(files, d.name))
        failures.push(`${where} declares ${d.name} (${d.kind}) but the code never uses it`);
    }
  }

  const reads = envReads(files);
  const prodNames = new Set(production.map((d) => d.name));
  const secrets = [...reads.keys()].filter((n) => !prodNames.has(n)).sort();
  for (const name of secrets) {
    if (!input.secretsTyped.includes(name)) {
      failures.push(
        `the code reads env.${name} (${reads.get(name)!.join(", ")}), which wrangler.toml does not declare and src/secrets.d.ts does not type as a secret`,
      );
    }
  }
  for (const name of input.secretsTyped) {
    if (prodNames.has(name)) failures.push(`src/secrets.d.ts types ${name} as a secret, but wrangler.toml declares it`);
    else if (!reads.has(name)) failures.push(`src/secrets.d.ts types the secret ${name}, but the code never reads it`);
  }

  if (staging) {
    const key = (d: Declared) => `${d.name} (${d.kind})`;
    const prodKeys = new Set(production.map(key));
    const stagingKeys = new Set(staging.map(key));
    for (const k of prodKeys) if (!stagingKeys.has(k)) failures.push(`[env.staging] lacks ${k}, which production has`);
    for (const k of stagingKeys) if (!prodKeys.has(k)) failures.push(`[env.staging] has ${k}, which production lacks`);
    // Its own database, bucket, queues and rate-limit counts; the same Durable Object classes.
    const own = new Set(["d1", "r2", "kv", "queue", "ratelimit"]);
    const prodResources = new Map(production.map((d) => [`${d.kind}:${d.resource}`, d.name]));
    for (const d of staging) {
      const shared = prodResources.get(`${d.kind}:${d.resource}`);
      if (own.has(d.kind) && shared !== undefined) {
        failures.push(`[env.staging] ${d.name} uses production's ${d.kind} ${d.resource} (production's ${shared})`);
      }
      const prod = production.find((p) => p.name === d.name && p.kind === d.kind);
      if (d.kind === "durable_object" && prod && prod.resource !== d.resource) {
        failures.push(`[env.staging] ${d.name} is class ${d.resource}, production's is ${prod.resource}`);
      }
    }
  }
  return { failures, secrets };
}

/** Each queue consumer keeps what fails: a dead-letter queue of its own, not the queue it consumes. */
export function queueFailures(where: string, config: Config): string[] {
  const failures: string[] = [];
  for (const c of config.queues.consumers ?? []) {
    if (!c.dead_letter_queue) failures.push(`${where}: the consumer of ${c.queue} has no dead_letter_queue`);
    else if (c.dead_letter_queue === c.queue) failures.push(`${where}: ${c.queue} is its own dead-letter queue`);
  }
  return failures;
}

/** Routes (hostnames) staging would take from production: routes are inherited unless staging sets its own. */
export function sharedRoutes(production: Config, staging: Config): string[] {
  const pattern = (r: string | { pattern: string }) => (typeof r === "string" ? r : r.pattern);
  const prod = new Set([...(production.routes ?? []), ...(production.route ? [production.route] : [])].map(pattern));
  return [...(staging.routes ?? []), ...(staging.route ? [staging.route] : [])]
    .map(pattern)
    .filter((p) => prod.has(p))
    .map((p) => `[env.staging] takes production's route ${p}: give staging routes of its own (or routes = [])`);
}

/** Each secret is named in docs/deploy.md and as a NAME= line (commented out or not) of .dev.vars.example. */
export function secretsDocumented(
  secrets: readonly string[],
  docs: { deployMd: string | undefined; devVarsExample: string | undefined },
): string[] {
  const failures: string[] = [];
  if (docs.deployMd === undefined)
    failures.push(`docs/deploy.md is missing: it must name the secrets ${secrets.join(", ")}`);
  if (docs.devVarsExample === undefined) {
    failures.push(`.dev.vars.example is missing: it must name the secrets ${secrets.join(", ")}`);
  }
  for (const name of secrets) {
    if (docs.deployMd !== undefined && !new RegExp(`\\b${name}\\b`).test(docs.deployMd)) {
      failures.push(`docs/deploy.md does not name the secret ${name}`);
    }
    if (docs.devVarsExample !== undefined && !new RegExp(`^[#\\s]*${name}\\s*=`, "m").test(docs.devVarsExample)) {
      failures.push(`.dev.vars.example has no ${name}= line`);
    }
  }
  return failures;
}

const kib = (bytes: number) => `${(bytes / KiB).toFixed(1)} KiB`;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(2)} MiB`;

/** The .ts files of a folder, without declaration files (worker-configuration.d.ts names every binding). */
function sourceFiles(dir: string): SourceFile[] {
  const out: SourceFile[] = [];
  for (const entry of readdirSync(path.join(ROOT, dir), { recursive: true, encoding: "utf8" })) {
    const rel = path.join(dir, entry);
    if (!rel.endsWith(".ts") || rel.endsWith(".d.ts") || !statSync(path.join(ROOT, rel)).isFile()) continue;
    out.push({ path: rel, text: readFileSync(path.join(ROOT, rel), "utf8") });
  }
  return out;
}

/** The code a Worker env is read in. */
export const workerSources = () => [...sourceFiles("src"), ...sourceFiles("durable-objects")];

const readIfExists = (rel: string) =>
  existsSync(path.join(ROOT, rel)) ? readFileSync(path.join(ROOT, rel), "utf8") : undefined;

/** Runs wrangler (the project's, on this Node) and gives back its exit code and output. */
function wrangler(args: string[]): Promise<{ code: number; output: string }> {
  const bin = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, output: stripAnsi(output) }));
  });
}

/** wrangler's warnings in its output: each "▲ [WARNING]" title with the paragraph under it, on one line. */
export function wranglerWarnings(output: string): string[] {
  return output
    .split("▲ [WARNING]")
    .slice(1)
    .map((block) => {
      const lines = block.split("\n").map((l) => l.trim());
      let i = 1;
      while (i < lines.length && lines[i] === "") i++;
      const detail: string[] = [];
      for (; i < lines.length && lines[i] !== ""; i++) detail.push(lines[i]!.replace(/^- /, ""));
      return [lines[0], ...detail].join(" ");
    });
}

/** The last lines of a command's output, for a failure. */
const tail = (output: string, lines = 15) =>
  output
    .trim()
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("[custom build]") && !l.includes("Logs were written"))
    .slice(-lines)
    .map((l) => `    ${l}`)
    .join("\n");

async function main() {
  const started = performance.now();
  const failures: string[] = [];
  const warnings: string[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), "deploy-check-"));
  const summary: string[] = [];
  try {
    // 1-2. Dry runs: the bundle wrangler would upload, and its sizes.
    for (const [label, envArg] of [
      ["production", "--env="],
      ["staging", "--env=staging"],
    ] as const) {
      const outdir = path.join(tmp, label);
      const run = await wrangler(["deploy", "--dry-run", envArg, `--outdir=${outdir}`]);
      const size = parseUploadSize(run.output);
      // wrangler's own warnings about the configuration (a binding an environment does not repeat).
      for (const w of wranglerWarnings(run.output)) warnings.push(`${label}: wrangler: ${w}`);
      if (run.code !== 0) {
        failures.push(`wrangler deploy --dry-run ${envArg} failed (exit ${run.code}):\n${tail(run.output)}`);
        continue;
      }
      if (!size) {
        failures.push(`wrangler deploy --dry-run ${envArg} printed no "Total Upload" line:\n${tail(run.output)}`);
        continue;
      }
      summary.push(
        `${label.padEnd(10)} bundle ${kib(size.rawBytes)} raw, ${kib(size.gzipBytes)} gzip ` +
          `(${((size.gzipBytes / GZIP_LIMIT) * 100).toFixed(1)}% of the ${mib(GZIP_LIMIT)} limit)`,
      );
      if (size.gzipBytes > GZIP_LIMIT) {
        failures.push(
          `${label}: the Worker is ${mib(size.gzipBytes)} compressed, past Workers Paid's ${mib(GZIP_LIMIT)}`,
        );
      } else if (size.gzipBytes > GZIP_WARN) {
        warnings.push(
          `${label}: the Worker is ${mib(size.gzipBytes)} compressed, past ${mib(GZIP_WARN)}: startup grows with it`,
        );
      }
    }

    // 3. Startup CPU, from wrangler's profile of the production bundle (the same code as staging's).
    const tries: number[] = [];
    for (let i = 0; i < STARTUP_TRIES && !(tries.length > 0 && Math.min(...tries) <= STARTUP_LIMIT_MS); i++) {
      const outfile = path.join(tmp, `startup-${i}.cpuprofile`);
      const run = await wrangler(["check", "startup", `--outfile=${outfile}`]);
      if (run.code !== 0 || !existsSync(outfile)) {
        failures.push(`wrangler check startup failed (exit ${run.code}):\n${tail(run.output)}`);
        break;
      }
      tries.push(startupCpu(JSON.parse(readFileSync(outfile, "utf8"))).activeMs);
    }
    if (tries.length > 0) {
      const best = Math.min(...tries);
      summary.push(
        `startup    ${best.toFixed(0)} ms CPU of ${STARTUP_LIMIT_MS} ms` +
          (tries.length > 1 ? ` (least of ${tries.map((t) => t.toFixed(0)).join(", ")} ms)` : ""),
      );
      if (best > STARTUP_LIMIT_MS)
        failures.push(`startup takes ${best.toFixed(0)} ms CPU, past ${STARTUP_LIMIT_MS} ms`);
    }

    // 4. The generated types, and the bindings against the code.
    const types = await wrangler(["types", "src/worker-configuration.d.ts", "--check"]);
    if (types.code !== 0) {
      failures.push(
        `src/worker-configuration.d.ts is out of date with wrangler.toml: run \`npm run cf-typegen\`\n${tail(types.output, 4)}`,
      );
    }
    const configPath = path.join(ROOT, "wrangler.toml");
    const production = unstable_readConfig({ config: configPath, env: undefined });
    const raw = readFileSync(configPath, "utf8");
    const staging = /^\[env\.staging\]/m.test(raw)
      ? unstable_readConfig({ config: configPath, env: "staging" })
      : undefined;
    if (staging && staging.name === production.name)
      failures.push(`[env.staging] has production's name, ${production.name}`);
    const files = workerSources();
    const prodNames = declaredNames(production);
    const stagingNames = staging ? declaredNames(staging) : undefined;
    const report = compareBindings({
      production: prodNames,
      staging: stagingNames,
      files,
      secretsTyped: typedSecrets(readIfExists("src/secrets.d.ts") ?? ""),
    });
    failures.push(...report.failures, ...queueFailures("wrangler.toml", production));
    if (staging) failures.push(...queueFailures("[env.staging]", staging), ...sharedRoutes(production, staging));
    const count = (names: Declared[] | undefined) => {
      const vars = names?.filter((d) => d.kind === "var").length ?? 0;
      return `${(names?.length ?? 0) - vars} bindings + ${vars} vars`;
    };
    summary.push(
      `bindings   production ${count(prodNames)}, staging ${count(stagingNames)}; ` +
        `checked against ${files.length} files of src/ and durable-objects/`,
    );

    // 5. The secrets, where a team finds them.
    failures.push(
      ...secretsDocumented(report.secrets, {
        deployMd: readIfExists("docs/deploy.md"),
        devVarsExample: readIfExists(".dev.vars.example"),
      }),
    );
    summary.push(`secrets    ${report.secrets.length}: ${report.secrets.join(", ")}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  console.log(`deploy:check (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  for (const line of summary) console.log(`  ${line}`);
  for (const w of warnings) console.log(`  warning: ${w}`);
  if (failures.length === 0) {
    console.log("OK");
    return;
  }
  console.log(`FAILED (${failures.length}):`);
  for (const f of failures) console.log(`  - ${f}`);
  process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
