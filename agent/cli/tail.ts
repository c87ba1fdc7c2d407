// `tail <file>`: follows a file across rotation and truncation and ships each new line;
// `tail -` ships standard input to its end. Heartbeats and takes commands meanwhile.
import { fail, saved } from "./config.ts";
import { shipFile, shipLines } from "./lines.ts";
import { startRuntime } from "./runtime.ts";

export async function tailCommand(args: string[]) {
  const file = args[0] ?? fail("tail needs a file, or - for standard input");
  const runtime = startRuntime(saved());
  const finish = runtime.exitOnSignals();
  if (file !== "-") return shipFile(runtime.agent, file);
  await shipLines(runtime.agent, process.stdin, "stdin");
  await finish();
}
