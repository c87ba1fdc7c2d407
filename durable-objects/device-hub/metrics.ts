// Heartbeat metrics, downsampled as they arrive: per UTC minute, for each metric, [sum, min,
// max, count]. The current hour's minutes live in the device's state row (saved with the
// heartbeat that changes them, state.ts); when an hour ends it becomes one row of
// `metric_hours`. So a heartbeat writes no row of its own, an hour costs one, and the charts
// keep minute resolution for RETENTION_MS. (Rows of `metric_minutes`, a row per minute as
// kept before, are read beside them until they age out.)
import { INTERVAL_MS, type MetricInterval } from "../../src/contract/metrics";
import { SPARKLINES, type Sparklines } from "../../src/contract/presence";
import type { Sql } from "../storage";

export const MINUTE_MS = 60_000;
const MINUTE = MINUTE_MS;
const HOUR = 3_600_000;
const RETENTION_MS = 7 * 24 * 3600 * 1000;
/** Distinct metric names kept per minute; names beyond are ignored, so a row stays small. */
const MAX_NAMES_PER_MINUTE = 64;
/** The widest answer a query may produce; a wider range picks a coarser interval. */
export const MAX_POINTS = 1500;

export const METRIC_HOURS_SCHEMA = `CREATE TABLE metric_hours (
     hour INTEGER PRIMARY KEY,     -- start of the UTC hour, ms
     data TEXT NOT NULL            -- {"<minute ms>": [samples, {"cpu_usage": [sum, min, max, count], ...}], ...}
   );`;

type Aggregate = [sum: number, min: number, max: number, count: number];
type MinuteData = Record<string, Aggregate>;
/** One hour of minutes: minute start (ms) → [samples, metrics]. */
type HourData = Record<string, [number, MinuteData]>;

/** The hour being filled, as the device's state keeps it. */
export interface MetricHour {
  hour: number;
  minutes: HourData;
}

export interface MetricPoint {
  t: number;
  samples: number;
  metrics: Record<string, { avg: number; min: number; max: number }>;
}

/** Adds an aggregate under `name`. Own properties only: names like "constructor" or
 *  "__proto__" are metrics like any other, never the object's prototype. */
function merge(into: MinuteData, name: string, [sum, min, max, count]: Aggregate): void {
  const a = Object.hasOwn(into, name) ? into[name] : undefined;
  const value: Aggregate = a
    ? [a[0] + sum, Math.min(a[1], min), Math.max(a[2], max), a[3] + count]
    : [sum, min, max, count];
  Object.defineProperty(into, name, { value, enumerable: true, writable: true, configurable: true });
}

export class MetricHistory {
  constructor(
    private readonly sql: Sql,
    /** The state's current hour, and how to change it (the state row is saved by the caller). */
    private readonly current: { get(): MetricHour | null | undefined; set(h: MetricHour | null): void },
  ) {}

  /** Adds a heartbeat's metrics to its minute; an hour that has ended is written as its row first. */
  record(metrics: Record<string, number>, now: number): void {
    const hour = now - (now % HOUR);
    let h = this.current.get();
    if (h && h.hour !== hour) {
      this.writeHour(h);
      h = null;
    }
    h ??= { hour, minutes: {} };
    const minute = String(now - (now % MINUTE));
    const [samples, data] = h.minutes[minute] ?? [0, {}];
    for (const [name, v] of Object.entries(metrics)) {
      if (Object.hasOwn(data, name) || Object.keys(data).length < MAX_NAMES_PER_MINUTE) merge(data, name, [v, v, v, 1]);
    }
    h.minutes[minute] = [samples + 1, data];
    this.current.set(h);
  }

  /** Adds a minute's aggregates (a socket's heartbeats, socket-beats.ts), as record() adds one sample. */
  mergeMinute(minute: number, samples: number, aggregates: MinuteData): void {
    const hour = minute - (minute % HOUR);
    let h = this.current.get();
    if (h && h.hour !== hour) {
      if (h.hour > hour) return; // an hour already written: its minutes stay as they are
      this.writeHour(h);
      h = null;
    }
    h ??= { hour, minutes: {} };
    const [had, data] = h.minutes[String(minute)] ?? [0, {}];
    for (const [name, agg] of Object.entries(aggregates)) {
      if (Object.hasOwn(data, name) || Object.keys(data).length < MAX_NAMES_PER_MINUTE) merge(data, name, agg);
    }
    h.minutes[String(minute)] = [had + samples, data];
    this.current.set(h);
  }

  private writeHour(h: MetricHour): void {
    this.sql.exec(
      "INSERT INTO metric_hours (hour, data) VALUES (?, ?) ON CONFLICT (hour) DO UPDATE SET data = excluded.data",
      h.hour,
      JSON.stringify(h.minutes),
    );
  }

  /**
   * When prune() will next delete something (ms), or null when nothing is kept. An hour row
   * goes an hour after its start passes RETENTION_MS (prune() keeps the hour that holds the
   * window's first minute), so that is when it is due, not when its start ages out: an alarm
   * set for the start would find nothing to delete, minute after minute, for an hour.
   */
  nextExpiry(): number | null {
    const r = this.sql
      .exec<{ h: number | null; m: number | null }>(
        "SELECT (SELECT min(hour) FROM metric_hours) AS h, (SELECT min(minute) FROM metric_minutes) AS m",
      )
      .one();
    const at = [r.h === null ? null : r.h + HOUR, r.m].filter((t): t is number => t !== null);
    // + 1: prune() deletes what is strictly older than its bound.
    return at.length ? Math.min(...at) + RETENTION_MS + 1 : null;
  }

  prune(now: number): void {
    this.sql.exec("DELETE FROM metric_hours WHERE hour < ?", now - RETENTION_MS - HOUR);
    this.sql.exec("DELETE FROM metric_minutes WHERE minute < ?", now - RETENTION_MS);
  }

  /** The narrowest interval that keeps [from, to) within MAX_POINTS buckets. */
  static fitInterval(from: number, to: number, wanted?: MetricInterval): MetricInterval {
    const order = Object.keys(INTERVAL_MS) as MetricInterval[];
    const start = wanted ? order.indexOf(wanted) : 0;
    for (const name of order.slice(start)) if ((to - from) / INTERVAL_MS[name] <= MAX_POINTS) return name;
    return "1d";
  }

  /**
   * The fleet list's sparklines as of `at` (src/contract/presence.ts SPARKLINES): the last hour's
   * slots, read from the rows kept anyway (the hour before, the current hour in the state), so
   * they cost reads only. Undefined when no sparkline metric came within the hour.
   */
  sparklines(at: number): Sparklines | undefined {
    const width = INTERVAL_MS[SPARKLINES.interval];
    const last = at - (at % width);
    const first = last - (SPARKLINES.slots - 1) * width;
    const out: Sparklines = {};
    const points = this.query(first, at + 1, SPARKLINES.interval);
    for (const name of SPARKLINES.metrics) {
      const series: (number | null)[] = new Array(SPARKLINES.slots).fill(null);
      let any = false;
      for (const p of points) {
        const m = Object.hasOwn(p.metrics, name) ? p.metrics[name] : undefined;
        if (!m) continue;
        series[(p.t - first) / width] = Number(m.avg.toPrecision(3));
        any = true;
      }
      if (any) out[name] = series;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  query(from: number, to: number, interval: MetricInterval): MetricPoint[] {
    const width = INTERVAL_MS[interval];
    const buckets = new Map<number, { samples: number; data: MinuteData }>();
    const first = from - (from % MINUTE);
    const add = (minute: number, samples: number, data: MinuteData) => {
      if (minute < first || minute >= to) return;
      const t = minute - (minute % width);
      const bucket = buckets.get(t) ?? { samples: 0, data: {} };
      bucket.samples += samples;
      for (const [name, agg] of Object.entries(data)) merge(bucket.data, name, agg);
      buckets.set(t, bucket);
    };
    const addHour = (minutes: HourData) => {
      for (const [m, [samples, data]] of Object.entries(minutes)) add(Number(m), samples, data);
    };
    for (const row of this.sql.exec<{ minute: number; samples: number; data: string }>(
      "SELECT minute, samples, data FROM metric_minutes WHERE minute >= ? AND minute < ?",
      first,
      to,
    )) {
      add(row.minute, row.samples, JSON.parse(row.data) as MinuteData);
    }
    for (const row of this.sql.exec<{ data: string }>(
      "SELECT data FROM metric_hours WHERE hour >= ? AND hour < ?",
      first - (first % HOUR),
      to,
    )) {
      addHour(JSON.parse(row.data) as HourData);
    }
    const h = this.current.get();
    if (h) addHour(h.minutes);
    return [...buckets]
      .sort((a, b) => a[0] - b[0])
      .map(([t, { samples, data }]) => ({
        t,
        samples,
        metrics: Object.fromEntries(
          Object.entries(data).map(([name, [sum, min, max, count]]) => [name, { avg: sum / count, min, max }]),
        ),
      }));
  }
}
