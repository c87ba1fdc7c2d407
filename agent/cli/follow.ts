// Follows a file as `tail -F` does: from its end as it is now, then every half second what
// was added. A new file under the name (rotation) is read from its start; a file that shrank
// (copytruncate) is read again from its start. As with tail -F, a file truncated and written
// past its old size within one poll is not noticed.
import * as fs from "node:fs";

/** How often the file is looked at. */
const POLL_MS = 500;

export function followFile(file: string, onLine: (text: string) => void): { stop(): void } {
  const stat = (): fs.Stats | null => {
    try {
      return fs.statSync(file);
    } catch {
      return null; // rotated away and not there yet
    }
  };
  const first = stat();
  let inode = first?.ino ?? -1;
  let offset = first?.size ?? 0;
  let partial = "";

  const readTo = (end: number) => {
    if (end <= offset) return;
    const fd = fs.openSync(file, "r");
    try {
      const buf = Buffer.alloc(end - offset);
      const read = fs.readSync(fd, buf, 0, buf.length, offset);
      offset += read;
      const parts = (partial + buf.subarray(0, read).toString("utf8")).split("\n");
      partial = parts.pop()!;
      for (const text of parts) if (text.trim()) onLine(text);
    } finally {
      fs.closeSync(fd);
    }
  };

  const timer = setInterval(() => {
    const now = stat();
    if (!now) return;
    if (now.ino !== inode || now.size < offset) {
      inode = now.ino;
      offset = 0;
      partial = "";
    }
    try {
      readTo(now.size);
    } catch {
      // gone between the stat and the read: the next poll sees what is there
    }
  }, POLL_MS);
  return { stop: () => clearInterval(timer) };
}
