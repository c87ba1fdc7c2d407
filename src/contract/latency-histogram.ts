// A mergeable latency histogram: counts in buckets whose bounds grow by 4% (1.04^i ms), so
// any percentile read from it is within ~2% of the exact one (the bucket's geometric middle),
// and histograms of many requests, isolates or hours merge by adding counts.
const GROWTH = 1.04;
const LOG_GROWTH = Math.log(GROWTH);

/** Bucket counts by index; sparse, as JSON. */
export type Histogram = Record<string, number>;

const bucketOf = (ms: number): number => Math.max(0, Math.ceil(Math.log(Math.max(ms, 1)) / LOG_GROWTH));

export function addSample(h: Histogram, ms: number): void {
  const b = bucketOf(ms);
  h[b] = (h[b] ?? 0) + 1;
}

export function merge(into: Histogram, from: Histogram): Histogram {
  for (const [b, n] of Object.entries(from)) into[b] = (into[b] ?? 0) + n;
  return into;
}

/** The `p` quantile (0–1) in ms: the geometric middle of the bucket holding it; null when empty. */
export function quantile(h: Histogram, p: number): number | null {
  const buckets = Object.entries(h)
    .map(([b, n]) => [Number(b), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (const [b, n] of buckets) {
    seen += n;
    if (seen >= rank) return b === 0 ? 1 : GROWTH ** (b - 0.5);
  }
  return null;
}
