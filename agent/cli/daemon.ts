// `daemon`: the agent as a service (systemd, see agent/README.md). Heartbeats with the
// machine's metrics, runs the commands an admin queues, and ships the files config.json lists
// under `tail` (and any --tail given), until it is stopped.
import * as path from "node:path";
import { agentConfig, saved } from "./config.ts";
import { followFile } from "./follow.ts";
import { toLine } from "./lines.ts";
import { startRuntime } from "./runtime.ts";

export async function daemonCommand(args: string[]) {
  const device = saved();
  const files = [...agentConfig().tail, ...args.flatMap((a, i) => (args[i - 1] === "--tail" ? [a] : []))];
  const runtime = startRuntime(device);
  const { agent } = runtime;
  for (const file of files) {
    const module = path.basename(file);
    followFile(file, (text) => {
      const l = toLine(text, "INFO", module);
      agent.log(l.level, l.module, l.message, l.extra);
    });
  }
  console.error(`fleetbeat agent: device ${device.device_id} running${files.length ? `, following ${files.join(", ")}` : ""}`);
  const finish = async () => {
    await runtime.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void finish());
  process.on("SIGTERM", () => void finish());
}
