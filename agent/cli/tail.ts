// `tail <file>`: follows a file across rotation and truncation and ships each new line;
// `tail -` ships standard input to its end. Heartbeats and takes commands meanwhile.
import { fail, saved, transportFlag } from "./config.ts";
import { shipFile, shipLines } from "./lines.ts";
import { startRuntime } from "./runtime.ts";

export async function tailCommand(args: string[]) {
  const { transport, rest } = transportFlag(args);
  const file = rest[0] ?? fail("tail needs a file, or - for standard input");
  const runtime = startRuntime(saved(), { transport });
  const finish = runtime.exitOnSignals();
  if (file !== "-") return shipFile(runtime.agent, file);
  await shipLines(runtime.agent, process.stdin, "stdin");
  await finish();
}
