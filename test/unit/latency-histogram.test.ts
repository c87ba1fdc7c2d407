import { describe, expect, it } from "vitest";
import { addSample, type Histogram, merge, quantile } from "../../src/contract/latency-histogram";

/** The exact `p` quantile of sorted samples, by the same rank rule. */
const exact = (sorted: number[], p: number) => sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1]!;

describe("the latency histogram", () => {
  it("reads p50, p95 and p99 within 5% of the exact percentile of a known distribution", () => {
    // Log-normal latencies around 40 ms, from a fixed seed.
    let seed = 7;
    const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const samples = Array.from({ length: 20_000 }, () => {
      const z = Math.sqrt(-2 * Math.log(rnd() || 1e-9)) * Math.cos(2 * Math.PI * rnd());
      return Math.exp(Math.log(40) + 0.8 * z);
    });
    // Recorded in four histograms (isolates, hours) and merged.
    const parts: Histogram[] = [{}, {}, {}, {}];
    for (const [i, ms] of samples.entries()) addSample(parts[i % 4]!, ms);
    const merged = parts.reduce((a, b) => merge(a, b), {});
    const sorted = [...samples].sort((a, b) => a - b);
    for (const p of [0.5, 0.95, 0.99]) {
      const q = quantile(merged, p)!;
      expect(Math.abs(q - exact(sorted, p)) / exact(sorted, p), `p${p * 100}`).toBeLessThan(0.05);
    }
  });

  it("is empty without samples, and holds sub-millisecond times in its first bucket", () => {
    expect(quantile({}, 0.5)).toBeNull();
    const h: Histogram = {};
    addSample(h, 0.2);
    expect(quantile(h, 0.99)).toBe(1);
  });
});
