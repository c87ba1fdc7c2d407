// `daemon`: the agent as a service (systemd, see agent/README.md). Heartbeats with the
// machine's metrics, runs the commands an admin queues, and ships the files config.json lists
// under `tail` (and any --tail given), until it is stopped.
import { saved, transportFlag } from "./config.ts";
import { shipFile } from "./lines.ts";
import { startRuntime } from "./runtime.ts";

export async function daemonCommand(args: string[]) {
  const device = saved();
  const { transport, rest } = transportFlag(args);
  const runtime = startRuntime(device, { transport });
  const files = [...runtime.config.tail, ...rest.flatMap((a, i) => (rest[i - 1] === "--tail" ? [a] : []))];
  for (const file of files) shipFile(runtime.agent, file);
  console.error(
    `fleetbeat agent: device ${device.device_id} running${files.length ? `, following ${files.join(", ")}` : ""}`,
  );
  runtime.exitOnSignals();
}
