// Where the agent program keeps the device: its id and key (device.json, mode 0600), the
// session a "session start" opened (session.json), the log level a command set (log-level),
// the log spool, and the operator's own settings (config.json), all in one folder.
import * as fs from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { z } from "zod";
import { LEVELS, type Level, parseLevel } from "../../src/contract/levels.ts";
import { FleetbeatAgent, type Registration } from "../agent.ts";
import { SEND_DEFAULTS } from "../send-policy.ts";
import type { DeviceSocket } from "../socket.ts";
import { FileSpool } from "../spool.ts";

/** config.json, written by the operator; every field may be left out. */
const AgentConfig = z
  .object({
    /** Folders the `upload` command may read files from (and their subfolders). */
    upload_dirs: z.array(z.string().min(1)).default([]),
    /** Commands beyond the built-in ones: a name an admin queues, and the program it runs. */
    commands: z
      .record(
        z.string(),
        z
          .object({
            run: z.array(z.string()).min(1),
            timeout_s: z
              .number()
              .positive()
              .max(24 * 3600)
              .default(60),
          })
          .strict(),
      )
      .default({}),
    /** Files `daemon` follows and ships, as `tail` does. */
    tail: z.array(z.string().min(1)).default([]),
    /** The spool's bound on disk; past it the oldest lines go, and their count is reported. */
    spool_max_mb: z.number().positive().default(100),
    /** Lines per batch. */
    batch_lines: z.number().int().min(1).max(5000).default(1000),
    /** The longest a line waits to be sent when nothing calls for sooner (the send policy, agent/README.md). */
    flush_ms: z.number().int().min(100).default(SEND_DEFAULTS.intervalMs),
    /** "socket": the device WebSocket where the runtime has one, HTTPS while it is not open; "https": HTTPS only. */
    transport: z.enum(["socket", "https"]).default("socket"),
    /**
     * Without the device socket (Node 20, transport "https", or while it is closed), how often to ask for
     * commands between heartbeats.
     */
    command_poll_s: z.number().min(1).default(10),
  })
  .strict();
export type AgentConfig = z.output<typeof AgentConfig>;
export type Transport = AgentConfig["transport"];

/**
 * `--transport socket|https` taken out of `args` (only before a `--`, whose rest belongs to a
 * program), and the arguments left.
 */
export function transportFlag(args: string[]): { transport?: Transport; rest: string[] } {
  const end = args.includes("--") ? args.indexOf("--") : args.length;
  const at = args.indexOf("--transport");
  if (at === -1 || at >= end) return { rest: args };
  const value = args[at + 1];
  if (value !== "socket" && value !== "https") fail(`--transport is socket or https, not "${value ?? ""}"`);
  return { transport: value, rest: [...args.slice(0, at), ...args.slice(at + 2)] };
}

export interface Saved extends Registration {
  backend_url: string;
}

export const configDir = () => process.env.FLEETBEAT_CONFIG_DIR ?? path.join(homedir(), ".config", "fleetbeat");
export const savedFile = () => path.join(configDir(), "device.json");

export function fail(message: string): never {
  console.error(`fleetbeat agent: ${message}`);
  process.exit(2);
  throw new Error(message); // not reached: process.exit does not return
}

export function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

export const sessionFile = () => path.join(configDir(), "session.json");
/** The session opened by "session start" and not yet ended, if any. */
export const currentSession = (): string | undefined =>
  fs.existsSync(sessionFile())
    ? (JSON.parse(fs.readFileSync(sessionFile(), "utf8")) as { session_id: string }).session_id
    : undefined;

export function saved(): Saved {
  if (!fs.existsSync(savedFile()))
    fail(`no device registered in ${configDir()}: run "register --capsule <file>" first`);
  return JSON.parse(fs.readFileSync(savedFile(), "utf8")) as Saved;
}

export function agentConfig(): AgentConfig {
  const file = path.join(configDir(), "config.json");
  const raw = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "{}";
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    fail(`${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = AgentConfig.safeParse(json);
  if (!parsed.success)
    fail(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

const levelFile = () => path.join(configDir(), "log-level");
/** The lowest level shipped, as the last `log-level` command set it (DEBUG: everything). */
function savedLevel(): Level {
  return (fs.existsSync(levelFile()) && parseLevel(fs.readFileSync(levelFile(), "utf8").trim())) || LEVELS[0];
}
export function saveLevel(level: Level): void {
  fs.writeFileSync(levelFile(), `${level}\n`);
}

export function agentOf(device: Saved, config: AgentConfig = agentConfig(), socket?: DeviceSocket): FleetbeatAgent {
  const agent = new FleetbeatAgent({
    backendUrl: device.backend_url,
    deviceKey: device.device_key,
    logUpload: device.log_upload,
    batchLines: config.batch_lines,
    send: { intervalMs: config.flush_ms },
    spool: new FileSpool(fs, path.join(configDir(), "spool"), { maxBytes: config.spool_max_mb * 1024 * 1024 }),
    sessionId: currentSession(),
    ...(socket ? { socket } : {}),
  });
  agent.minLevel = savedLevel();
  return agent;
}
