// Event times travel as ISO 8601 with microseconds and are stored as integer microseconds;
// the two conversions must be exact inverses, since Date keeps only milliseconds.
import { describe, expect, it } from "vitest";
import { instant, instantThrough, instantUntil, timeParamUs } from "../../src/contract/common";
import { iso, isoMicros, isoOrNull, parseIsoMicros } from "../../src/lib/time";

describe("isoMicros", () => {
  it("writes all six digits of the microseconds, in UTC", () => {
    expect(isoMicros(1_700_000_000_123_456)).toBe("2023-11-14T22:13:20.123456Z");
    expect(isoMicros(1_700_000_000_000_007)).toBe("2023-11-14T22:13:20.000007Z");
    expect(isoMicros(1_700_000_000_000_000)).toBe("2023-11-14T22:13:20.000000Z");
  });

  it("is undone exactly by parseIsoMicros", () => {
    for (const us of [0, 1, 999, 1_000, 1_700_000_000_123_456, 1_795_600_800_999_999, Number.MAX_SAFE_INTEGER]) {
      expect(parseIsoMicros(isoMicros(us))).toBe(us);
    }
  });
});

describe("parseIsoMicros", () => {
  it("keeps the microseconds Date.parse would drop", () => {
    expect(parseIsoMicros("2023-11-14T22:13:20.123456Z")).toBe(1_700_000_000_123_456);
    expect(Date.parse("2023-11-14T22:13:20.123456Z") * 1000).toBe(1_700_000_000_123_000);
  });

  it("reads fewer than six fraction digits as a decimal fraction, and cuts (not rounds) past six", () => {
    expect(parseIsoMicros("2023-11-14T22:13:20.5Z")).toBe(1_700_000_000_500_000);
    expect(parseIsoMicros("2023-11-14T22:13:20.12Z")).toBe(1_700_000_000_120_000);
    expect(parseIsoMicros("2023-11-14T22:13:20.123456789Z")).toBe(1_700_000_000_123_456);
  });

  it("applies the zone offset", () => {
    expect(parseIsoMicros("2023-11-15T00:13:20.000001+02:00")).toBe(1_700_000_000_000_001);
    expect(parseIsoMicros("2023-11-14T17:13:20-05:00")).toBe(1_700_000_000_000_000);
  });

  it("answers NaN for text that is not a time", () => {
    expect(parseIsoMicros("yesterday")).toBeNaN();
    expect(parseIsoMicros("2023-11-14T25:00:00Z")).toBeNaN();
    expect(parseIsoMicros("")).toBeNaN();
  });
});

describe("iso and isoOrNull", () => {
  it("write milliseconds as ISO 8601 UTC, and keep a missing time missing", () => {
    expect(iso(1_700_000_000_123)).toBe("2023-11-14T22:13:20.123Z");
    expect(isoOrNull(1_700_000_000_123)).toBe("2023-11-14T22:13:20.123Z");
    expect(isoOrNull(null)).toBeNull();
    expect(isoOrNull(undefined)).toBeNull();
    expect(isoOrNull(0)).toBe("1970-01-01T00:00:00.000Z");
  });
});

describe("a time in the query string", () => {
  const day = Date.UTC(2026, 11, 1);
  it("takes a date alone: 00:00 UTC for a start, the whole day for an end (exclusive or inclusive)", () => {
    expect(instant.parse("2026-12-01")).toBe(day);
    expect(instantUntil.parse("2026-12-01")).toBe(day + 86_400_000);
    expect(instantThrough.parse("2026-12-01")).toBe(day + 86_400_000 - 1);
    expect(timeParamUs("start").parse("2026-12-01")).toBe(day * 1000);
    expect(timeParamUs("next").parse("2026-12-01")).toBe((day + 86_400_000) * 1000);
    expect(timeParamUs("last").parse("2026-12-01")).toBe((day + 86_400_000) * 1000 - 1);
  });

  it("takes ISO 8601 times and milliseconds as before, whatever the edge", () => {
    for (const schema of [instant, instantUntil, instantThrough]) {
      expect(schema.parse("2026-12-01T08:30:00Z")).toBe(day + 8.5 * 3_600_000);
      expect(schema.parse("2026-12-01T09:30:00+01:00")).toBe(day + 8.5 * 3_600_000);
      expect(schema.parse(String(day))).toBe(day);
    }
    expect(timeParamUs("next").parse("2026-12-01T08:30:00.000007Z")).toBe((day + 8.5 * 3_600_000) * 1000 + 7);
  });

  it("refuses what is not a real day or time, in words a person reads", () => {
    for (const bad of ["2026-02-30", "2026-13-01", "yesterday", "2026-12-01T08:00", "-5"]) {
      const result = instant.safeParse(bad);
      expect(result.success, bad).toBe(false);
      expect(result.error!.issues[0]!.message, bad).toBe(
        "must be a time: ISO 8601 (2026-12-01T08:00:00Z), a date (2026-12-01, UTC) or milliseconds since 1970",
      );
    }
    expect(instantUntil.safeParse("3000-01-01").error!.issues[0]!.message).toBe("is too far in the future");
  });
});
