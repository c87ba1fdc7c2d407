// One run of a virtual device: a name, what it logged, and the files it leaves behind (its
// telemetry as CSV and a summary, or as many files of the size the simulator was asked for),
// uploaded before it ends.
import type { Artifact } from "./artifacts.ts";
import type { Metrics } from "./metrics.ts";

const KINDS = ["patrol", "inspection", "delivery", "mapping", "calibration", "survey"];
/** Telemetry rows kept for the CSV: an hour at one a second. */
const MAX_ROWS = 3600;

const encoder = new TextEncoder();

/** Files of a session when the simulator is given sizes (--files, --file-mb): `count` files of `bytes` each. */
export interface FileShape {
  count: number;
  bytes: number;
}

/** Bytes that do not compress, as a recording's: getRandomValues gives at most 64 KiB a call. */
function noise(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += 65_536) crypto.getRandomValues(out.subarray(at, Math.min(bytes, at + 65_536)));
  return out;
}

export class SimSession {
  readonly id = crypto.randomUUID();
  readonly name: string;
  readonly startedAt = new Date();
  lines = 0;
  problems = 0;
  private readonly rows: string[] = [];

  constructor(
    /** When it should end by itself, in ms since the epoch. */
    readonly endsAt: number,
    random: () => number = Math.random,
  ) {
    this.name = `${KINDS[Math.floor(random() * KINDS.length)]} ${this.startedAt.toISOString().slice(11, 19)}`;
  }

  record(at: number, m: Metrics): void {
    if (this.rows.length < MAX_ROWS) {
      this.rows.push(
        [new Date(at).toISOString(), m.cpu_usage, m.memory_usage, m.disk_usage, m.battery_level, m.temperature].join(
          ",",
        ),
      );
    }
  }

  /** Its telemetry and summary, or `shape.count` recordings of `shape.bytes` each. */
  files(status: string, shape?: FileShape): Artifact[] {
    if (shape) {
      return Array.from({ length: shape.count }, (_, i) => ({
        path: `recordings/part-${i + 1}.bin`,
        contentType: "application/octet-stream",
        bytes: noise(shape.bytes),
      }));
    }
    const csv = `time,cpu_usage,memory_usage,disk_usage,battery_level,temperature\n${this.rows.map((r) => `${r}\n`).join("")}`;
    const summary = {
      session_id: this.id,
      name: this.name,
      status,
      started_at: this.startedAt.toISOString(),
      ended_at: new Date().toISOString(),
      lines: this.lines,
      errors: this.problems,
    };
    return [
      { path: "telemetry/metrics.csv", contentType: "text/csv", bytes: encoder.encode(csv) },
      {
        path: "summary.json",
        contentType: "application/json",
        bytes: encoder.encode(`${JSON.stringify(summary, null, 2)}\n`),
      },
    ];
  }
}
