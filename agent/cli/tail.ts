// `tail <file>`: follows a file across rotation and truncation and ships each new line;
// `tail -` ships standard input to its end. Heartbeats and takes commands meanwhile.
import * as path from "node:path";
import { fail, saved } from "./config.ts";
import { followFile } from "./follow.ts";
import { shipLines, toLine } from "./lines.ts";
import { startRuntime } from "./runtime.ts";

export async function tailCommand(args: string[]) {
  const file = args[0] ?? fail("tail needs a file, or - for standard input");
  const runtime = startRuntime(saved());
  const { agent } = runtime;
  const finish = async () => {
    await runtime.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void finish());
  process.on("SIGTERM", () => void finish());
  if (file === "-") {
    await shipLines(agent, process.stdin, "stdin");
    return finish();
  }
  const module = path.basename(file);
  followFile(file, (text) => {
    const l = toLine(text, "INFO", module);
    agent.log(l.level, l.module, l.message, l.extra);
  });
}
