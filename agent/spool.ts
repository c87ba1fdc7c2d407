// Where an agent keeps log lines until the backend has them. Lines are appended to an open
// segment as they are logged, each with the session it was logged in; a segment is sealed
// (given its batch_id) before it is sent, and removed only once the backend has answered for
// it. After a crash, whatever is on disk is sent again with the same batch_id, and the backend
// stores and counts it once.
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
  /** The agent's session when the line was logged; none, none is sent. */
  session_id?: string;
}

export interface Spool {
  append(line: SpoolLine): void;
  /** Lines in the open segment. */
  openCount(): number;
  /** What the open segment's lines add to a batch's JSON, in bytes (see jsonBytes). */
  openBytes(): number;
  /** Closes the open segment under a new batch id; null when it is empty. */
  seal(): string | null;
  /** Sealed segments, oldest first. */
  sealed(): string[];
  read(batchId: string): SpoolLine[];
  remove(batchId: string): void;
  /** Lines dropped to keep within the spool's bound and not yet reported. */
  dropped(): number;
  /** The agent has spooled a line reporting `count` dropped lines. */
  forgetDropped(count: number): void;
}

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

/** Bytes a line adds to a batch's JSON: its UTF-8 text and the separator after it. */
export const jsonBytes = (line: SpoolLine) => encoder.encode(JSON.stringify(line)).length + 1;

// Batch ids sort in the order they were sealed: time, then a counter within the millisecond.
let sealedInProcess = 0;
const batchId = () =>
  `${Date.now().toString(36).padStart(9, "0")}-${(sealedInProcess++ % 1e6).toString().padStart(6, "0")}-${crypto.randomUUID().slice(0, 8)}`;

/** For tests and runtimes without a disk: survives the agent object, not the process. */
export class MemorySpool implements Spool {
  private open: SpoolLine[] = [];
  private bytes = 0;
  private segments = new Map<string, SpoolLine[]>();
  append(line: SpoolLine) {
    this.open.push(line);
    this.bytes += jsonBytes(line);
  }
  openCount() {
    return this.open.length;
  }
  openBytes() {
    return this.bytes;
  }
  seal() {
    if (this.open.length === 0) return null;
    const id = batchId();
    this.segments.set(id, this.open);
    this.open = [];
    this.bytes = 0;
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
  dropped() {
    return 0;
  }
  forgetDropped() {}
}

/** The bound of a FileSpool on disk unless it is given another. */
const SPOOL_MAX_BYTES = 100 * 1024 * 1024;

/**
 * NDJSON files in a folder: `open.ndjson` takes appends; sealing renames it to `<batch id>.ndjson`. The
 * folder stays within `maxBytes` (100 MB by default): when a sealed segment takes it past, the oldest
 * segments are deleted and their lines counted in `dropped`, which the agent reports as a line of its own
 * once the server can be reached. Every line ends in a newline: a write a crash cut short is cut off when the
 * spool opens (or ended with a newline, if what was written is a whole line), so the next line starts on a
 * line of its own. Pass `fsync: true` to make every append survive a power cut, at the cost of a sync each.
 */
export class FileSpool implements Spool {
  private count = 0;
  /** The size of `open.ndjson`: its lines, each with its newline. */
  private bytes = 0;
  constructor(
    private readonly fs: typeof NodeFs,
    private readonly dir: string,
    private readonly options: { fsync?: boolean; maxBytes?: number } = {},
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.mendOpen();
    for (const id of this.sealed()) this.sealedBytes += this.fs.statSync(this.path(id)).size;
  }
  /** The sizes of the sealed segments, together. */
  private sealedBytes = 0;
  private path(name: string) {
    return `${this.dir}/${name}.ndjson`;
  }
  /** Ends the open segment with a newline, dropping the part of a line a crash left unwritten. */
  private mendOpen() {
    const file = this.path("open");
    if (!this.fs.existsSync(file)) return;
    const bytes = this.fs.readFileSync(file);
    this.bytes = bytes.length;
    if (bytes.length > 0 && bytes[bytes.length - 1] !== NEWLINE) {
      const tail = bytes.subarray(bytes.lastIndexOf(NEWLINE) + 1);
      if (parseLine(tail.toString("utf8"))) {
        this.fs.appendFileSync(file, "\n");
        this.bytes++;
      } else {
        this.bytes -= tail.length;
        this.fs.truncateSync(file, this.bytes);
      }
    }
    this.count = parseLines(bytes.toString("utf8")).length;
  }
  append(line: SpoolLine) {
    const text = encoder.encode(`${JSON.stringify(line)}\n`);
    const fd = this.fs.openSync(this.path("open"), "a");
    try {
      if (this.fs.writeSync(fd, text) !== text.length)
        throw new Error(`the spool in ${this.dir} could not write a whole line`);
      if (this.options.fsync) this.fs.fsyncSync(fd);
    } catch (err) {
      // A line half written would swallow the next one; the spool stays as it was.
      this.fs.ftruncateSync(fd, this.bytes);
      throw err;
    } finally {
      this.fs.closeSync(fd);
    }
    this.count++;
    this.bytes += text.length;
  }
  openCount() {
    return this.count;
  }
  openBytes() {
    return this.bytes;
  }
  seal() {
    if (this.count === 0) return null;
    const id = batchId();
    this.fs.renameSync(this.path("open"), this.path(id));
    this.sealedBytes += this.bytes;
    this.count = 0;
    this.bytes = 0;
    this.keepWithinBound(id);
    return id;
  }
  /** Drops the oldest segments (never the one just sealed) while the folder is over its bound. */
  private keepWithinBound(newest: string) {
    const max = this.options.maxBytes ?? SPOOL_MAX_BYTES;
    if (this.sealedBytes <= max) return;
    let lines = 0;
    for (const id of this.sealed()) {
      if (this.sealedBytes <= max || id === newest) break;
      const bytes = this.fs.readFileSync(this.path(id));
      lines += bytes.filter((b) => b === NEWLINE).length;
      this.remove(id);
    }
    if (lines > 0) this.writeDropped(this.dropped() + lines);
  }
  private get droppedFile() {
    return `${this.dir}/dropped`;
  }
  dropped() {
    return this.fs.existsSync(this.droppedFile) ? Number(this.fs.readFileSync(this.droppedFile, "utf8")) || 0 : 0;
  }
  forgetDropped(count: number) {
    this.writeDropped(Math.max(0, this.dropped() - count));
  }
  /** Written aside and renamed into place, so a crash leaves the old count or the new one. */
  private writeDropped(count: number) {
    if (count === 0) return this.fs.rmSync(this.droppedFile, { force: true });
    this.fs.writeFileSync(`${this.droppedFile}.tmp`, String(count));
    this.fs.renameSync(`${this.droppedFile}.tmp`, this.droppedFile);
  }
  sealed() {
    return this.fs
      .readdirSync(this.dir)
      .filter((f) => f.endsWith(".ndjson") && f !== "open.ndjson")
      .map((f) => f.slice(0, -".ndjson".length))
      .sort();
  }
  read(id: string) {
    const file = this.path(id);
    return this.fs.existsSync(file) ? parseLines(this.fs.readFileSync(file, "utf8")) : [];
  }
  remove(id: string) {
    const file = this.path(id);
    // Another agent process on the same folder may have sent and removed it already.
    const size = this.fs.existsSync(file) ? this.fs.statSync(file).size : 0;
    this.fs.rmSync(file, { force: true });
    this.sealedBytes -= size;
  }
}

/** The lines of a segment; a line torn by a crash (before the spool mended it) is skipped. */
function parseLines(text: string): SpoolLine[] {
  return text.split("\n").flatMap((t) => parseLine(t) ?? []);
}

function parseLine(text: string): SpoolLine | null {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
