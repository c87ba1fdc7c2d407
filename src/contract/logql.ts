// The LogQL that the Loki-compatible read API (/loki/api/v1, src/routes/loki.ts) answers, as data:
// a log query is a stream selector on fleetbeat's labels, the line filters that read the line as
// stored, and the pipeline stages after them (src/contract/logql-pipeline.ts); a metric query
// (src/contract/logql-metric.ts) counts a log query's lines. The text is parsed with Grafana's own
// grammar (src/contract/logql-parse.ts); regexes are RE2 with bounded work (logql-regex.ts).
import { z } from "zod";
import { parseIsoMicros } from "../lib/time";
import { invalidField } from "./errors";
import { LEVELS } from "./levels";
import type { Stage } from "./logql-pipeline";
import type { RegexWork } from "./logql-regex";

export { compileRegex, type RegexBounds, RegexWork } from "./logql-regex";
export {
  DETECTED_LEVEL,
  DEVICE_LABELS,
  type LabelMatcher,
  type Labels,
  type LineFilter,
  LOKI_LABELS,
  type LokiLabel,
  type MatchOp,
  parseDurationUs,
  type StreamLabels,
} from "./logql-terms";

import {
  DEVICE_LABELS,
  type LabelMatcher,
  type LineFilter,
  type LokiLabel,
  parseDurationUs,
  type StreamLabels,
} from "./logql-terms";

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

/**
 * Whether any matcher needs the device registry (dsn, device_type, environment, or a device_id other than one
 * exact id).
 */
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

const STEP_FORMAT = "step: a duration such as 15s or float seconds, at least 1ms";

/** A query's `step`: a duration (15s, 2000ms) or float seconds, as Grafana sends it; µs. */
const lokiStep = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const us = parseDurationUs(s);
    if (!Number.isFinite(us) || us < 1000) {
      ctx.addIssue({ code: "custom", message: STEP_FORMAT });
      return z.NEVER;
    }
    return Math.round(us);
  });

/** A metric query's step in µs, from query_range's `step` (which a log query ignores, whatever it holds). */
export function metricStepUs(step: string | undefined): number | undefined {
  if (step === undefined) return undefined;
  const parsed = lokiStep.safeParse(step);
  if (!parsed.success) throw invalidField("query", "step", STEP_FORMAT);
  return parsed.data;
}

/**
 * query_range and query (instant) parameters. `step` is a metric query's resolution (metricStepUs);
 * `interval` is ignored.
 */
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
  step: z.string().max(64).optional(),
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
