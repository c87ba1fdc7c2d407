import * as fs from "node:fs";
import * as path from "node:path";
import { agentOf, fail, saved } from "./config.ts";
import { shipLines, toLine } from "./lines.ts";


/** How often `tail` looks at its file. */
const TAIL_POLL_MS = 500;

export async function tailCommand(args: string[]) {
  const file = args[0] ?? fail("tail needs a file, or - for standard input");
  const device = saved();
  const agent = agentOf(device);
  agent.start({ flushMs: 1000, heartbeatMs: device.heartbeat_interval_ms });
  const finish = async (code: number) => {
    agent.stop();
    await agent.flush().catch(() => undefined);
    process.exit(code);
  };
  process.on("SIGINT", () => void finish(0));
  process.on("SIGTERM", () => void finish(0));
  if (file === "-") {
    await shipLines(agent, process.stdin, "stdin");
    return finish(0);
  }
  const module = path.basename(file);
  // From the end of the file as it is now, like tail -F; then, every POLL_MS, what was added.
  let inode = fs.existsSync(file) ? fs.statSync(file).ino : -1;
  let offset = fs.existsSync(file) ? fs.statSync(file).size : 0;
  let partial = "";
  const readFrom = (name: string, from: number, to: number) => {
    if (to <= from) return;
    const fd = fs.openSync(name, "r");
    try {
      const buf = Buffer.alloc(to - from);
      fs.readSync(fd, buf, 0, buf.length, from);
      const text = partial + buf.toString("utf8");
      const parts = text.split("\n");
      partial = parts.pop()!;
      for (const t of parts) {
        if (!t.trim()) continue;
        const l = toLine(t, "INFO", module);
        agent.log(l.level, l.module, l.message, l.extra);
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  for (;;) {
    await new Promise((w) => setTimeout(w, TAIL_POLL_MS));
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      continue; // rotated away and not there yet
    }
    if (stat.ino !== inode) {
      // Rotated: a new file under the name. It is read from its start.
      inode = stat.ino;
      offset = 0;
      partial = "";
    } else if (stat.size < offset) {
      // Truncated in place (copytruncate): read again from the start. As with tail -F, a file
      // truncated and then written past its old size within one poll is not noticed.
      offset = 0;
      partial = "";
    }
    readFrom(file, offset, stat.size);
    offset = stat.size;
  }
}
