// The LogQL that the Loki-compatible read API (/loki/api/v1, src/routes/loki.ts) answers, as data:
// a log query is a stream selector on fleetbeat's labels, the line filters that read the line as
// stored, and the pipeline stages after them (src/contract/logql-pipeline.ts); a metric query
// (src/contract/logql-metric.ts) counts a log query's lines. The text is parsed with Grafana's own
// grammar (src/contract/logql-parse.ts); regexes are RE2 with bounded work (logql-regex.ts).
import { z } from "zod";
import { LEVELS } from "./levels";
import type { RegexWork } from "./logql-regex";
import type { Stage } from "./logql-pipeline";
import { parseIsoMicros } from "../lib/time";

export { RegexWork, type RegexBounds, compileRegex } from "./logql-regex";

/** The labels of a stream: who logged it (device, from the registry), and the line's level, module and session. */
export const LOKI_LABELS = ["device_id", "dsn", "device_type", "environment", "session_id", "module", "level"] as const;
export type LokiLabel = (typeof LOKI_LABELS)[number];
export type StreamLabels = Partial<Record<LokiLabel, string>>;
/** Labels of a line once a pipeline ran: the stream's, and any a parser extracted. */
export type Labels = Record<string, string>;

/** Labels that come from the device registry rather than from the line itself. */
export const DEVICE_LABELS: readonly LokiLabel[] = ["device_id", "dsn", "device_type", "environment"];
/**
 * Loki 3's name for a line's level, lower case (`error`), which Grafana's log volume groups by
 * beside `level`: fleetbeat derives it from `level`, for metric groupings and label filters.
 */
export const DETECTED_LEVEL = "detected_level";

export type MatchOp = "=" | "!=" | "=~" | "!~";
export type FilterOp = "|=" | "!=" | "|~" | "!~";

export interface LabelMatcher {
  label: LokiLabel;
  op: MatchOp;
  value: string;
  /** Whether a stream's value (missing labels are "", as in Loki) passes this matcher; a regex counts its work in `work`. */
  test: (value: string, work?: RegexWork) => boolean;
}

export interface LineFilter {
  op: FilterOp;
  /** The first value; `values` holds all of them (`|= "a" or "b"`). */
  value: string;
  values: string[];
  test: (line: string, work?: RegexWork) => boolean;
}

export interface LogQuery {
  matchers: LabelMatcher[];
  /** Line filters before any parser or formatter: they read the line as stored. */
  filters: LineFilter[];
  /** The rest of the pipeline, in order. */
  stages: Stage[];
}

export const MAX_QUERY_CHARS = 4096;

/** Grafana's "Save & test" asks for this instant query and expects the vector 2. */
export const isHealthCheckQuery = (query: string) => query.replace(/\s+/g, "") === "vector(1)+vector(1)";

/** Whether a stream with these labels passes every matcher (a missing label is "", as in Loki). */
export const matchesLabels = (q: Pick<LogQuery, "matchers">, labels: StreamLabels, work: RegexWork) =>
  q.matchers.every((m) => m.test(labels[m.label] ?? "", work));

/** Whether a line passes every line filter before the pipeline's stages. */
export const matchesLine = (q: LogQuery, line: string, work: RegexWork) => q.filters.every((f) => f.test(line, work));

/** The value every matching stream has for `label`, when an `=` matcher names one. */
export function exactValue(q: Pick<LogQuery, "matchers">, label: LokiLabel): string | undefined {
  const m = q.matchers.find((x) => x.label === label && x.op === "=" && x.value !== "");
  return m?.value;
}

/** The levels the matchers let through (all five when none names the level). */
export const allowedLevels = (q: Pick<LogQuery, "matchers">) =>
  LEVELS.filter((l) => q.matchers.every((m) => m.label !== "level" || m.test(l)));

/** Whether any matcher needs the device registry (dsn, device_type, environment, or a device_id other than one exact id). */
export const needsRegistry = (q: Pick<LogQuery, "matchers">) =>
  q.matchers.some(
    (m) => DEVICE_LABELS.includes(m.label) && !(m.label === "device_id" && m.op === "=" && m.value !== ""),
  );

// Times and parameters, as Loki reads them.

const NS_DIGITS = /^\d+$/;

/**
 * A Loki timestamp, in µs: nanoseconds since the epoch (or seconds when 10 digits or fewer),
 * float seconds, or RFC 3339. NaN when none of these.
 */
export function parseLokiTime(text: string): number {
  const t = text.trim();
  if (NS_DIGITS.test(t)) {
    if (t.length <= 10) return Number(t) * 1e6;
    return Number(BigInt(t) / 1000n);
  }
  if (/^\d+\.\d*$/.test(t)) return Math.round(Number(t) * 1e6);
  return /^\d{4}-\d{2}-\d{2}T/.test(t) ? parseIsoMicros(t) : NaN;
}

const DURATION_UNIT_US: Record<string, number> = {
  ns: 1e-3,
  us: 1,
  µs: 1,
  ms: 1e3,
  s: 1e6,
  m: 6e7,
  h: 3.6e9,
  d: 8.64e10,
  w: 6.048e11,
  y: 3.1536e13,
};

/**
 * A duration in µs, as Loki reads one: Prometheus's (1h30m, 500ms, 7d) or Go's (1.5ms, 300µs), or
 * float seconds; NaN when none of these.
 */
export function parseDurationUs(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1e6);
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w|y))+$/.test(t)) return NaN;
  let us = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)/g))
    us += Number(m[1]) * DURATION_UNIT_US[m[2]!]!;
  return us;
}

/** A timestamp in µs as Loki writes one: nanoseconds, as a string. */
export const nanos = (us: number) => (us === 0 ? "0" : `${us}000`);

const lokiTime = (what: string) =>
  z
    .string()
    .max(40)
    .transform((s, ctx) => {
      const us = parseLokiTime(s);
      if (!Number.isFinite(us) || us < 0 || us > Number.MAX_SAFE_INTEGER) {
        ctx.addIssue({ code: "custom", message: `${what}: a nanosecond Unix epoch, float seconds or RFC 3339 time` });
        return z.NEVER;
      }
      return us;
    });

/** The most lines one query answers (Loki's default max_entries_limit_per_query). */
const MAX_LOKI_LIMIT = 5000;

/** A query's `step`: a duration (15s, 2000ms) or float seconds, as Grafana sends it; µs. */
const lokiStep = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const us = parseDurationUs(s);
    if (!Number.isFinite(us) || us < 1000) {
      ctx.addIssue({ code: "custom", message: "step: a duration such as 15s or float seconds, at least 1ms" });
      return z.NEVER;
    }
    return Math.round(us);
  });

/** query_range and query (instant) parameters. `step` is a metric query's resolution; `interval` is ignored. */
export const LokiQueryParams = z.object({
  query: z.string().max(MAX_QUERY_CHARS),
  start: lokiTime("start").optional(),
  end: lokiTime("end").optional(),
  time: lokiTime("time").optional(),
  since: z
    .string()
    .max(32)
    .transform((s, ctx) => {
      const us = parseDurationUs(s);
      if (!Number.isFinite(us) || us <= 0) {
        ctx.addIssue({ code: "custom", message: "since: a duration such as 1h or 30m" });
        return z.NEVER;
      }
      return us;
    })
    .optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_LOKI_LIMIT, `max entries limit per query exceeded (at most ${MAX_LOKI_LIMIT})`)
    .default(100),
  direction: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(["backward", "forward"], { error: "direction: backward or forward" }))
    .default("backward"),
  step: lokiStep.optional(),
  interval: z.string().max(64).optional(),
});
export type LokiQueryParams = z.output<typeof LokiQueryParams>;

/** labels, label/<name>/values and series: a time range, and (values, series) a selector. */
export const LokiLabelParams = z.object({
  start: lokiTime("start").optional(),
  end: lokiTime("end").optional(),
  since: LokiQueryParams.shape.since,
  query: z.string().max(MAX_QUERY_CHARS).optional(),
});

/** tail: a query, where the backfill starts, how many lines it holds; delay_for is accepted and ignored. */
export const LokiTailParams = z.object({
  query: z.string().max(MAX_QUERY_CHARS),
  start: lokiTime("start").optional(),
  limit: LokiQueryParams.shape.limit,
  delay_for: z.coerce.number().int().min(0).max(5, "delay_for: at most 5 seconds").optional(),
});

/** index/volume and index/volume_range: a selector, its range, and how its volumes are grouped. */
export const LokiVolumeParams = z.object({
  query: z.string().max(MAX_QUERY_CHARS),
  start: lokiTime("start").optional(),
  end: lokiTime("end").optional(),
  since: LokiQueryParams.shape.since,
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  step: lokiStep.optional(),
  targetLabels: z
    .string()
    .max(512)
    .transform((s) =>
      s
        .split(",")
        .map((l) => l.trim())
        .filter((l) => l !== ""),
    )
    .optional(),
  aggregateBy: z.enum(["series", "labels"], { error: "aggregateBy: series or labels" }).default("series"),
});
export type LokiVolumeParams = z.output<typeof LokiVolumeParams>;

/** detected_fields: a query, its range, the lines sampled and the fields answered at most. */
export const LokiDetectedFieldsParams = z.object({
  query: z.string().max(MAX_QUERY_CHARS),
  start: lokiTime("start").optional(),
  end: lokiTime("end").optional(),
  since: LokiQueryParams.shape.since,
  line_limit: z.coerce.number().int().min(1).max(MAX_LOKI_LIMIT).default(1000),
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
});
