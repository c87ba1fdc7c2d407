// The words of LogQL that every part of it uses: fleetbeat's stream labels, a label matcher, a
// line filter, and Loki's durations (src/contract/logql.ts puts them together as a query).
import type { RegexWork } from "./logql-regex";

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
type FilterOp = "|=" | "!=" | "|~" | "!~";

export interface LabelMatcher {
  label: LokiLabel;
  op: MatchOp;
  value: string;
  /**
   * Whether a stream's value (missing labels are "", as in Loki) passes this matcher; a regex counts its work
   * in `work`.
   */
  test: (value: string, work?: RegexWork) => boolean;
}

export interface LineFilter {
  op: FilterOp;
  /** The first value; `values` holds all of them (`|= "a" or "b"`). */
  value: string;
  values: string[];
  test: (line: string, work?: RegexWork) => boolean;
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
