// Metric queries evaluated from bucketed counts, as Loki evaluates them: windows (t - range, t]
// at each step, no point where a window holds no line, and sum/avg/count/min/max/topk with
// by and without.
import { describe, expect, it } from "vitest";
import type { Labels } from "../../src/contract/logql";
import {
  type BucketSeries,
  bucketOf,
  bucketsFor,
  evaluate,
  type Grid,
  type MetricExpr,
  rangeAggregationOf,
} from "../../src/contract/logql-metric";
import { parseQuery } from "../../src/contract/logql-parse";

const S = 1_000_000;

function metric(query: string): MetricExpr {
  const q = parseQuery(query);
  if (q.kind !== "metric") throw new Error("not a metric query");
  return q.metric;
}

/** Lines at these times (µs) per stream, bucketed as the shards would for this query and grid. */
function counted(expr: MetricExpr, grid: Grid, streams: [Labels, number[]][]): BucketSeries[] {
  const b = bucketsFor(rangeAggregationOf(expr), grid);
  return streams.map(([labels, times]) => {
    const buckets = new Map<number, number>();
    for (const t of times.filter((t) => t >= b.from && t < b.to))
      buckets.set(bucketOf(t, b), (buckets.get(bucketOf(t, b)) ?? 0) + 1);
    return { labels, buckets };
  });
}

const run = (query: string, grid: Grid, streams: [Labels, number[]][]) => {
  const expr = metric(query);
  return evaluate(expr, counted(expr, grid, streams), grid);
};

const error = { module: "drive", level: "ERROR" };
const info = { module: "drive", level: "INFO" };
const nav = { module: "nav", level: "INFO" };

describe("range aggregations", () => {
  const grid = { start: 100 * S, end: 160 * S, step: 30 * S };

  it("count_over_time counts (t - range, t] at each step and leaves out empty windows", () => {
    // Windows: (70, 100], (100, 130], (130, 160].
    expect(
      run('count_over_time({module="drive"}[30s])', grid, [[error, [70 * S, 71 * S, 100 * S, 101 * S, 150 * S]]]),
    ).toEqual([
      {
        labels: error,
        points: [
          [100 * S, 2],
          [130 * S, 1],
          [160 * S, 1],
        ],
      },
    ]);
    expect(run('count_over_time({module="drive"}[30s])', grid, [[error, [140 * S]]])).toEqual([
      { labels: error, points: [[160 * S, 1]] },
    ]);
  });

  it("windows wider than the step overlap, and offset shifts them back", () => {
    expect(run("count_over_time({}[1m])", grid, [[error, [90 * S, 125 * S]]])[0]!.points).toEqual([
      [100 * S, 1],
      [130 * S, 2],
      [160 * S, 1],
    ]);
    expect(run("count_over_time({}[30s] offset 30s)", grid, [[error, [90 * S]]])[0]!.points).toEqual([[130 * S, 1]]);
  });

  it("rate divides by the range in seconds; a range that is no multiple of the step still counts exactly", () => {
    expect(run("rate({}[30s])", grid, [[error, [101 * S, 102 * S, 103 * S]]])[0]!.points).toEqual([[130 * S, 0.1]]);
    // 20 s windows on a 30 s step: (80,100], (110,130], (140,160].
    expect(
      run("count_over_time({}[20s])", grid, [[error, [81 * S, 105 * S, 111 * S, 139 * S, 141 * S]]])[0]!.points,
    ).toEqual([
      [100 * S, 1],
      [130 * S, 1],
      [160 * S, 1],
    ]);
  });
});

describe("vector aggregations", () => {
  const grid = { start: 60 * S, end: 120 * S, step: 60 * S };
  const streams: [Labels, number[]][] = [
    [error, [10 * S, 70 * S, 80 * S]],
    [info, [20 * S, 30 * S, 40 * S]],
    [nav, [90 * S]],
  ];

  it("sum by, sum without, and sum of everything", () => {
    expect(run("sum by (level) (count_over_time({}[1m]))", grid, streams)).toEqual([
      {
        labels: { level: "ERROR" },
        points: [
          [60 * S, 1],
          [120 * S, 2],
        ],
      },
      {
        labels: { level: "INFO" },
        points: [
          [60 * S, 3],
          [120 * S, 1],
        ],
      },
    ]);
    expect(run("sum without (level) (count_over_time({}[1m]))", grid, streams)).toEqual([
      {
        labels: { module: "drive" },
        points: [
          [60 * S, 4],
          [120 * S, 2],
        ],
      },
      { labels: { module: "nav" }, points: [[120 * S, 1]] },
    ]);
    expect(run("sum(count_over_time({}[1m]))", grid, streams)).toEqual([
      {
        labels: {},
        points: [
          [60 * S, 4],
          [120 * S, 3],
        ],
      },
    ]);
  });

  it("avg, count, min and max over the series present at each step", () => {
    const at120 = (q: string) => run(q, grid, streams)[0]!.points.find(([t]) => t === 120 * S)![1];
    // At 120 s the INFO stream has no line in its window: two series, 2 and 1.
    expect(at120("avg(count_over_time({}[1m]))")).toBe(1.5);
    expect(at120("count(count_over_time({}[1m]))")).toBe(2);
    expect(at120("min(count_over_time({}[1m]))")).toBe(1);
    expect(at120("max(count_over_time({}[1m]))")).toBe(2);
  });

  it("topk keeps the k largest series of each group with their labels, step by step", () => {
    expect(run("topk(1, count_over_time({}[1m]))", grid, streams)).toEqual([
      { labels: error, points: [[120 * S, 2]] },
      { labels: info, points: [[60 * S, 3]] },
    ]);
    expect(run("topk(1, sum by (module) (count_over_time({}[1m]))) by (module)", grid, streams)).toHaveLength(2);
  });

  it("an instant query is one window ending at its time", () => {
    const at = { start: 100 * S, end: 100 * S, step: 1 };
    expect(run("sum by (module) (count_over_time({}[100s]))", at, streams)).toEqual([
      { labels: { module: "drive" }, points: [[100 * S, 6]] },
      { labels: { module: "nav" }, points: [[100 * S, 1]] },
    ]);
  });
});
