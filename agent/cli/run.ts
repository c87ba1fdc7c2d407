// `run [--transport socket|https] [--] <program...>`: runs a program and ships what it prints, stdout as INFO and
// stderr as ERROR; heartbeats and takes commands while it runs; exits with its exit code.
import { spawn } from "node:child_process";
import { constants } from "node:os";
import * as path from "node:path";
import { fail, saved, transportFlag } from "./config.ts";
import { shipLines } from "./lines.ts";
import { startRuntime } from "./runtime.ts";

export async function runCommand(args: string[]) {
  // The agent's own options come first: `run --transport https -- prog`.
  const { transport, rest } = args[0] === "--transport" ? transportFlag(args) : { transport: undefined, rest: args };
  const argv = rest[0] === "--" ? rest.slice(1) : rest;
  if (argv.length === 0) fail("run needs a program to run");
  const runtime = startRuntime(saved(), { transport });
  const { agent } = runtime;
  const program = path.basename(argv[0]!);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["inherit", "pipe", "pipe"] });
  // A signal to the agent (systemd stopping it, Ctrl-C) is passed on; the agent ends with the program.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => child.kill(signal));
  const printed = Promise.all([
    shipLines(agent, child.stdout!, program, { level: "INFO", echo: process.stdout }),
    shipLines(agent, child.stderr!, program, { level: "ERROR", echo: process.stderr }),
  ]);
  const code = await new Promise<number>((resolve) => {
    child.on("error", (err) => {
      agent.log("ERROR", "fleetbeat-agent", `could not run ${argv[0]}: ${err.message}`);
      resolve(127);
    });
    // As a shell reports it: a program killed by a signal exits 128 + the signal's number.
    child.on("close", (c, signal) => resolve(c ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
  });
  await printed;
  await runtime.stop();
  process.exit(code);
}
