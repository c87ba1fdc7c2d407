// The device agent as a program: `npm run agent -- <command>` in this repository.
//
//   register --capsule capsule.json [--name N]   registers the device, keeps its id and key
//   run [--] <command...>                         runs a program and ships what it prints
//   session start --name N | session end --status S
//   upload <file> [--path P]                      a file of the current session
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
  --help
      This text.

The config folder is $FLEETBEAT_CONFIG_DIR, or ~/.config/fleetbeat.
`;

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
  const read = (stream: NodeJS.ReadableStream, level: "INFO" | "ERROR", echo: NodeJS.WritableStream) =>
    new Promise<void>((done) => {
      const lines = createInterface({ input: stream });
      lines.on("line", (text) => {
        echo.write(`${text}\n`);
        if (!text.trim()) return;
        const l = toLine(text, level, program);
        agent.log(l.level, l.module, l.message, l.extra);
      });
      lines.on("close", done);
    });
  const printed = Promise.all([read(child.stdout!, "INFO", process.stdout), read(child.stderr!, "ERROR", process.stderr)]);
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

const [command, ...rest] = process.argv.slice(2);
if (command === undefined || command === "--help" || command === "-h" || command === "help") console.log(HELP);
else if (command === "register") await registerCommand(rest);
else if (command === "run") await runCommand(rest);
else if (command === "session") await sessionCommand(rest);
else if (command === "upload") await uploadCommand(rest);
else fail(`unknown command "${command}" (see --help)`);
