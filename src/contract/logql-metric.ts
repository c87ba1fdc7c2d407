// LogQL metric queries over log streams, and their evaluation from lines counted in time buckets.
// A range aggregation (count_over_time, rate, bytes_over_time, bytes_rate) of a log query over
// `[range]`, under any nesting of sum, avg, count, min, max and topk with by/without. Evaluated
// as Loki does: at each step t from start to end (inclusive), over the window (t - offset -
// range, t - offset]; a series has no point where its window holds no line. The lines arrive
// counted per series in buckets whose width divides both the range and the step, aligned so
// that every window is a whole number of buckets: no line is counted in a window it is not in.
import type { Labels, LogQuery } from "./logql";

export type RangeOp = "count_over_time" | "rate" | "bytes_over_time" | "bytes_rate";
export type VectorOp = "sum" | "avg" | "count" | "min" | "max" | "topk";

export interface RangeAggregation {
  kind: "range";
  op: RangeOp;
  log: LogQuery;
  rangeUs: number;
  offsetUs: number;
}

export interface VectorAggregation {
  kind: "vector";
  op: VectorOp;
  /** topk's k. */
  k?: number;
  grouping?: { without: boolean; labels: string[] };
  inner: MetricExpr;
}

export type MetricExpr = RangeAggregation | VectorAggregation;

/** The range aggregation every metric query of the subset holds exactly one of. */
export const rangeAggregationOf = (e: MetricExpr): RangeAggregation =>
  e.kind === "range" ? e : rangeAggregationOf(e.inner);

/** Whether the query counts bytes rather than lines. */
export const countsBytes = (e: MetricExpr) => rangeAggregationOf(e).op.startsWith("bytes");

/**
 * The steps a query is evaluated at, µs: from start to end inclusive, `step` apart. An instant query has
 * start = end.
 */
export interface Grid {
  start: number;
  end: number;
  step: number;
}

/** Buckets of `width` µs: the bucket of a time t starts at the largest b ≤ t with b ≡ offset (mod width). */
export interface Buckets {
  width: number;
  offset: number;
}

/** Lines (or bytes) of one series per bucket start. */
export interface BucketSeries {
  labels: Labels;
  buckets: Map<number, number>;
}

export interface Series {
  labels: Labels;
  /** [time µs, value]. */
  points: [number, number][];
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const mod = (a: number, m: number) => ((a % m) + m) % m;

/** The steps of a grid. */
function stepsOf(grid: Grid): number[] {
  const out: number[] = [];
  for (let t = grid.start; t <= grid.end; t += grid.step) out.push(t);
  return out;
}

/**
 * The buckets that tile every window of the query on this grid, and the event times [from, to)
 * they must cover. An instant query has one window, one bucket wide.
 */
export function bucketsFor(r: RangeAggregation, grid: Grid): Buckets & { from: number; to: number } {
  const width = grid.start === grid.end ? r.rangeUs : gcd(r.rangeUs, grid.step);
  // A window (t - offset - range, t - offset] in µs is [t - offset - range + 1, t - offset + 1).
  return {
    width,
    offset: mod(grid.start - r.offsetUs + 1, width),
    from: grid.start - r.offsetUs - r.rangeUs + 1,
    to: grid.end - r.offsetUs + 1,
  };
}

/** The start of the bucket a time falls in. */
export const bucketOf = (ts: number, b: Buckets) => Math.floor((ts - b.offset) / b.width) * b.width + b.offset;

/** Evaluates a metric query over counted series at each step of the grid. */
export function evaluate(expr: MetricExpr, counted: BucketSeries[], grid: Grid): Series[] {
  const steps = stepsOf(grid);
  return sortSeries(evaluateAt(expr, counted, steps));
}

function evaluateAt(expr: MetricExpr, counted: BucketSeries[], steps: number[]): Series[] {
  if (expr.kind === "range") return counted.map((s) => windows(expr, s, steps)).filter((s) => s.points.length > 0);
  const inner = evaluateAt(expr.inner, counted, steps).map((s) => {
    const group = grouped(s.labels, expr.grouping);
    return { labels: s.labels, group, groupKey: labelKey(group), at: new Map(s.points) };
  });
  // Each step on its own: the inner series' values at it, grouped.
  const out = new Map<string, Series>();
  for (const t of steps) {
    const groups = new Map<string, { labels: Labels; members: { labels: Labels; v: number }[] }>();
    for (const s of inner) {
      const v = s.at.get(t);
      if (v === undefined) continue;
      const g = groups.get(s.groupKey) ?? { labels: s.group, members: [] };
      g.members.push({ labels: s.labels, v });
      groups.set(s.groupKey, g);
    }
    for (const g of groups.values()) {
      const results =
        expr.op === "topk"
          ? [...g.members].sort((a, b) => b.v - a.v).slice(0, expr.k ?? 1)
          : [
              {
                labels: g.labels,
                v: aggregate(
                  expr.op,
                  g.members.map((m) => m.v),
                ),
              },
            ];
      for (const r of results) {
        const key = labelKey(r.labels);
        const s = out.get(key) ?? { labels: r.labels, points: [] };
        s.points.push([t, r.v]);
        out.set(key, s);
      }
    }
  }
  return [...out.values()];
}

/** A range aggregation of one series at each step: the sum of the buckets in its window, per second for rates. */
function windows(r: RangeAggregation, s: BucketSeries, steps: number[]): Series {
  const starts = [...s.buckets.keys()].sort((a, b) => a - b);
  const prefix = [0];
  for (const b of starts) prefix.push(prefix[prefix.length - 1]! + s.buckets.get(b)!);
  const firstAtOrAfter = (t: number) => {
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const points: [number, number][] = [];
  for (const t of steps) {
    const i = firstAtOrAfter(t - r.offsetUs - r.rangeUs + 1);
    const j = firstAtOrAfter(t - r.offsetUs + 1);
    if (j === i) continue;
    const sum = prefix[j]! - prefix[i]!;
    points.push([t, r.op === "rate" || r.op === "bytes_rate" ? sum / (r.rangeUs / 1e6) : sum]);
  }
  return { labels: s.labels, points };
}

function aggregate(op: Exclude<VectorOp, "topk">, values: number[]): number {
  switch (op) {
    case "sum":
      return values.reduce((a, b) => a + b, 0);
    case "avg":
      return values.reduce((a, b) => a + b, 0) / values.length;
    case "count":
      return values.length;
    case "min":
      return Math.min(...values);
    case "max":
      return Math.max(...values);
  }
}

/**
 * A series' labels as a grouping keeps them: `by` the listed ones it has, `without` all but those, none
 * without a grouping.
 */
function grouped(labels: Labels, grouping: VectorAggregation["grouping"]): Labels {
  if (!grouping) return {};
  return Object.fromEntries(Object.entries(labels).filter(([k]) => grouping.labels.includes(k) !== grouping.without));
}

/** A label set as a key: its pairs sorted by name. */
export const labelKey = (labels: Labels) =>
  JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

const sortSeries = (series: Series[]) =>
  series.sort((a, b) =>
    labelKey(a.labels) < labelKey(b.labels) ? -1 : labelKey(a.labels) > labelKey(b.labels) ? 1 : 0,
  );
