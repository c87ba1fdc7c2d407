import { spawn } from "node:child_process";
import * as path from "node:path";
import { agentOf, fail, saved } from "./config.ts";
import { shipLines } from "./lines.ts";

export async function runCommand(args: string[]) {
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
