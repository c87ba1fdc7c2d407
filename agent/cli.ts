// The device agent as a program: `npm run agent -- <command>` in this repository.
//
//   register --capsule capsule.json [--name N]   registers the device, keeps its id and key
//   run [--] <command...>                         runs a program and ships what it prints
//   session start --name N | session end --status S
//   upload <file> [--path P]                      a file of the current session
//   tail <file>|-                                 follows a file (or stdin) and ships its lines
//   logs [--follow] [filters]                     reads a fleet's logs (people, with an org key)
//
// The device's id and key are kept in $FLEETBEAT_CONFIG_DIR (default ~/.config/fleetbeat),
// in device.json, readable only by its owner; the log spool lives beside it, so nothing a
// program printed is lost to a crash or an outage.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { homedir, hostname } from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { LEVELS, type Level } from "../src/contract/levels.ts";
import { FleetbeatAgent, type Registration, register } from "./agent.ts";
import { FileSpool } from "./spool.ts";

const HELP = `fleetbeat agent: runs beside a device's own software.

Usage: npm run agent -- <command> [options]

Commands:
  register --capsule <file> [--name <name>]
      Registers this device with a capsule (the answer of POST /api/v1/capsules/generate,
      saved as a file) and keeps its id and key in the config folder. Without a DSN in the
      capsule, the machine's hostname is the DSN.
  run [--] <program> [args...]
      Runs the program and ships its output: stdout lines as INFO, stderr lines as ERROR,
      JSON lines with their own level, module, logger, message and context. Heartbeats
      while it runs. Exits with the program's exit code.
  session start --name <name> [--id <id>]
      Opens a session (one run); lines of later commands belong to it, until it ends.
  session end [--status completed|failed|aborted]
      Ends the current session (completed by default).
  upload <file> [--path <path>] [--type <content type>]
      Uploads a file to the current session, under its name or the given path.
  tail <file> | tail -
      Follows a file, across rotation and truncation, and ships each new line (JSON lines
      with their own fields, others as INFO); "-" reads standard input to its end.
  logs [--follow] [--project <id>] [--device <id>] [--session <id>] [--level L[,L]] [-q <text>] [--limit N] [--json]
      For people: the newest lines of a project, device or session, oldest first, coloured by
      level on a terminal or as NDJSON with --json; --follow then tails new ones live. Needs an
      org key in FLEETBEAT_API_KEY, and the server in FLEETBEAT_URL (else the registered one).
  --help
      This text.

The config folder is $FLEETBEAT_CONFIG_DIR, or ~/.config/fleetbeat.
`;

/** How often `tail` looks at its file. */
const TAIL_POLL_MS = 500;

interface Saved extends Registration {
  backend_url: string;
}

const configDir = () => process.env.FLEETBEAT_CONFIG_DIR ?? path.join(homedir(), ".config", "fleetbeat");
const savedFile = () => path.join(configDir(), "device.json");

function fail(message: string): never {
  console.error(`fleetbeat agent: ${message}`);
  process.exit(2);
  throw new Error(message); // not reached: process.exit does not return
}

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

const sessionFile = () => path.join(configDir(), "session.json");
/** The session opened by "session start" and not yet ended, if any. */
const currentSession = (): string | undefined =>
  fs.existsSync(sessionFile()) ? (JSON.parse(fs.readFileSync(sessionFile(), "utf8")) as { session_id: string }).session_id : undefined;

function saved(): Saved {
  if (!fs.existsSync(savedFile())) fail(`no device registered in ${configDir()}: run "register --capsule <file>" first`);
  return JSON.parse(fs.readFileSync(savedFile(), "utf8")) as Saved;
}

async function registerCommand(args: string[]) {
  const file = option(args, "--capsule") ?? fail("register needs --capsule <file>");
  const parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  // The saved answer of capsules/generate, or the capsule in it.
  const capsule = parsed.capsule ?? parsed;
  const backendUrl: string = capsule.fleet?.backend_url ?? fail(`${file} holds no capsule (fleet.backend_url is missing)`);
  const reg = await register(backendUrl, {
    dsn: capsule.device?.dsn ?? hostname(),
    registration_token: capsule.fleet.registration_token,
    ...(option(args, "--name") ? { name: option(args, "--name") } : {}),
  });
  fs.mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  fs.writeFileSync(savedFile(), JSON.stringify({ ...reg, backend_url: backendUrl }, null, 2), { mode: 0o600 });
  fs.chmodSync(savedFile(), 0o600);
  console.log(`registered device ${reg.device_id} in project ${reg.project_id}; its key is in ${savedFile()}`);
}

/** Level names programs print that the contract spells otherwise. */
const LEVEL_ALIASES: Record<string, Level> = { TRACE: "DEBUG", WARNING: "WARN", CRITICAL: "FATAL", ERR: "ERROR" };

/** One printed line as a log line: JSON lines keep their own fields; plain ones get the stream's level. */
function toLine(text: string, fallbackLevel: "INFO" | "ERROR", program: string): { level: Level; module: string; message: string; extra: { logger?: string; context?: Record<string, string | number | boolean> } } {
  if (text.startsWith("{")) {
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      if (typeof j.message === "string" || typeof j.msg === "string") {
        const named = typeof j.level === "string" ? j.level.toUpperCase() : "";
        const level: Level = (LEVELS as readonly string[]).includes(named) ? (named as Level) : (LEVEL_ALIASES[named] ?? fallbackLevel);
        return {
          level,
          module: typeof j.module === "string" ? j.module : program,
          message: String(j.message ?? j.msg),
          extra: {
            ...(typeof j.logger === "string" ? { logger: j.logger } : {}),
            ...(j.context && typeof j.context === "object" ? { context: j.context as Record<string, string | number | boolean> } : {}),
          },
        };
      }
    } catch {
      // not JSON after all: a plain line
    }
  }
  return { level: fallbackLevel, module: program, message: text, extra: {} };
}

async function runCommand(args: string[]) {
  const argv = args[0] === "--" ? args.slice(1) : args;
  if (argv.length === 0) fail("run needs a program to run");
  const device = saved();
  const agent = agentOf(device);
  agent.start({ flushMs: 1000, heartbeatMs: device.heartbeat_interval_ms });
  const program = path.basename(argv[0]!);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["inherit", "pipe", "pipe"] });
  const printed = Promise.all([
    shipLines(agent, child.stdout!, program, { level: "INFO", echo: process.stdout }),
    shipLines(agent, child.stderr!, program, { level: "ERROR", echo: process.stderr }),
  ]);
  const code = await new Promise<number>((resolve) => {
    child.on("error", (err) => {
      agent.log("ERROR", "fleetbeat-agent", `could not run ${argv[0]}: ${err.message}`);
      resolve(127);
    });
    child.on("close", (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  await printed;
  agent.stop();
  // What is still spooled goes now; if the server cannot be reached it stays on disk for the next run.
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await agent.flush();
    if (!r.pending) break;
    await new Promise((w) => setTimeout(w, 1000 * 2 ** attempt));
  }
  process.exit(code);
}

function agentOf(device: Saved): FleetbeatAgent {
  return new FleetbeatAgent({
    backendUrl: device.backend_url,
    deviceKey: device.device_key,
    logUpload: device.log_upload,
    spool: new FileSpool(fs, path.join(configDir(), "spool")),
    sessionId: currentSession(),
  });
}

async function sessionCommand(args: string[]) {
  const device = saved();
  const agent = agentOf(device);
  if (args[0] === "start") {
    const name = option(args, "--name") ?? fail("session start needs --name <name>");
    const id = option(args, "--id") ?? `${name.replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 80)}-${Date.now().toString(36)}`;
    await agent.startSession(id, name);
    fs.writeFileSync(sessionFile(), JSON.stringify({ session_id: id, name }), { mode: 0o600 });
    console.log(`session ${id} started`);
  } else if (args[0] === "end") {
    const status = (option(args, "--status") ?? "completed") as "completed" | "failed" | "aborted";
    if (!["completed", "failed", "aborted"].includes(status)) fail("--status is completed, failed or aborted");
    const id = currentSession() ?? fail("no session is open");
    await agent.endSession(status);
    fs.rmSync(sessionFile());
    console.log(`session ${id} ended: ${status}`);
  } else fail("session start --name <name> | session end [--status <status>]");
}

async function uploadCommand(args: string[]) {
  const file = args[0] ?? fail("upload needs a file");
  const device = saved();
  const sessionId = currentSession() ?? fail('no session is open: "session start --name <name>" first');
  const target = (option(args, "--path") ?? path.basename(file)).split("/").map(encodeURIComponent).join("/");
  const size = fs.statSync(file).size;
  const res = await fetch(`${device.backend_url}/api/v1/sessions/${encodeURIComponent(sessionId)}/artifacts/${target}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${device.device_key}`, "content-type": option(args, "--type") ?? "application/octet-stream", "content-length": String(size) },
    // Streamed from disk, never read whole.
    body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream<Uint8Array>,
    duplex: "half",
  } as RequestInit);
  const answer = (await res.json()) as { path?: string; size?: number; error?: { message: string } };
  if (res.status !== 201) fail(`upload failed (${res.status}): ${answer.error?.message ?? "unknown error"}`);
  console.log(`uploaded ${answer.path} (${answer.size} bytes) to session ${sessionId}`);
}

/** Ships the lines of `input` as they come (plain ones at `level`, and echoed to `echo`); answers when it ends. */
function shipLines(
  agent: FleetbeatAgent,
  input: NodeJS.ReadableStream,
  module: string,
  opts: { level?: "INFO" | "ERROR"; echo?: NodeJS.WritableStream } = {},
): Promise<void> {
  return new Promise((done) => {
    const lines = createInterface({ input });
    lines.on("line", (text) => {
      opts.echo?.write(`${text}\n`);
      if (!text.trim()) return;
      const l = toLine(text, opts.level ?? "INFO", module);
      agent.log(l.level, l.module, l.message, l.extra);
    });
    lines.on("close", done);
  });
}

async function tailCommand(args: string[]) {
  const file = args[0] ?? fail("tail needs a file, or - for standard input");
  const device = saved();
  const agent = agentOf(device);
  agent.start({ flushMs: 1000, heartbeatMs: device.heartbeat_interval_ms });
  const finish = async (code: number) => {
    agent.stop();
    await agent.flush().catch(() => undefined);
    process.exit(code);
  };
  process.on("SIGINT", () => void finish(0));
  process.on("SIGTERM", () => void finish(0));
  if (file === "-") {
    await shipLines(agent, process.stdin, "stdin");
    return finish(0);
  }
  const module = path.basename(file);
  // From the end of the file as it is now, like tail -F; then, every POLL_MS, what was added.
  let inode = fs.existsSync(file) ? fs.statSync(file).ino : -1;
  let offset = fs.existsSync(file) ? fs.statSync(file).size : 0;
  let partial = "";
  const readFrom = (name: string, from: number, to: number) => {
    if (to <= from) return;
    const fd = fs.openSync(name, "r");
    try {
      const buf = Buffer.alloc(to - from);
      fs.readSync(fd, buf, 0, buf.length, from);
      const text = partial + buf.toString("utf8");
      const parts = text.split("\n");
      partial = parts.pop()!;
      for (const t of parts) {
        if (!t.trim()) continue;
        const l = toLine(t, "INFO", module);
        agent.log(l.level, l.module, l.message, l.extra);
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  for (;;) {
    await new Promise((w) => setTimeout(w, TAIL_POLL_MS));
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      continue; // rotated away and not there yet
    }
    if (stat.ino !== inode) {
      // Rotated: a new file under the name. It is read from its start.
      inode = stat.ino;
      offset = 0;
      partial = "";
    } else if (stat.size < offset) {
      // Truncated in place (copytruncate): read again from the start. As with tail -F, a file
      // truncated and then written past its old size within one poll is not noticed.
      offset = 0;
      partial = "";
    }
    readFrom(file, offset, stat.size);
    offset = stat.size;
  }
}

/** ANSI colours by level, for a terminal. */
const COLOUR: Record<string, string> = { DEBUG: "\x1b[2m", INFO: "", WARN: "\x1b[33m", ERROR: "\x1b[31m", FATAL: "\x1b[1;31m" };

async function logsCommand(args: string[]) {
  const key = process.env.FLEETBEAT_API_KEY ?? fail("logs needs an org key in FLEETBEAT_API_KEY");
  const device = fs.existsSync(savedFile()) ? saved() : undefined;
  const origin = process.env.FLEETBEAT_URL ?? device?.backend_url ?? fail("logs needs the server's URL in FLEETBEAT_URL");
  const filters: Record<string, string> = {};
  const projectId = option(args, "--project") ?? (option(args, "--device") || option(args, "--session") ? undefined : device?.project_id);
  if (projectId) filters.project_id = projectId;
  for (const [flag, name] of [["--device", "device_id"], ["--session", "session_id"], ["--level", "level"], ["-q", "q"]] as const) {
    const v = option(args, flag);
    if (v) filters[name] = v;
  }
  const json = args.includes("--json");
  const colour = !json && process.stdout.isTTY;
  const print = (l: { timestamp: string; level: string; module: string; device_id: string; message: string }) => {
    if (json) console.log(JSON.stringify(l));
    else console.log(`${colour ? (COLOUR[l.level] ?? "") : ""}${l.timestamp} ${l.level.padEnd(5)} ${l.device_id} ${l.module}: ${l.message}${colour ? "\x1b[0m" : ""}`);
  };
  const headers = { authorization: `Bearer ${key}` };
  const query = new URLSearchParams({ ...filters, limit: option(args, "--limit") ?? "100" });
  const res = await fetch(`${origin}/api/v1/logs?${query}`, { headers });
  const page = (await res.json()) as { logs?: Parameters<typeof print>[0][]; error?: { message: string } };
  if (!res.ok) fail(`the server answered ${res.status}: ${page.error?.message ?? "unknown error"}`);
  for (const l of [...page.logs!].reverse()) print(l);
  if (!args.includes("--follow")) return;
  const project = filters.project_id ?? fail("--follow needs --project (a live tail is per project)");
  for (;;) {
    const t = await fetch(`${origin}/api/v1/logs/stream/ticket`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ project_id: project }) });
    const { ticket } = (await t.json()) as { ticket: string };
    const url = new URL(`${origin}/api/v1/logs/stream`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = new URLSearchParams({ ticket, ...Object.fromEntries(Object.entries(filters).filter(([k]) => k !== "project_id" && k !== "q")) }).toString();
    await new Promise<void>((closed) => {
      const ws = new WebSocket(url.toString());
      ws.addEventListener("message", (event) => {
        const frame = JSON.parse(String(event.data)) as { type: string; seq?: number; logs?: Parameters<typeof print>[0][]; count?: number };
        if (frame.seq !== undefined) ws.send(JSON.stringify({ type: "ack", seq: frame.seq }));
        if (frame.type === "logs") for (const l of frame.logs ?? []) if (!filters.q || l.message.toLowerCase().includes(filters.q.toLowerCase())) print(l);
        if (frame.type === "dropped") console.error(`(${frame.count} lines dropped: the terminal fell behind)`);
      });
      ws.addEventListener("close", () => closed());
    });
    console.error("(the stream closed; reconnecting)");
    await new Promise((w) => setTimeout(w, 2000));
  }
}

const [command, ...rest] = process.argv.slice(2);
if (command === undefined || command === "--help" || command === "-h" || command === "help") console.log(HELP);
else if (command === "register") await registerCommand(rest);
else if (command === "run") await runCommand(rest);
else if (command === "session") await sessionCommand(rest);
else if (command === "upload") await uploadCommand(rest);
else if (command === "tail") await tailCommand(rest);
else if (command === "logs") await logsCommand(rest);
else fail(`unknown command "${command}" (see --help)`);
