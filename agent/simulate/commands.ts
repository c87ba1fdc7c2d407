// The commands a simulated device answers, as a real device might, cheaply: each acts on the
// virtual device (its lines, its send, a short silence) and is acknowledged with a result that
// says it was simulated. The names are those the dashboard suggests; `log-level` is the real
// agent's name for set_log_level (agent/cli/commands.ts) and `locate` another for identify.
// Any other command is rejected, with the list of those it runs.
import type { AckStatus } from "../../src/contract/commands.ts";
import { LEVELS, type Level, parseLevel } from "../../src/contract/levels.ts";

export interface Outcome {
  status: AckStatus;
  result: Record<string, unknown>;
}

/** What a command may do to a simulated device (agent/simulate/device.ts). */
export interface Simulated {
  /** Lines below `level` stay on the device from now on; answers the level before. */
  setLogLevel(level: Level): Level;
  /** Sends what is spooled now, backoff or not: the lines that went, and whether some could not. */
  uploadLogs(): Promise<{ sent: number; pending: boolean; reason?: string }>;
  /** Goes quiet (no lines, no heartbeats) for `ms`, then comes back; resolves when it is back. */
  reboot(ms: number): Promise<void>;
  /** A line of the device's own (module "system"). */
  log(level: Level, message: string): void;
}

/** How long a simulated reboot keeps the device quiet. */
const REBOOT_MS = 2000;
/** How long identify blinks by default, and at most (params.seconds). */
const IDENTIFY_S = { default: 10, max: 300 };

/** The names a simulated device runs, as its rejections list them. */
const SIMULATED_COMMANDS = [
  "ping",
  "reboot",
  "set_log_level",
  "upload_logs",
  "identify",
  "locate",
  "log-level",
] as const;

const paramsOf = (params: unknown): Record<string, unknown> =>
  params && typeof params === "object" && !Array.isArray(params) ? (params as Record<string, unknown>) : {};

/** Runs one command on the device; never throws (a failure is the `failed` outcome). */
export async function runSimulated(command: string, rawParams: unknown, device: Simulated): Promise<Outcome> {
  const params = paramsOf(rawParams);
  try {
    switch (command) {
      case "ping":
        return { status: "succeeded", result: { pong: true, simulated: true } };
      case "reboot": {
        device.log("WARN", `reboot requested: going down for ${REBOOT_MS / 1000} s`);
        await device.reboot(REBOOT_MS);
        device.log("INFO", "simulated reboot: back up");
        return { status: "succeeded", result: { rebooted: true, down_ms: REBOOT_MS, simulated: true } };
      }
      case "set_log_level":
      case "log-level": {
        const level = parseLevel(params.level);
        if (!level)
          return {
            status: "rejected",
            result: { error: `${command} needs params.level, one of ${LEVELS.join(", ")}` },
          };
        const previous = device.setLogLevel(level);
        device.log("INFO", `log level set to ${level} (was ${previous})`);
        return { status: "succeeded", result: { level, previous, simulated: true } };
      }
      case "upload_logs": {
        const sent = await device.uploadLogs();
        if (sent.pending)
          return {
            status: "failed",
            result: {
              error: `some lines could not be sent now: ${sent.reason ?? "the server did not take them"}`,
              sent: sent.sent,
              simulated: true,
            },
          };
        return { status: "succeeded", result: { uploaded_lines: sent.sent, simulated: true } };
      }
      case "identify":
      case "locate": {
        const asked = params.seconds;
        if (asked !== undefined && !(typeof asked === "number" && asked > 0 && asked <= IDENTIFY_S.max)) {
          return {
            status: "rejected",
            result: { error: `params.seconds is a number above 0 and at most ${IDENTIFY_S.max}` },
          };
        }
        const seconds = asked ?? IDENTIFY_S.default;
        device.log("INFO", `${command}: blinking the status light for ${seconds} s`);
        return { status: "succeeded", result: { blinking: true, seconds, simulated: true } };
      }
      default:
        return {
          status: "rejected",
          result: {
            error: `a simulated device runs ${SIMULATED_COMMANDS.map((c) => `"${c}"`).join(", ")}, not "${command}"`,
          },
        };
    }
  } catch (err) {
    return { status: "failed", result: { error: err instanceof Error ? err.message : String(err), simulated: true } };
  }
}
