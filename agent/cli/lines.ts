// What a program prints, as log lines.
import * as path from "node:path";
import { createInterface } from "node:readline";
import { LEVELS, type Level } from "../../src/contract/levels.ts";
import type { FleetbeatAgent } from "../agent.ts";
import { followFile } from "./follow.ts";

/** Level names programs print that the contract spells otherwise. */
const LEVEL_ALIASES: Record<string, Level> = { TRACE: "DEBUG", WARNING: "WARN", CRITICAL: "FATAL", ERR: "ERROR" };

/** One printed line as a log line: JSON lines keep their own fields; plain ones get the stream's level. */
function toLine(
  text: string,
  fallbackLevel: "INFO" | "ERROR",
  program: string,
): {
  level: Level;
  module: string;
  message: string;
  extra: { logger?: string; context?: Record<string, string | number | boolean> };
} {
  if (text.startsWith("{")) {
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      if (typeof j.message === "string" || typeof j.msg === "string") {
        const named = typeof j.level === "string" ? j.level.toUpperCase() : "";
        const level: Level = (LEVELS as readonly string[]).includes(named)
          ? (named as Level)
          : (LEVEL_ALIASES[named] ?? fallbackLevel);
        return {
          level,
          module: typeof j.module === "string" ? j.module : program,
          message: String(j.message ?? j.msg),
          extra: {
            ...(typeof j.logger === "string" ? { logger: j.logger } : {}),
            ...(j.context && typeof j.context === "object"
              ? { context: j.context as Record<string, string | number | boolean> }
              : {}),
          },
        };
      }
    } catch {
      // not JSON after all: a plain line
    }
  }
  return { level: fallbackLevel, module: program, message: text, extra: {} };
}

/** Ships the lines of `input` as they come (plain ones at `level`, and echoed to `echo`); answers when it ends. */
export function shipLines(
  agent: FleetbeatAgent,
  input: NodeJS.ReadableStream,
  module: string,
  opts: { level?: "INFO" | "ERROR"; echo?: NodeJS.WritableStream } = {},
): Promise<void> {
  return new Promise((done) => {
    const lines = createInterface({ input });
    lines.on("line", (text) => {
      opts.echo?.write(`${text}\n`);
      logLine(agent, text, opts.level ?? "INFO", module);
    });
    lines.on("close", done);
  });
}

/** Spools one printed line (blank ones are skipped): JSON with its own fields, else at `level`. */
function logLine(agent: FleetbeatAgent, text: string, level: "INFO" | "ERROR", module: string): void {
  if (!text.trim()) return;
  const l = toLine(text, level, module);
  agent.log(l.level, l.module, l.message, l.extra);
}

/** Follows a file across rotation and truncation (follow.ts), shipping each new line under the file's name. */
export function shipFile(agent: FleetbeatAgent, file: string): void {
  const module = path.basename(file);
  followFile(file, (text) => logLine(agent, text, "INFO", module));
}
