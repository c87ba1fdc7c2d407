// Time buckets: counts by event time in 1, 5, 15 and 60-minute buckets, each size counted
// directly (never summed from a smaller one). Lines count by their own timestamp, so a late
// line lands in its own bucket; heartbeats, device messages and API calls by when they arrived.
// A device's object adds them to its outbox beside the usage rows, under the same sequence,
// so they reach the project exactly once.
import { DAY_MS } from "../lib/time";
import { levelName } from "./levels";
import type { UsageDelta } from "./usage";

export const BUCKET_MINUTES = [1, 5, 15, 60] as const;
export type BucketMinutes = (typeof BUCKET_MINUTES)[number];

/** How long the project keeps each size, in days (docs/usage.md). */
export const BUCKET_KEEP_DAYS: Record<BucketMinutes, number> = { 1: 2, 5: 14, 15: 45, 60: 400 };

/** What a bucket counts: lines per level, and what arrives. */
const BUCKET_METRICS = [
  "logs_debug",
  "logs_info",
  "logs_warn",
  "logs_error",
  "logs_fatal",
  "heartbeats",
  "device_messages_in",
  "device_messages_out",
  "api_calls",
] as const;
export type BucketMetric = (typeof BUCKET_METRICS)[number];

/** One bucket's count owed under an outbox sequence. `start` is ms since the epoch. */
export interface BucketRow {
  seq: number;
  minutes: BucketMinutes;
  start: number;
  metric: BucketMetric;
  n: number;
}

export type BucketDeltas = Map<string, { minutes: BucketMinutes; start: number; metric: BucketMetric; n: number }>;

const startOf = (ms: number, minutes: number) => ms - (ms % (minutes * 60_000));

/**
 * Counts `n` at `ms` in each size's bucket. A size whose keeping time is already over for
 * `ms` is skipped: the project would prune that bucket at once (a spool replayed after days
 * offline would otherwise write thousands of minute buckets for nothing).
 */
function addTo(deltas: BucketDeltas, ms: number, metric: BucketMetric, n: number, now: number): void {
  for (const minutes of BUCKET_MINUTES) {
    if (ms < now - BUCKET_KEEP_DAYS[minutes] * DAY_MS) continue;
    const start = startOf(ms, minutes);
    const key = `${minutes}:${start}:${metric}`;
    const d = deltas.get(key);
    if (d) d.n += n;
    else deltas.set(key, { minutes, start, metric, n });
  }
}

/** The buckets of a batch's lines, by each line's event time (µs) and level, as of `now`. */
export function lineBuckets(lines: readonly { ts: number; level: number }[], now: number): BucketDeltas {
  const deltas: BucketDeltas = new Map();
  for (const l of lines)
    addTo(deltas, Math.floor(l.ts / 1000), `logs_${levelName(l.level).toLowerCase()}` as BucketMetric, 1, now);
  return deltas;
}

/** The buckets of what arrived at `now` (heartbeats, device messages, API calls). */
export function arrivalBuckets(now: number, delta: UsageDelta): BucketDeltas {
  const deltas: BucketDeltas = new Map();
  for (const metric of ["heartbeats", "device_messages_in", "device_messages_out", "api_calls"] as const) {
    if (delta[metric]) addTo(deltas, now, metric, delta[metric], now);
  }
  return deltas;
}
