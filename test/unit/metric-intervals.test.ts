// Which bucket width a metrics query uses: the one asked for, or the narrowest wider one that
// keeps the answer within MAX_POINTS points.
import { describe, expect, it } from "vitest";
import { MAX_POINTS, MetricHistory } from "../../durable-objects/device-hub/metrics";
import { INTERVAL_ALIASES, INTERVAL_MS } from "../../src/contract/metrics";

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;
const fitted = MetricHistory.fitInterval;

describe("fitInterval", () => {
  it("picks minutes while the range holds at most MAX_POINTS of them", () => {
    expect(fitted(0, DAY)).toBe("1m");
    expect(fitted(0, MAX_POINTS * MINUTE)).toBe("1m");
  });

  it("widens to the next interval one minute past that", () => {
    expect(fitted(0, (MAX_POINTS + 1) * MINUTE)).toBe("5m");
  });

  it("picks 15-minute buckets for a week and hours for a month", () => {
    expect(fitted(0, 7 * DAY)).toBe("15m");
    expect(fitted(0, 30 * DAY)).toBe("1h");
  });

  it("never goes finer than the interval asked for", () => {
    expect(fitted(0, 10 * MINUTE, "1h")).toBe("1h");
    expect(fitted(0, DAY, "1d")).toBe("1d");
  });

  it("goes coarser than the interval asked for when the range needs it", () => {
    expect(fitted(0, 30 * DAY, "1m")).toBe("1h");
  });

  it("answers days for any longer range, even one that still exceeds MAX_POINTS days", () => {
    expect(fitted(0, 1000 * DAY)).toBe("1d");
    expect(fitted(0, 5000 * DAY)).toBe("1d");
  });

  it("depends only on the range's length, not where it starts", () => {
    const start = Date.UTC(2026, 10, 25);
    expect(fitted(start, start + 7 * DAY)).toBe(fitted(0, 7 * DAY));
  });
});

describe("interval names", () => {
  it("accept the stats endpoints' spellings for hours and days", () => {
    expect(INTERVAL_MS[INTERVAL_ALIASES["60m"]!]).toBe(60 * MINUTE);
    expect(INTERVAL_MS[INTERVAL_ALIASES["24h"]!]).toBe(DAY);
    expect(INTERVAL_MS[INTERVAL_ALIASES["1440m"]!]).toBe(DAY);
  });
});
