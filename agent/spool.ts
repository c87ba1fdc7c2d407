// Where an agent keeps log lines until the backend has them. Lines are appended to an open
// segment as they are logged; a segment is sealed (given its batch_id) before it is sent, and
// removed only once the backend has answered for it. After a crash, whatever is on disk is
// sent again with the same batch_id, and the backend stores and counts it once.
import type * as NodeFs from "node:fs";

export interface SpoolLine {
  timestamp_us: number;
  level: string;
  module: string;
  message: string;
  logger?: string;
  thread_id?: string;
  process_id?: string;
  context?: Record<string, string | number | boolean>;
}

export interface Spool {
  append(line: SpoolLine): void;
  /** Lines in the open segment. */
  openCount(): number;
  /** Closes the open segment under a new batch id; null when it is empty. */
  seal(): string | null;
  /** Sealed segments, oldest first. */
  sealed(): string[];
  read(batchId: string): SpoolLine[];
  remove(batchId: string): void;
}

// Batch ids sort in the order they were sealed: time, then a counter within the millisecond.
let sealedInProcess = 0;
const batchId = () =>
  `${Date.now().toString(36).padStart(9, "0")}-${(sealedInProcess++ % 1e6).toString().padStart(6, "0")}-${crypto.randomUUID().slice(0, 8)}`;

/** For tests and runtimes without a disk: survives the agent object, not the process. */
export class MemorySpool implements Spool {
  private open: SpoolLine[] = [];
  private segments = new Map<string, SpoolLine[]>();
  append(line: SpoolLine) {
    this.open.push(line);
  }
  openCount() {
    return this.open.length;
  }
  seal() {
    if (this.open.length === 0) return null;
    const id = batchId();
    this.segments.set(id, this.open);
    this.open = [];
    return id;
  }
  sealed() {
    return [...this.segments.keys()].sort();
  }
  read(id: string) {
    return this.segments.get(id) ?? [];
  }
  remove(id: string) {
    this.segments.delete(id);
  }
}

/**
 * NDJSON files in a folder: `open.ndjson` takes appends; sealing renames it to
 * `<batch id>.ndjson`. A line cut short by a crash mid-write is skipped when read.
 * Pass `fsync: true` to make every append survive a power cut, at the cost of a sync each.
 */
export class FileSpool implements Spool {
  private count: number;
  constructor(
    private readonly fs: typeof NodeFs,
    private readonly dir: string,
    private readonly options: { fsync?: boolean } = {},
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.count = this.parse(this.path("open")).length;
  }
  private path(name: string) {
    return `${this.dir}/${name}.ndjson`;
  }
  private parse(file: string): SpoolLine[] {
    if (!this.fs.existsSync(file)) return [];
    const lines: SpoolLine[] = [];
    for (const text of this.fs.readFileSync(file, "utf8").split("\n")) {
      if (!text) continue;
      try {
        lines.push(JSON.parse(text));
      } catch {
        // a torn write from a crash: everything before it is intact
      }
    }
    return lines;
  }
  append(line: SpoolLine) {
    const fd = this.fs.openSync(this.path("open"), "a");
    try {
      this.fs.writeSync(fd, `${JSON.stringify(line)}\n`);
      if (this.options.fsync) this.fs.fsyncSync(fd);
    } finally {
      this.fs.closeSync(fd);
    }
    this.count++;
  }
  openCount() {
    return this.count;
  }
  seal() {
    if (this.count === 0) return null;
    const id = batchId();
    this.fs.renameSync(this.path("open"), this.path(id));
    this.count = 0;
    return id;
  }
  sealed() {
    return this.fs
      .readdirSync(this.dir)
      .filter((f) => f.endsWith(".ndjson") && f !== "open.ndjson")
      .map((f) => f.slice(0, -".ndjson".length))
      .sort();
  }
  read(id: string) {
    return this.parse(this.path(id));
  }
  remove(id: string) {
    this.fs.rmSync(this.path(id), { force: true });
  }
}
