// Heartbeat metrics, downsampled as they arrive: one row per UTC minute holding, for each
// metric, [sum, min, max, count]. Kept for RETENTION_MS, so a device holds at most
// 10,080 rows however often it reports. Queries regroup minutes into wider buckets.
import { INTERVAL_MS, type MetricInterval } from "../../src/contract/metrics";

const MINUTE = 60_000;
export const RETENTION_MS = 7 * 24 * 3600 * 1000;
/** Distinct metric names kept per minute; names beyond are ignored, so a row stays small. */
const MAX_NAMES_PER_MINUTE = 64;
/** The widest answer a query may produce; a wider range picks a coarser interval. */
export const MAX_POINTS = 1500;

type Aggregate = [sum: number, min: number, max: number, count: number];
type MinuteData = Record<string, Aggregate>;

export interface MetricPoint {
  t: number;
  samples: number;
  metrics: Record<string, { avg: number; min: number; max: number }>;
}

/** Adds an aggregate under `name`. Own properties only: names like "constructor" or
 *  "__proto__" are metrics like any other, never the object's prototype. */
function merge(into: MinuteData, name: string, [sum, min, max, count]: Aggregate): void {
  const a = Object.hasOwn(into, name) ? into[name] : undefined;
  const value: Aggregate = a ? [a[0] + sum, Math.min(a[1], min), Math.max(a[2], max), a[3] + count] : [sum, min, max, count];
  Object.defineProperty(into, name, { value, enumerable: true, writable: true, configurable: true });
}

export class MetricHistory {
  constructor(private readonly sql: SqlStorage) {}

  record(metrics: Record<string, number>, now: number): void {
    const minute = now - (now % MINUTE);
    const row = this.sql
      .exec<{ samples: number; data: string }>(`SELECT samples, data FROM metric_minutes WHERE minute = ?`, minute)
      .toArray()[0];
    const data: MinuteData = row ? JSON.parse(row.data) : {};
    for (const [name, v] of Object.entries(metrics)) {
      if (Object.hasOwn(data, name) || Object.keys(data).length < MAX_NAMES_PER_MINUTE) merge(data, name, [v, v, v, 1]);
    }
    this.sql.exec(
      `INSERT INTO metric_minutes (minute, samples, data) VALUES (?, ?, ?)
       ON CONFLICT (minute) DO UPDATE SET samples = excluded.samples, data = excluded.data`,
      minute,
      (row?.samples ?? 0) + 1,
      JSON.stringify(data),
    );
  }

  /** The oldest minute kept (ms), or null. */
  oldest(): number | null {
    return this.sql.exec<{ t: number | null }>(`SELECT min(minute) AS t FROM metric_minutes`).one().t;
  }

  prune(now: number): void {
    this.sql.exec(`DELETE FROM metric_minutes WHERE minute < ?`, now - RETENTION_MS);
  }

  /** The narrowest interval that keeps [from, to) within MAX_POINTS buckets. */
  static fitInterval(from: number, to: number, wanted?: MetricInterval): MetricInterval {
    const order = Object.keys(INTERVAL_MS) as MetricInterval[];
    const start = wanted ? order.indexOf(wanted) : 0;
    for (const name of order.slice(start)) if ((to - from) / INTERVAL_MS[name] <= MAX_POINTS) return name;
    return "1d";
  }

  query(from: number, to: number, interval: MetricInterval): MetricPoint[] {
    const width = INTERVAL_MS[interval];
    const buckets = new Map<number, { samples: number; data: MinuteData }>();
    const rows = this.sql.exec<{ minute: number; samples: number; data: string }>(
      `SELECT minute, samples, data FROM metric_minutes WHERE minute >= ? AND minute < ? ORDER BY minute`,
      from - (from % MINUTE),
      to,
    );
    for (const row of rows) {
      const t = row.minute - (row.minute % width);
      const bucket = buckets.get(t) ?? { samples: 0, data: {} };
      bucket.samples += row.samples;
      for (const [name, agg] of Object.entries(JSON.parse(row.data) as MinuteData)) merge(bucket.data, name, agg);
      buckets.set(t, bucket);
    }
    return [...buckets].map(([t, { samples, data }]) => ({
      t,
      samples,
      metrics: Object.fromEntries(
        Object.entries(data).map(([name, [sum, min, max, count]]) => [name, { avg: sum / count, min, max }]),
      ),
    }));
  }
}
