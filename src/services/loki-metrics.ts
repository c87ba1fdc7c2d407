// LogQL metric queries (src/contract/logql-metric.ts), answered from what the log shards count.
//
// A query whose log part is a selector (and drop/keep) is answered from the shards' counts
// (durable-objects/log-shard/line-counts.ts, as GET /logs/volume is): one call per shard in use,
// grouped by time bucket and by only the line dimensions its labels need (`sum by (level)` asks
// for level and bucket), no line returned to the Worker. A line filter or a parser needs each
// line's text: the lines are then read as a log query reads them, at most MAX_SCANNED of them,
// newest first, with the query's regex work bounded, and the answer says, as a Loki warning, from
// which time on every line was counted. Counts cover the hot store; where they stop short (a
// shard's scan bound, archived lines) the answer says so the same way.
import { ApiError } from "../contract/errors";
import { LEVELS } from "../contract/levels";
import type { CountDimension } from "../contract/log-counts";
import { DETECTED_LEVEL, DEVICE_LABELS, type Labels, type LogQuery, RegexWork } from "../contract/logql";
import {
  type BucketSeries,
  type Buckets,
  bucketOf,
  bucketsFor,
  countsBytes,
  evaluate,
  type Grid,
  labelKey,
  type MetricExpr,
  rangeAggregationOf,
  type Series,
} from "../contract/logql-metric";
import { readsLines, relabel } from "../contract/logql-pipeline";
import type { Db } from "../db/client";
import { isoMicros } from "../lib/time";
import { countInShards } from "./log-counts";
import { searchStream } from "./log-search";
import { countFilter, DeviceLabels, lokiScope, MAX_SCANNED, passing, pushed, REGEX_WORK, SCAN_STEP } from "./loki";

/** The most samples one series may have, as Loki (max 11,000 points per timeseries). */
const MAX_POINTS = 11_000;
/** The most buckets a count may be asked for: a range that is no multiple of the step makes narrow buckets. */
const MAX_BUCKETS = 50_000;
/** The most series an answer holds, as Loki's default max_query_series. */
const MAX_SERIES = 500;
/** Counted series times steps evaluated at most: about a second and a half of the Worker's CPU. */
const MAX_POINTS_EVALUATED = 1_000_000;

export interface MetricAnswer {
  series: Series[];
  warning?: string;
}

const utf8 = new TextEncoder();

/** Evaluates a metric query over a grid of the project's lines. */
export async function lokiMetric(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  expr: MetricExpr,
  grid: Grid,
): Promise<MetricAnswer> {
  if (grid.start !== grid.end && Math.floor((grid.end - grid.start) / grid.step) + 1 > MAX_POINTS) {
    throw new ApiError(
      "bad_request",
      `exceeded maximum resolution of ${MAX_POINTS} points per timeseries. Try increasing the value of the step parameter`,
    );
  }
  const r = rangeAggregationOf(expr);
  const b = bucketsFor(r, grid);
  if ((b.to - b.from) / b.width > MAX_BUCKETS) {
    throw new ApiError(
      "bad_request",
      `the range [${r.rangeUs / 1e6}s] and the step ${grid.step / 1e6}s need more than ${MAX_BUCKETS} buckets: make the range a multiple of the step`,
    );
  }
  const work = new RegexWork(REGEX_WORK);
  const labels = new DeviceLabels(db, projectId);
  const scope = await lokiScope(env, db, orgId, projectId, r.log, labels, work);
  if (!scope) return { series: [] };
  const bytes = countsBytes(expr);
  const counted =
    r.log.filters.length > 0 || readsLines(r.log.stages)
      ? await scanned(env, r.log, scope, b, { bytes, labels, work })
      : await fromCounts(env, r.log, scope, b, { bytes, labels, needed: neededLabels(expr) });
  const steps = grid.start === grid.end ? 1 : Math.floor((grid.end - grid.start) / grid.step) + 1;
  if (counted.series.length * steps > MAX_POINTS_EVALUATED) {
    throw new ApiError(
      "bad_request",
      `the query counts ${counted.series.length} series at ${steps} steps, more than ${MAX_POINTS_EVALUATED} points: widen the step, narrow the time range, add label matchers, or group with sum by (…)`,
    );
  }
  const series = evaluate(expr, counted.series, grid);
  if (series.length > MAX_SERIES) {
    throw new ApiError(
      "bad_request",
      `maximum of series (${MAX_SERIES}) reached for a single query: add label matchers or group with sum by (…)`,
    );
  }
  return { series, warning: counted.warning };
}

/** The labels a query's answer can show: all of a stream's, or only those its groupings keep. */
function neededLabels(e: MetricExpr): Set<string> | "all" {
  if (e.kind === "range" || e.op === "topk") return e.kind === "range" ? "all" : neededLabels(e.inner);
  if (!e.grouping) return new Set();
  const inner = neededLabels(e.inner);
  if (e.grouping.without) return inner;
  return new Set(e.grouping.labels.filter((l) => inner === "all" || inner.has(l)));
}

type Counted = { series: BucketSeries[]; warning?: string };

/** Series counted by the shards, grouped by the line dimensions the answer's labels and the unpushed matchers need. */
async function fromCounts(
  env: Env,
  q: LogQuery,
  scope: NonNullable<Awaited<ReturnType<typeof lokiScope>>>,
  b: Buckets & { from: number; to: number },
  opts: { bytes: boolean; labels: DeviceLabels; needed: Set<string> | "all" },
): Promise<Counted> {
  const wants = (l: string) => opts.needed === "all" || opts.needed.has(l);
  const filtered = (l: "module" | "session_id") => q.matchers.some((m) => m.label === l && !pushed(q, l));
  const dims: CountDimension[] = [];
  if (DEVICE_LABELS.some(wants)) dims.push("device_id");
  if (wants("module") || filtered("module")) dims.push("module");
  if (wants("session_id") || filtered("session_id")) dims.push("session_id");
  if (wants("level") || wants(DETECTED_LEVEL)) dims.push("level");
  const answers = await countInShards(env, scope.sources, {
    filter: countFilter(scope, b),
    groupings: [{ by: [...dims, "bucket"] }],
    stepUs: b.width,
    bucketOffsetUs: b.offset,
    sum: opts.bytes ? "bytes" : "lines",
  });
  const groups = answers.flatMap((a) => a.groupings[0]!.groups);
  if (dims.includes("device_id")) await opts.labels.load(groups.map(([key]) => String(key[0])));
  const work = new RegexWork(REGEX_WORK);
  const series = new Map<string, BucketSeries>();
  for (const [key, n] of groups) {
    const at = (d: CountDimension) => key[dims.indexOf(d)];
    const line = {
      device_id: dims.includes("device_id") ? String(at("device_id")) : "",
      module: dims.includes("module") ? String(at("module")) : "",
      session_id: dims.includes("session_id") ? (at("session_id") as string | null) : null,
      level: dims.includes("level") ? LEVELS[Number(at("level"))]! : LEVELS[0],
    };
    // Matchers the shards could not apply (a module or session regex, !=) hold on the group's values.
    const stream: Labels = opts.labels.of(line);
    if (!q.matchers.every((m) => pushed(q, m.label) || m.test(stream[m.label] ?? "", work))) continue;
    const kept: Labels = {};
    for (const [k, v] of Object.entries(stream)) {
      const dim = DEVICE_LABELS.includes(k as never) ? "device_id" : k;
      if (dims.includes(dim as CountDimension) && (opts.needed === "all" || opts.needed.has(k))) kept[k] = v;
    }
    if (dims.includes("level") && wants(DETECTED_LEVEL)) kept[DETECTED_LEVEL] = line.level.toLowerCase();
    add(series, relabel(q.stages, kept), Number(key[dims.length]), n);
  }
  const from = answers.reduce<number | undefined>(
    (m, a) => (a.countedFrom === undefined ? m : Math.max(m ?? a.countedFrom, a.countedFrom)),
    undefined,
  );
  return {
    series: [...series.values()],
    warning:
      from === undefined
        ? undefined
        : `fleetbeat counted every matching line from ${isoMicros(from)} on; before it, counts may be short (archived lines, or more than a shard counts at once): narrow the time range or add label matchers`,
  };
}

/** Series from the lines themselves, read newest first, at most MAX_SCANNED of them. */
async function scanned(
  env: Env,
  q: LogQuery,
  scope: NonNullable<Awaited<ReturnType<typeof lokiScope>>>,
  b: Buckets & { from: number; to: number },
  opts: { bytes: boolean; labels: DeviceLabels; work: RegexWork },
): Promise<Counted> {
  const stream = searchStream(
    env,
    scope.sources,
    { ...scope.search, from: b.from, to: b.to, order: "desc" },
    undefined,
    SCAN_STEP,
  );
  const series = new Map<string, BucketSeries>();
  if (!stream) return { series: [] };
  let read = 0;
  let oldest: number | undefined;
  for (;;) {
    const page = await stream.next(Math.min(SCAN_STEP, MAX_SCANNED - read));
    read += page.rows.length;
    await opts.labels.load(page.rows.map((l) => l.device_id));
    for (const p of await passing(q, page.rows, opts.labels, opts.work, { detectedLevel: true })) {
      add(series, p.labels, bucketOf(p.line.timestamp_us, b), opts.bytes ? utf8.encode(p.text).length : 1);
    }
    if (page.rows.length > 0) oldest = page.rows[page.rows.length - 1]!.timestamp_us;
    if (page.rows.length < SCAN_STEP && !page.stop) return { series: [...series.values()] };
    if (read >= MAX_SCANNED) {
      return {
        series: [...series.values()],
        warning: `fleetbeat read the newest ${read} lines for this metric query (a line filter or parser reads each line) and counted every match from ${isoMicros(oldest ?? b.to)} on; before it, counts are short: narrow the time range or add label matchers`,
      };
    }
  }
}

function add(series: Map<string, BucketSeries>, labels: Labels, bucket: number, n: number) {
  const key = labelKey(labels);
  const s = series.get(key) ?? { labels, buckets: new Map<number, number>() };
  s.buckets.set(bucket, (s.buckets.get(bucket) ?? 0) + n);
  series.set(key, s);
}

/** Loki's step when a range query names none: the range over 250, in whole seconds, at least 1 s. */
export const defaultStepUs = (fromUs: number, toUs: number) =>
  Math.max(Math.floor((toUs - fromUs) / 1e6 / 250), 1) * 1e6;
