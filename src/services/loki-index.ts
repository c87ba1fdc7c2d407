// Loki's index/volume, index/volume_range, detected_fields and detected_field/<name>/values, as
// Grafana calls them.
//
// Volumes are the UTF-8 bytes of the selector's lines per label set, as Loki's are: counted by
// the log shards (the same count as `sum by (…) (bytes_over_time(…))`, src/services/loki-metrics.ts),
// grouped by the selector's labels or `targetLabels`, or, with aggregateBy=labels, per label name.
// Detected fields are what `| json` (for a line that is a JSON object) or `| logfmt` finds in the
// newest `line_limit` matching lines, with each field's type and number of distinct values, and the
// per-line labels (module, session_id, detected_level) as Loki lists structured metadata;
// detected_field/<name>/values lists one field's values in the same sample.
import { DETECTED_LEVEL, type Labels, type LogQuery } from "../contract/logql";
import type { MetricExpr, Series } from "../contract/logql-metric";
import { bytesOf, durationOf, jsonFieldPaths, logfmtFields } from "../contract/logql-pipeline";
import type { Db } from "../db/client";
import { lokiQuery, selectorOnly } from "./loki";
import { lokiMetric } from "./loki-metrics";

export interface VolumeRequest {
  from: number;
  to: number;
  /** volume_range's step, µs; absent for index/volume (one value over the whole range). */
  step?: number;
  limit: number;
  targetLabels?: string[];
  aggregateBy: "series" | "labels";
}

/** A Loki vector or matrix answer. */
export type MetricResult =
  | { resultType: "vector"; result: { metric: Labels; value: [number, string] }[] }
  | { resultType: "matrix"; result: { metric: Labels; values: [number, string][] }[] };

export function metricResult(series: Series[], instant: boolean): MetricResult {
  if (instant) {
    return {
      resultType: "vector",
      result: series.map((s) => ({ metric: s.labels, value: [s.points[0]![0] / 1e6, String(s.points[0]![1])] })),
    };
  }
  return {
    resultType: "matrix",
    result: series.map((s) => ({ metric: s.labels, values: s.points.map(([t, v]) => [t / 1e6, String(v)]) })),
  };
}

/** index/volume (a vector at `to`) and index/volume_range (a matrix, a point per step). */
export async function lokiVolume(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  q: LogQuery,
  p: VolumeRequest,
): Promise<{ result: MetricResult; warning?: string }> {
  selectorOnly(q, "index/volume");
  const targets = p.targetLabels ?? [...new Set(q.matchers.map((m) => m.label as string))];
  const instant = p.step === undefined;
  const rangeUs = instant ? Math.max(p.to - p.from, 1000) : p.step!;
  const expr: MetricExpr = {
    kind: "vector",
    op: "sum",
    grouping: { without: false, labels: targets },
    inner: { kind: "range", op: "bytes_over_time", log: q, rangeUs, offsetUs: 0 },
  };
  const grid = instant ? { start: p.to, end: p.to, step: rangeUs } : { start: p.from, end: p.to, step: p.step! };
  const answer = await lokiMetric(env, db, orgId, projectId, expr, grid);
  // Streams without any of the labels are no one's volume.
  let series = answer.series.filter((s) => targets.length === 0 || Object.keys(s.labels).length > 0);
  if (p.aggregateBy === "labels") series = byLabelName(series, targets);
  const total = (s: Series) => s.points.reduce((sum, [, v]) => sum + v, 0);
  series.sort((a, b) => total(b) - total(a));
  return { result: metricResult(series.slice(0, p.limit), instant), warning: answer.warning };
}

/** Per label name: the volume of every series that has it, as `{name: ""}`. */
function byLabelName(series: Series[], names: string[]): Series[] {
  return names.flatMap((name) => {
    const points = new Map<number, number>();
    for (const s of series) {
      if (!(name in s.labels)) continue;
      for (const [t, v] of s.points) points.set(t, (points.get(t) ?? 0) + v);
    }
    if (points.size === 0) return [];
    return [{ labels: { [name]: "" }, points: [...points.entries()].sort((a, b) => a[0] - b[0]) }];
  });
}

export interface DetectedField {
  label: string;
  type: "string" | "int" | "float" | "boolean" | "duration" | "bytes";
  cardinality: number;
  parsers: ("json" | "logfmt")[] | null;
  jsonPath?: string[];
}

/** Distinct values held per field while sampling; the cardinality saturates there. */
const MAX_DISTINCT = 1000;
/** Per-line labels listed as fields, as Loki lists structured metadata (parsers: null). */
const LINE_LABELS = ["module", "session_id", DETECTED_LEVEL];

interface SampledField {
  values: Set<string>;
  parsers: Set<"json" | "logfmt">;
  path?: string[];
}

/**
 * The fields of the newest `lineLimit` lines the query matches, by name: what `json` (for a line
 * that is a JSON object) or `logfmt` finds, and the per-line labels; each with its distinct values
 * (up to MAX_DISTINCT) and the parsers that found it.
 */
async function sampleFields(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  q: LogQuery,
  p: { from: number; to: number; lineLimit: number },
): Promise<Map<string, SampledField>> {
  const { streams } = await lokiQuery(env, db, orgId, projectId, q, {
    from: p.from,
    to: p.to,
    limit: p.lineLimit,
    direction: "backward",
  });
  const seen = new Map<string, SampledField>();
  const note = (name: string, value: string, parser: "json" | "logfmt" | null, path?: string[]) => {
    let f = seen.get(name);
    if (!f) seen.set(name, (f = { values: new Set(), parsers: new Set(), path }));
    if (f.values.size < MAX_DISTINCT) f.values.add(value);
    if (parser) f.parsers.add(parser);
  };
  for (const s of streams) {
    for (const [, line] of s.values) {
      const json = line.trimStart().startsWith("{") ? jsonFieldPaths(line) : [];
      if (json.length > 0 && json[0]![0] !== "__error__") for (const [k, v, path] of json) note(k, v, "json", path);
      else for (const [k, v] of logfmtFields(line)) note(k, v, "logfmt");
      for (const l of LINE_LABELS) {
        const v = l === DETECTED_LEVEL ? s.stream.level?.toLowerCase() : s.stream[l];
        if (v !== undefined) note(l, v, null);
      }
    }
  }
  return seen;
}

/** detected_fields: the fields of the newest `lineLimit` lines the query matches. */
export async function lokiDetectedFields(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  q: LogQuery,
  p: { from: number; to: number; lineLimit: number; limit: number },
): Promise<{ fields: DetectedField[]; limit: number }> {
  const seen = await sampleFields(env, db, orgId, projectId, q, p);
  const fields = [...seen.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .slice(0, p.limit)
    .map(([label, f]) => ({
      label,
      type: typeOfValues([...f.values]),
      cardinality: f.values.size,
      parsers: f.parsers.size === 0 ? null : [...f.parsers].sort(),
      ...(f.path ? { jsonPath: f.path } : {}),
    }));
  return { fields, limit: p.limit };
}

/**
 * detected_field/<name>/values: the distinct values of one field in the same sample as
 * detected_fields, sorted, at most `limit`; as Loki, `limit` is in the answer only when a value is.
 */
export async function lokiDetectedFieldValues(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  q: LogQuery,
  name: string,
  p: { from: number; to: number; lineLimit: number; limit: number },
): Promise<{ values: string[]; limit?: number }> {
  const field = (await sampleFields(env, db, orgId, projectId, q, p)).get(name);
  const values = [...(field?.values ?? [])].sort().slice(0, p.limit);
  return values.length > 0 ? { values, limit: p.limit } : { values };
}

/** A value's type as Loki guesses it: int, float, boolean, duration, bytes, else string. */
function typeOf(v: string): DetectedField["type"] {
  if (/^[-+]?\d+$/.test(v)) return "int";
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(v)) return "float";
  if (/^(true|false|TRUE|FALSE|True|False|t|f|T|F)$/.test(v)) return "boolean";
  if (!Number.isNaN(durationOf(v))) return "duration";
  if (!Number.isNaN(bytesOf(v)) && /[a-z]/i.test(v)) return "bytes";
  return "string";
}

/** One type for all the values seen: theirs when they agree, float for ints and floats, else string. */
function typeOfValues(values: string[]): DetectedField["type"] {
  const types = new Set(values.map(typeOf));
  if (types.size === 1) return [...types][0]!;
  if ([...types].every((t) => t === "int" || t === "float")) return "float";
  return "string";
}
