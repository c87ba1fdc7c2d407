// Lines counted in groups by the log shards: GET /logs/facets (lines per device, module and
// session), GET /logs/volume (lines per time bucket and level), and what Loki's index/volume
// and volume_range will ask. Each shard counts the lines of its hot store that match a filter,
// grouped by any of a line's device, module, session, level and time bucket, reading at most a
// bounded number of lines (durable-objects/log-shard/line-counts.ts); the Worker merges the
// shards' counts (src/services/log-counts.ts).
import { z } from "zod";
import { projectId } from "./common";
import { invalidField } from "./errors";
import { type LogFilter, LogSearch } from "./logs";

/**
 * What a line can be grouped by. `bucket` is the start (µs since the epoch) of the bucket of
 * `stepUs` its event time falls in (buckets are aligned to the epoch); `level` is 0–4
 * (src/contract/levels.ts); `session_id` is null for a line of no session.
 */
export type CountDimension = "device_id" | "module" | "session_id" | "level" | "bucket";

/** One way of grouping: lines are counted per distinct value of these dimensions. */
interface Grouping {
  by: CountDimension[];
  /** Groups answered at most, the most lines first (ties by key); all when absent. */
  top?: number;
}

/** What a shard is asked to count. Times in µs; `from` and `to` are required (a count is always over a range). */
export interface CountRequest {
  filter: Omit<LogFilter, "order" | "after" | "limit"> & { from: number; to: number };
  groupings: Grouping[];
  /** The bucket width (µs) of a `bucket` dimension. */
  stepUs?: number;
  /** Where buckets start, µs modulo stepUs (0: at multiples of stepUs); Loki's metric windows need other alignments. */
  bucketOffsetUs?: number;
  /**
   * What a group adds up: its lines (the default), or the UTF-8 bytes of their messages (Loki's volumes and
   * bytes_*).
   */
  sum?: "lines" | "bytes";
}

/** A group: its value of each dimension of its grouping, in order, and its lines. */
export type CountGroup = [key: (string | number | null)[], lines: number];

export interface CountAnswer {
  /** One per grouping asked, in order: its top groups, and how many distinct groups there were. */
  groupings: { groups: CountGroup[]; distinct: number }[];
  /** Lines counted (those matching the filter). */
  lines: number;
  /** Lines read to count them. */
  scanned: number;
  /**
   * Present when not every matching line could be counted (the shard stopped at its scan bound,
   * or part of the range is in the archive): every matching line at or after this event time
   * (µs) was counted; before it, counts may be short.
   */
  countedFrom?: number;
}

/** Groups with the most lines first (ties by key), at most `top` (all when absent). Sorts `groups` in place. */
export function ranked(groups: CountGroup[], top?: number): CountGroup[] {
  const keyText = (g: CountGroup) => JSON.stringify(g[0]);
  groups.sort((a, b) => b[1] - a[1] || (keyText(a) < keyText(b) ? -1 : keyText(a) > keyText(b) ? 1 : 0));
  return top === undefined ? groups : groups.slice(0, top);
}

/**
 * Facets list at most this many devices, modules and sessions each (the contract's 500). An object, so tests
 * can lower it.
 */
export const FACETS = { max: 500 };

/** The range a count covers when the query names none: the last 24 hours. */
const DEFAULT_RANGE_US = 24 * 3_600_000_000;

/** GET /logs/facets: a project's lines in [from, to) per device, module and session. */
export const FacetsQuery = z.object({
  project_id: projectId,
  from: LogSearch.shape.from,
  to: LogSearch.shape.to,
});
export type FacetsQuery = z.output<typeof FacetsQuery>;

const UNIT_S = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
type Unit = keyof typeof UNIT_S;

/** A histogram's step: `<n>s`, `<n>m`, `<n>h` or `<n>d`, from 1s to 1d; held as seconds. */
const volumeInterval = z
  .string()
  .regex(/^[1-9][0-9]{0,5}[smhd]$/, "a duration such as 10s, 5m, 1h or 1d")
  .transform((s) => Number(s.slice(0, -1)) * UNIT_S[s.slice(-1) as Unit])
  .pipe(z.number().int().min(1).max(86_400, "at most 1d"));

/** GET /logs/volume: lines per bucket and level, with GET /logs's filters (its schema without order and paging). */
export const VolumeQuery = LogSearch.omit({ order: true, limit: true, cursor: true }).extend({
  interval: volumeInterval.optional(),
});
export type VolumeQuery = z.output<typeof VolumeQuery>;

/** A histogram answers at most this many buckets (400 past it). An object, so tests can lower it. */
export const VOLUME = { maxBuckets: 2_000 };
/** When no interval is given: the smallest of these steps (seconds) that makes at most this many buckets. */
const AUTO_BUCKETS = 120;
const AUTO_STEPS_S = [
  1, 2, 3, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
];

/**
 * The step (seconds) for a range (µs) when none is asked: between 60 and 120 buckets, from 1s up to 1d (fewer
 * for a range under a minute, more past 120 days).
 */
export function autoStep(fromUs: number, toUs: number): number {
  const spanS = (toUs - fromUs) / 1e6;
  return AUTO_STEPS_S.find((s) => Math.ceil(spanS / s) <= AUTO_BUCKETS) ?? AUTO_STEPS_S[AUTO_STEPS_S.length - 1]!;
}

/** A step in seconds as the answer names it: the largest unit that divides it (3600 → "1h", 90 → "90s"). */
export function intervalName(seconds: number): string {
  for (const unit of ["d", "h", "m"] as const)
    if (seconds % UNIT_S[unit] === 0) return `${seconds / UNIT_S[unit]}${unit}`;
  return `${seconds}s`;
}

/**
 * The range [from, to) of a count, in µs: `to` defaults to now, `from` to 24 hours before `to`.
 * `from` at or after `to` is 400 (path `from`).
 */
export function countRange(
  from: number | undefined,
  to: number | undefined,
  nowUs: number,
): { from: number; to: number } {
  const end = to ?? nowUs;
  const start = from ?? end - DEFAULT_RANGE_US;
  if (start >= end)
    throw invalidField(
      "query",
      "from",
      to === undefined ? "from must be before now (or give to)" : "from must be before to",
      "invalid_range",
    );
  return { from: start, to: end };
}
