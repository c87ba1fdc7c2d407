// `npm start`: the whole platform on this machine. Makes a local ADMIN_TOKEN if there is none,
// applies D1 migrations to the local database, runs `wrangler dev` on PORT (default 8787),
// makes a demo org and project on first start, and prints `export` lines to paste into a shell.
// Then, unless DEMO=0, a demo fleet (`agent simulate`: ten virtual devices) fills the demo
// project with live logs, heartbeats, sessions and files, and answers commands within seconds;
// it stops with the server.
//
// People sign in through a development OpenID provider started here (scripts/dev-oidc.mjs, on
// OIDC_PORT, default PORT + 1000) unless .dev.vars names a real one (OIDC_ISSUER): the demo
// org's owner is alice@example.com.
//
// State (D1, R2, Durable Objects) lives in .wrangler/state, the token in .dev.vars and the demo
// org in .fleetbeat-demo.json, the demo fleet's device keys in .wrangler/state/demo-fleet.json.
// With FLEETBEAT_STATE=<dir>, all of them live in <dir> instead, so a second server (a test, a
// demo) starts fresh and leaves the developer's own state alone.
//
// The terminal stays quiet (scripts/quiet-output.mjs; VERBOSE=1 shows everything): the line to
// paste comes again every few minutes when something was printed since, and on Enter. Ctrl-C
// stops the demo fleet first, so it ends its sessions and delivers what it holds while the
// server still answers, then the server.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { migrationsSummary, wranglerFilter } from "./quiet-output.mjs";

const verbose = Boolean(process.env.VERBOSE && process.env.VERBOSE !== "0");
// The development provider warns that it is for development only, which it is by design
// (scripts/dev-oidc.mjs): not worth three lines of every start. Set before it is imported,
// since it warns on import too.
if (!verbose) {
  const warn = console.warn;
  console.warn = (...args) => {
    if (!String(args[0]).includes("quick start development-only")) warn(...args);
  };
}
const { DEV_PEOPLE, startDevOidc } = await import("./dev-oidc.mjs");

const port = Number(process.env.PORT || 8787);
const base = `http://localhost:${port}`;
// wrangler's own launcher, on this Node (the project's Node 22 under `npm start`). Not through
// `npm exec`, whose shell would not pass a SIGTERM on to wrangler.
const wrangler = (...args) => [path.join(import.meta.dirname, "../node_modules/wrangler/bin/wrangler.js"), ...args];

const stateDir = process.env.FLEETBEAT_STATE ? path.resolve(process.env.FLEETBEAT_STATE) : null;
if (stateDir) mkdirSync(stateDir, { recursive: true });
const varsFile = stateDir ? path.join(stateDir, ".dev.vars") : ".dev.vars";
const demoFile = stateDir ? path.join(stateDir, "demo.json") : ".fleetbeat-demo.json";
// Beside the database its devices are registered in: a fresh state registers a fresh fleet.
const fleetFile = path.join(stateDir ?? ".wrangler/state", "demo-fleet.json");
const withDemoFleet = process.env.DEMO !== "0";
// wrangler reads .dev.vars from the project unless given an env file; both commands share one store.
const stateArgs = stateDir ? ["--persist-to", stateDir] : [];
const varsArgs = stateDir ? ["--env-file", varsFile] : [];

function adminToken() {
  const existing = existsSync(varsFile) ? readFileSync(varsFile, "utf8") : "";
  const match = /^ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?\s*$/m.exec(existing);
  if (match) return match[1];
  const token = randomBytes(32).toString("hex");
  writeFileSync(varsFile, `${existing}${existing && !existing.endsWith("\n") ? "\n" : ""}ADMIN_TOKEN=${token}\n`);
  console.log(`wrote a new random ADMIN_TOKEN to ${varsFile}`);
  return token;
}

async function waitForHealth() {
  for (let i = 0; i < 240; i++) {
    try {
      const res = await fetch(`${base}/api/v1/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${base}/api/v1/health did not answer within 2 minutes`);
}

async function api(path, token, body) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: body ? "POST" : "GET",
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

/** The demo org and project, made once and found again on later starts. */
async function demo(admin) {
  if (existsSync(demoFile)) {
    const saved = JSON.parse(readFileSync(demoFile, "utf8"));
    if ((await api(`/projects/${saved.project_id}`, saved.api_key)).status === 200) return saved;
  }
  // Its owner is whoever signs in as the development provider's first person.
  const org = await api("/orgs", admin, { name: "Demo org", tier: "pro", owner_email: DEV_PEOPLE[0].email });
  if (org.status !== 201) throw new Error(`creating the demo org: ${org.status} ${JSON.stringify(org.json)}`);
  const key = org.json.api_key.key;
  const project = await api("/projects", key, { name: "Demo project" });
  const saved = { org_id: org.json.org.id, project_id: project.json.project.id, api_key: key };
  writeFileSync(demoFile, `${JSON.stringify(saved, null, 2)}\n`);
  return saved;
}

/**
 * Whether this process is the terminal's foreground job: raw mode from a background job
 * (`npm start &`) would stop it (SIGTTOU). Where /proc says nothing, assume it is.
 */
function inForeground() {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // pid (comm) state ppid pgrp session tty_nr tpgid …; comm may hold spaces, so split after the last ")".
    const [, , pgrp, , , tpgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return pgrp === tpgid;
  } catch {
    return true;
  }
}

/** A value as one shell word: left bare when it is safe, single-quoted otherwise. */
const shellWord = (v) => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replaceAll("'", "'\\''")}'`);

const token = adminToken();

/** The team's own provider when .dev.vars (or the environment) names one; else a development one, started here. */
async function signIn() {
  const vars = existsSync(varsFile) ? readFileSync(varsFile, "utf8") : "";
  if (process.env.OIDC_ISSUER || /^OIDC_ISSUER\s*=/m.test(vars)) return { args: [], issuer: null };
  const oidcPort = Number(process.env.OIDC_PORT || port + 1000);
  const client = { client_id: "fleetbeat-dev", client_secret: "fleetbeat-dev-secret" };
  const redirect_uris = [
    `http://localhost:${port}/api/v1/auth/callback`,
    `http://127.0.0.1:${port}/api/v1/auth/callback`,
  ];
  const { issuer } = await startDevOidc({ port: oidcPort, clients: [{ ...client, redirect_uris }] });
  return {
    args: [
      "--var",
      `OIDC_ISSUER:${issuer}`,
      "--var",
      `OIDC_CLIENT_ID:${client.client_id}`,
      "--var",
      `OIDC_CLIENT_SECRET:${client.client_secret}`,
    ],
    issuer,
  };
}
const oidc = await signIn();
const migrate = spawnSync(process.execPath, wrangler("d1", "migrations", "apply", "DB", "--local", ...stateArgs), {
  stdio: ["ignore", verbose ? "inherit" : "pipe", verbose ? "inherit" : "pipe"],
  encoding: "utf8",
  env: { ...process.env, CI: "true" },
});
if (migrate.status !== 0) {
  if (!verbose) process.stderr.write(`${migrate.stdout}${migrate.stderr}`);
  process.exit(migrate.status ?? 1);
}
if (!verbose) {
  const total = readdirSync(path.join(import.meta.dirname, "../migrations")).filter((f) => f.endsWith(".sql")).length;
  console.log(migrationsSummary(migrate.stdout, total));
}

/** Whether anything was printed since the line to paste last was. */
let printedSince = false;
/** One line to the terminal, from here or from a child. */
function say(line, stream = process.stdout) {
  stream.write(`${line}\n`);
  printedSince = true;
}
/** A child's output, line by line, through `filter` (each line to the lines to show). */
function relay(input, stream, filter = (line) => [line]) {
  createInterface({ input, crlfDelay: Infinity }).on("line", (line) => {
    for (const shown of filter(line)) say(shown, stream);
  });
}

const dev = spawn(
  process.execPath,
  wrangler(
    "dev",
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--show-interactive-dev-session=false",
    // Local webhook receivers are allowed locally, unless the environment says otherwise (the abuse drill checks production's filter).
    "--var",
    `ALLOW_PRIVATE_WEBHOOKS:${process.env.ALLOW_PRIVATE_WEBHOOKS ?? "true"}`,
    ...stateArgs,
    ...varsArgs,
    ...oidc.args,
  ),
  {
    stdio: ["ignore", verbose ? "inherit" : "pipe", verbose ? "inherit" : "pipe"],
    // Offline machines cannot fetch the sample Request.cf object; use the built-in placeholder.
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false" },
  },
);
// One filter for both streams: wrangler writes its banner to one and its errors to the other.
const devFilter = wranglerFilter();
if (!verbose) {
  relay(dev.stdout, process.stdout, devFilter.take);
  relay(dev.stderr, process.stderr, devFilter.take);
}
/** The demo fleet, once it runs: an IPC channel to it, so it stops when this process goes, however it goes. */
let fleet = null;
/** How long the demo fleet may take to end its sessions and deliver what it holds (its own limit is 15 s). */
const FLEET_DRAIN_MS = 20_000;
let stopping = false;
/** The fleet first, so it ends its sessions and delivers its lines while the server still answers; then the server. */
async function stop(signal) {
  if (stopping) {
    // Asked twice: no more waiting.
    fleet?.kill("SIGKILL");
    dev.kill("SIGKILL");
    return;
  }
  stopping = true;
  if (fleet?.connected) {
    say("stopping the demo fleet: it ends its sessions and delivers what it holds (Ctrl-C again stops at once)");
    fleet.disconnect();
    await Promise.race([
      new Promise((r) => (fleet.exitCode === null && fleet.signalCode === null ? fleet.once("exit", r) : r())),
      new Promise((r) => setTimeout(r, FLEET_DRAIN_MS)),
    ]);
  }
  say("stopping the server");
  dev.kill(signal);
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => void stop(signal));
dev.on("exit", (code) => {
  // Stopped before it was ready (or mid-reload): what it said is why.
  if (!stopping) for (const line of devFilter.held()) say(line, process.stderr);
  process.exit(code ?? 0);
});

try {
  await waitForHealth();
} catch (err) {
  for (const line of devFilter.held()) say(line, process.stderr);
  throw err;
}
const d = await demo(token);
const shellVars = { B: `${base}/api/v1`, ADMIN_TOKEN: token, ORG_KEY: d.api_key, PROJECT_ID: d.project_id };
const exportLine = `export ${Object.entries(shellVars)
  .map(([k, v]) => `${k}=${shellWord(v)}`)
  .join(" ")}`;
const interactive = process.stdin.isTTY === true && inForeground();
console.log(`
fleetbeat is running at ${base}  (health: ${base}/api/v1/health)
  dashboard: ${base}/ (${oidc.issuer ? `"Sign in", then type ${DEV_PEOPLE[0].email} (the demo org's owner) at the development provider ${oidc.issuer}; or paste the demo org's key, ORG_KEY below` : "sign in, or paste the demo org's key, ORG_KEY below"}); API reference: ${base}/docs
  state: ${stateDir ?? ".wrangler/state"}; server admin token from ${varsFile}; demo org ${d.org_id} from ${demoFile}

Paste into a shell (B is the API base; ORG_KEY and PROJECT_ID are the demo org's admin key and project):

${exportLine}

Then follow README.md, "A device's first minute", or try:
  curl -H "Authorization: Bearer $ORG_KEY" "$B/projects"
${interactive ? "\nEnter prints the line to paste again; Ctrl-C stops everything.\n" : ""}`);
printedSince = false;

/** The line to paste again, unless nothing was printed since it last was. */
function exportAgain(always) {
  if (!always && !printedSince) return;
  say(`\nThe line to paste (README.md, "A device's first minute"):\n${exportLine}\n`);
  printedSince = false;
}
setInterval(() => exportAgain(false), 3 * 60_000);
if (interactive) {
  // Raw mode: Ctrl-C comes here as a key instead of a SIGINT to every process of the terminal,
  // which would stop the server while the demo fleet still delivers what it holds.
  process.stdin.setRawMode(true);
  process.stdin.on("data", (keys) => {
    for (const key of keys.toString("latin1")) {
      if (key === "\x03") void stop("SIGINT");
      else if (key === "\r" || key === "\n") exportAgain(true);
    }
  });
}

if (withDemoFleet) {
  // Flushing every 5 s: lines reach the dashboard within seconds, two requests a second. Commands must
  // be answered within seconds: over the device socket (Node 22, the project's node under `npm
  // start`) the server pushes them the moment they are queued; while a socket is not open (it
  // reconnects after the server reloads; a Node without a WebSocket client has none) each device
  // asks for them every 2 s instead of waiting for its next heartbeat.
  const transport = typeof globalThis.WebSocket === "function" ? "socket" : "https";
  const args = [
    "--devices",
    "10",
    "--rate",
    "1",
    "--flush",
    "5",
    "--transport",
    transport,
    "--command-poll",
    "2",
    // A burst of errors somewhere in the fleet every few seconds (each device's own every
    // minute or so), so that an alert rule on errors has something to fire on soon.
    "--burst-every",
    "60",
    "--project",
    d.project_id,
    "--state",
    fleetFile,
    "--quiet",
  ];
  fleet = spawn(
    process.execPath,
    [
      "--experimental-transform-types",
      "--no-warnings",
      path.join(import.meta.dirname, "../agent/cli.ts"),
      "simulate",
      ...args,
    ],
    {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, FLEETBEAT_API_KEY: d.api_key, FLEETBEAT_URL: base },
    },
  );
  relay(fleet.stdout, process.stdout);
  relay(fleet.stderr, process.stderr);
  fleet.on("exit", (code, signal) => {
    if (code !== 0 && signal === null) say(`the demo fleet stopped (exit code ${code}); the server goes on`);
  });
  console.log(`A demo fleet of 10 simulated devices is sending to the demo project (devices kept in ${fleetFile});
they answer ping, reboot, set_log_level, upload_logs and identify within seconds (agent/README.md).
Ctrl-C stops it, then the server; DEMO=0 npm start starts the server without it.
`);
}
