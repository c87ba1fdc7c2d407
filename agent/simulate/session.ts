// One run of a virtual device: a name, what it logged, and the files it leaves behind (its
// telemetry as CSV and a summary), uploaded before it ends.
import type { Artifact } from "./artifacts.ts";
import type { Metrics } from "./metrics.ts";

const KINDS = ["patrol", "inspection", "delivery", "mapping", "calibration", "survey"];
/** Telemetry rows kept for the CSV: an hour at one a second. */
const MAX_ROWS = 3600;

const encoder = new TextEncoder();

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
      this.rows.push([new Date(at).toISOString(), m.cpu_usage, m.memory_usage, m.disk_usage, m.battery_level, m.temperature].join(","));
    }
  }

  files(status: string): Artifact[] {
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
      { path: "summary.json", contentType: "application/json", bytes: encoder.encode(`${JSON.stringify(summary, null, 2)}\n`) },
    ];
  }
}
