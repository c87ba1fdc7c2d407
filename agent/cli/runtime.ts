// What every long-running agent command does while it runs (`daemon`, `run`, `tail`): ships
// the spool as the send policy says (agent/send-policy.ts: at most flush_ms after a line was
// logged, every second while someone watches or a command runs, errors at once), heartbeats at
// the interval the server gave with the machine's own metrics, and runs the commands an admin
// queues. Commands and batches go over the device socket when the runtime has one (Node 22+)
// and it is open, else by HTTPS, with commands polled; `--transport https` keeps to HTTPS.
import type { FleetbeatAgent, FlushResult } from "../agent.ts";
import { MachineReader } from "../metrics.ts";
import { DeviceSocket } from "../socket.ts";
import { CommandRunner } from "./commands.ts";
import { type AgentConfig, agentConfig, agentOf, configDir, type Saved, type Transport } from "./config.ts";

export interface Runtime {
  agent: FleetbeatAgent;
  /** config.json as read at start. */
  config: AgentConfig;
  /** Stops the timers and the socket, then tries for a while to send what is spooled; what cannot go stays on disk. */
  stop(): Promise<void>;
  /** Stops (as stop() does) and exits on SIGINT or SIGTERM; also what a command calls when its input ends. */
  exitOnSignals(): () => Promise<never>;
}

/** How long stop() keeps trying to send the spool before it leaves the rest for the next start. */
const FINAL_FLUSH_MS = 30_000;

const say = (message: string) => console.error(`fleetbeat agent: ${message}`);

/**
 * The socket unless the command line, FLEETBEAT_SOCKET=off or config.json says HTTPS (or the runtime has no
 * WebSocket).
 */
function wantsSocket(config: AgentConfig, flag: Transport | undefined): boolean {
  const chosen = flag ?? (process.env.FLEETBEAT_SOCKET === "off" ? "https" : config.transport);
  return chosen === "socket" && DeviceSocket.available();
}

export function startRuntime(device: Saved, opts: { transport?: Transport } = {}): Runtime {
  const config = agentConfig();
  let runner: CommandRunner | undefined;
  const socket = wantsSocket(config, opts.transport)
    ? new DeviceSocket({
        backendUrl: device.backend_url,
        deviceKey: device.device_key,
        onCommand: (c) => void runner?.handle(c).catch(() => undefined),
        onOpenChange: (open) =>
          say(
            open
              ? "the device socket is open: commands arrive at once"
              : "the device socket closed: commands are polled until it opens again",
          ),
      })
    : undefined;
  const agent = agentOf(device, config, socket);
  runner = new CommandRunner(device, agent, config);
  const machine = new MachineReader(configDir());
  socket?.start();

  const poll = async () => {
    if (socket?.open) return; // the socket pushes commands
    for (const command of await agent.commands(device.device_id)) await runner!.handle(command);
  };
  const beat = async () => {
    const answer = await agent.heartbeat({ metrics: { ...machine.read() } });
    if (answer.pending_commands > 0) await poll();
  };

  // Say when delivery stops and starts again, once each, rather than at every try.
  let stalled = "";
  const flushed = (result: FlushResult) => {
    const reason = result.pending ? (result.reason ?? "") : "";
    if (reason && reason !== stalled)
      say(
        `the server did not take logs (${reason}); kept on disk, next try ${new Date(result.retryAt ?? Date.now()).toISOString()}`,
      );
    if (!reason && stalled) say("the server takes logs again");
    stalled = reason;
  };
  agent.startSending({ onFlush: flushed });

  const timers = [
    setInterval(() => void beat().catch(() => undefined), device.heartbeat_interval_ms),
    setInterval(() => void poll().catch(() => undefined), config.command_poll_s * 1000),
  ];
  void beat().catch(() => undefined);

  const runtime: Runtime = {
    agent,
    config,
    exitOnSignals() {
      const finish = async (): Promise<never> => {
        await runtime.stop();
        process.exit(0);
      };
      process.on("SIGINT", () => void finish());
      process.on("SIGTERM", () => void finish());
      return finish;
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      agent.stop();
      socket?.stop();
      const giveUpAt = Date.now() + FINAL_FLUSH_MS;
      for (let attempt = 0; ; attempt++) {
        const r = await agent
          .flush({ force: true })
          .catch(() => ({ pending: true, retryAt: undefined }) as Partial<FlushResult>);
        if (!r.pending) return;
        const next = Math.max(r.retryAt ?? 0, Date.now() + 1000 * 2 ** attempt);
        if (next > giveUpAt) {
          say("the server could not take every line before exit; the rest stays in the spool for the next start");
          return;
        }
        await new Promise((w) => setTimeout(w, next - Date.now()));
      }
    },
  };
  return runtime;
}
