// GET /stats/timeseries and /stats/errors: counts per time bucket (lines by event time) or per
// day, and the errors of a project with its top modules and repeated messages.
import type { BucketMetric, BucketMinutes } from "../contract/buckets";
import { invalidField } from "../contract/errors";
import type { TIMESERIES_METRICS } from "../contract/stats";
import type { Db } from "../db/client";
import { type DailyRow, projectDays } from "../db/repos/stats";
import { iso, utcDay } from "../lib/time";
import { projectHub } from "../stubs/project-hub";
import { freshCounts } from "./fresh-counts";

type TimeseriesMetric = (typeof TIMESERIES_METRICS)[number];
/** How many rankings list. */
const TOP = 10;

const STEP_MS = { "1m": 60_000, "5m": 300_000, "15m": 900_000, "60m": 3_600_000, "1d": 86_400_000 } as const;
type Interval = keyof typeof STEP_MS;
/** A series answers at most this many points (400 past it: ask for a shorter range or a wider interval). */
const MAX_POINTS = 1_500;
const DEFAULT_POINTS = 60;

const LEVEL_METRICS = ["logs_debug", "logs_info", "logs_warn", "logs_error", "logs_fatal"] as const;
const bucketMetricsOf = (metric: TimeseriesMetric): BucketMetric[] =>
  metric === "logs" ? [...LEVEL_METRICS] : metric === "errors" ? ["logs_error", "logs_fatal"] : [metric];
/** The daily_stats column of each metric a day row holds; per-level lines come from hourly buckets. */
const DAY_COLUMN: Partial<Record<TimeseriesMetric, keyof DailyRow>> = {
  logs: "logs",
  errors: "errorLines",
  heartbeats: "heartbeats",
  device_messages_in: "deviceMessagesIn",
  device_messages_out: "deviceMessagesOut",
  api_calls: "apiCalls",
};

/**
 * GET /stats/timeseries: one point per interval from `from` to `to` (aligned down to the
 * interval; both default to the last 60 intervals up to now), zero where nothing was counted.
 * Minute and hour intervals read the project's buckets (by event time for lines). `1d` reads
 * the daily rows (by day of receipt, only days the daily job has written), except per-level
 * lines, which sum the hourly buckets by UTC day.
 */
export async function timeseries(
  env: Env,
  db: Db,
  projectId: string,
  q: { metric: TimeseriesMetric; interval: Interval; from?: number; to?: number },
  now: number,
) {
  await freshCounts(env, [projectId]);
  const step = STEP_MS[q.interval];
  const down = (ms: number) => ms - (ms % step);
  const to = q.to !== undefined ? down(q.to + step - 1) : down(now) + step;
  const from = q.from !== undefined ? down(q.from) : to - DEFAULT_POINTS * step;
  if ((to - from) / step > MAX_POINTS) {
    throw invalidField(
      "query",
      "from",
      `at most ${MAX_POINTS} points at once: shorten the range or widen the interval`,
      "too_many_points",
    );
  }
  const values = new Map<number, number>();
  const column = DAY_COLUMN[q.metric];
  if (q.interval === "1d" && column) {
    for (const d of await projectDays(db, projectId, utcDay(from), utcDay(to - 1)))
      values.set(Date.parse(d.date), d[column] as number);
  } else {
    const minutes = q.interval === "1d" ? 60 : (Number(q.interval.slice(0, -1)) as BucketMinutes);
    for (const b of await projectHub(env, projectId).series(minutes, bucketMetricsOf(q.metric), from, to)) {
      const at = down(b.start);
      values.set(at, (values.get(at) ?? 0) + b.n);
    }
  }
  const points = [];
  for (let t = from; t < to; t += step) points.push({ t: iso(t), value: values.get(t) ?? 0 });
  return { metric: q.metric, interval: q.interval, points };
}

/**
 * GET /stats/errors: ERROR and FATAL lines over time (the `errors` series), and over the
 * range's UTC days, the modules with the most of them and the most repeated messages (grouped
 * by shape: numbers and long hex ids folded to `#`).
 */
export async function errorStats(
  env: Env,
  db: Db,
  projectId: string,
  q: { interval: Interval; from?: number; to?: number },
  now: number,
) {
  const series = await timeseries(env, db, projectId, { ...q, metric: "errors" }, now);
  const first = series.points[0]?.t ?? iso(now);
  const last = series.points.at(-1)?.t ?? iso(now);
  const tops = await projectHub(env, projectId).topErrors(first.slice(0, 10), last.slice(0, 10), TOP);
  return {
    project_id: projectId,
    interval: q.interval,
    points: series.points,
    total: series.points.reduce((n, p) => n + p.value, 0),
    top_modules: tops.modules.map((m) => ({ module: m.key, errors: m.errors })),
    top_messages: tops.messages.map((m) => ({ message: m.key, count: m.errors })),
  };
}
