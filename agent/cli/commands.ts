// Commands an admin queued for this device, run and acknowledged with a result. Built in:
// `ping`, `upload` (a file from a folder config.json allows, never the agent's own folder) and
// `log-level`. Any other name runs only if config.json maps it to a program, with a timeout;
// everything else is rejected. Each command runs once per process, however it arrived (the
// socket pushes, a poll lists, and both may name the same one).
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { AckStatus } from "../../src/contract/commands.ts";
import { parseLevel } from "../../src/contract/levels.ts";
import type { FleetbeatAgent } from "../agent.ts";
import type { PushedCommand as Command } from "../socket.ts";
import { type AgentConfig, configDir, currentSession, type Saved, saveLevel } from "./config.ts";
import { uploadFile } from "./upload.ts";

interface Outcome {
  status: AckStatus;
  result: Record<string, unknown>;
}

/**
 * What a mapped program printed, kept in the ack up to this many characters per stream (the ack's result is
 * at most 16 KiB).
 */
const OUTPUT_KEPT = 4000;
/** How long a timed-out program has after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 5000;
const started = Date.now();

const paramsOf = (c: Command): Record<string, unknown> =>
  c.params && typeof c.params === "object" && !Array.isArray(c.params) ? (c.params as Record<string, unknown>) : {};

/** True when `file` is `dir` or inside it, both as real paths (no `..` or link leads out). */
const inside = (file: string, dir: string) =>
  file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

export class CommandRunner {
  private readonly seen = new Set<string>();

  constructor(
    private readonly device: Saved,
    private readonly agent: FleetbeatAgent,
    private readonly config: AgentConfig,
  ) {}

  /** Runs a command once and acknowledges it; a second delivery of the same id is ignored. */
  async handle(command: Command): Promise<void> {
    if (this.seen.has(command.id)) return;
    this.seen.add(command.id);
    const outcome = await this.run(command).catch(
      (err: Error): Outcome => ({ status: "failed", result: { error: err.message } }),
    );
    this.agent.log(
      outcome.status === "succeeded" ? "INFO" : "WARN",
      "fleetbeat-agent",
      `command ${command.command} ${outcome.status}`,
      {
        context: { command_id: command.id },
      },
    );
    await this.agent.ack(this.device.device_id, command.id, outcome.status, outcome.result);
  }

  private run(command: Command): Promise<Outcome> {
    const params = paramsOf(command);
    switch (command.command) {
      case "ping":
        return Promise.resolve({
          status: "succeeded",
          result: { pong: true, agent_uptime_s: Math.round((Date.now() - started) / 1000) },
        });
      case "log-level":
        return Promise.resolve(this.logLevel(params));
      case "upload":
        return this.upload(command, params);
      default: {
        const mapped = this.config.commands[command.command];
        if (!mapped)
          return Promise.resolve({
            status: "rejected",
            result: {
              error: `unknown command "${command.command}": not built in, and config.json maps no program to it`,
            },
          });
        return this.program(command, mapped);
      }
    }
  }

  private logLevel(params: Record<string, unknown>): Outcome {
    const level = parseLevel(params.level);
    if (!level)
      return { status: "rejected", result: { error: "params.level is one of DEBUG, INFO, WARN, ERROR, FATAL" } };
    this.agent.minLevel = level;
    saveLevel(level);
    return { status: "succeeded", result: { level } };
  }

  private async upload(command: Command, params: Record<string, unknown>): Promise<Outcome> {
    if (typeof params.path !== "string")
      return { status: "rejected", result: { error: "params.path names the file to upload" } };
    let file: string;
    try {
      file = fs.realpathSync(params.path);
    } catch {
      return { status: "failed", result: { error: `${params.path} does not exist` } };
    }
    const real = (d: string) => {
      try {
        return fs.realpathSync(d);
      } catch {
        return null;
      }
    };
    const allowed = this.config.upload_dirs.map(real).filter((d): d is string => d !== null);
    const own = real(configDir());
    if (own && inside(file, own))
      return { status: "rejected", result: { error: "the agent's own folder (its key, its spool) is never uploaded" } };
    if (!allowed.some((d) => inside(file, d)))
      return {
        status: "rejected",
        result: { error: `${params.path} is outside the folders config.json allows (upload_dirs)` },
      };
    if (!fs.statSync(file).isFile()) return { status: "rejected", result: { error: `${params.path} is not a file` } };
    // Into the session that is open, else one of its own, so an upload always has a home.
    let sessionId = currentSession();
    const ownSession = !sessionId;
    if (!sessionId) {
      sessionId = `upload-${command.id}`;
      await this.agent.startSession(sessionId, `upload ${path.basename(file)}`);
    }
    try {
      const target = typeof params.as === "string" ? params.as : path.basename(file);
      const up = await uploadFile(this.device, sessionId, file, target, "application/octet-stream");
      return { status: "succeeded", result: { session_id: sessionId, path: up.path, size: up.size } };
    } finally {
      if (ownSession) await this.agent.endSession("completed").catch(() => undefined);
    }
  }

  /** A mapped program, with the command's params as JSON in FLEETBEAT_COMMAND_PARAMS. */
  private program(command: Command, mapped: AgentConfig["commands"][string]): Promise<Outcome> {
    return new Promise((resolve) => {
      const [program, ...args] = mapped.run;
      const child = spawn(program!, args, {
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          FLEETBEAT_COMMAND_ID: command.id,
          FLEETBEAT_COMMAND_PARAMS: JSON.stringify(command.params ?? null),
        },
      });
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d) => (stdout = (stdout + d).slice(-OUTPUT_KEPT)));
      child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-OUTPUT_KEPT)));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS).unref();
      }, mapped.timeout_s * 1000);
      child.on("error", (err) => {
        clearTimeout(timer);
        resolve({ status: "failed", result: { error: `could not run ${program}: ${err.message}` } });
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        const result = {
          exit_code: code,
          ...(signal ? { signal } : {}),
          ...(timedOut ? { timed_out: true, timeout_s: mapped.timeout_s } : {}),
          stdout,
          stderr,
        };
        resolve({ status: code === 0 && !timedOut ? "succeeded" : "failed", result });
      });
    });
  }
}
