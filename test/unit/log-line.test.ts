// One batch of lines as a device sends it: each line is checked on its own, a bad line is
// refused with its index and reason, and its neighbours are kept.
import { describe, expect, it } from "vitest";
import { LINE_LIMITS } from "../../src/contract/limits";
import { validateLines } from "../../src/contract/log-line";

const NOW_US = 1_795_600_800_000_000; // 2026-11-25T10:00:00Z
const HOUR_US = 3_600_000_000;
const OLDEST_US = NOW_US - 7 * 24 * HOUR_US;
const SKEW_US = LINE_LIMITS.future_skew_ms * 1000;

const line = (extra: Record<string, unknown>) => ({ level: "INFO", module: "arm", message: "ok", ...extra });

/** The stored time of one line, or its refusal reason. */
function timeOf(timestamp: string): number | string {
  const { lines, rejected } = validateLines([line({ timestamp })], NOW_US, OLDEST_US);
  return lines[0]?.ts ?? rejected[0]!.reason;
}

describe("timestamps", () => {
  it("keep their microseconds", () => {
    expect(timeOf("2026-11-25T09:00:00.123456Z")).toBe(NOW_US - HOUR_US + 123_456);
    expect(timeOf("2026-11-25T09:00:00.5Z")).toBe(NOW_US - HOUR_US + 500_000);
    expect(timeOf("2026-11-25T09:00:00Z")).toBe(NOW_US - HOUR_US);
  });

  it("mean UTC when they name no zone, as Python's isoformat() writes them", () => {
    expect(timeOf("2026-11-25T09:00:00.123456")).toBe(timeOf("2026-11-25T09:00:00.123456Z"));
  });

  it("apply their zone, written with or without a colon, and accept a lower-case z and a space for T", () => {
    const expected = NOW_US - HOUR_US;
    expect(timeOf("2026-11-25T11:00:00+02:00")).toBe(expected);
    expect(timeOf("2026-11-25T11:00:00+0200")).toBe(expected);
    expect(timeOf("2026-11-25T04:00:00-05:00")).toBe(expected);
    expect(timeOf("2026-11-25t09:00:00z")).toBe(expected);
    expect(timeOf("2026-11-25 09:00:00Z")).toBe(expected);
  });

  it("refuse dates that do not exist instead of rolling them into the next month", () => {
    expect(timeOf("2026-02-30T10:00:00Z")).toBe("timestamp: not a valid date");
    expect(timeOf("2026-02-29T10:00:00Z")).toBe("timestamp: not a valid date");
    expect(timeOf("2026-04-31T10:00:00Z")).toBe("timestamp: not a valid date");
    expect(timeOf("2026-11-25T24:30:00Z")).toBe("timestamp: not a valid date");
  });

  it("accept the 29th of February in a leap year", () => {
    const { lines } = validateLines([line({ timestamp: "2028-02-29T10:00:00Z" })], Date.UTC(2028, 1, 29, 11) * 1000, 0);
    expect(lines[0]?.ts).toBe(Date.UTC(2028, 1, 29, 10) * 1000);
  });

  it("refuse text that is not ISO 8601, saying what is expected", () => {
    for (const timestamp of ["yesterday", "25/11/2026 10:00", "2026-11-25", "1795600800"]) {
      expect(timeOf(timestamp)).toMatch(/^timestamp: ISO 8601/);
    }
  });

  it("may be at most future_skew_ms ahead of the server's clock", () => {
    const at = (us: number) => validateLines([line({ timestamp_us: us })], NOW_US, OLDEST_US);
    expect(at(NOW_US + SKEW_US).lines).toHaveLength(1);
    expect(at(NOW_US + SKEW_US + 1).rejected).toEqual([{ index: 0, reason: "timestamp: too far in the future" }]);
  });

  it("may be as old as the edge of the hot window, and no older", () => {
    const at = (us: number) => validateLines([line({ timestamp_us: us })], NOW_US, OLDEST_US);
    expect(at(OLDEST_US).lines).toHaveLength(1);
    expect(at(OLDEST_US - 1).rejected).toEqual([{ index: 0, reason: "timestamp: older than the hot window" }]);
  });

  it("come from timestamp_us when a line has both forms", () => {
    const { lines } = validateLines(
      [line({ timestamp: "2026-11-25T09:00:00Z", timestamp_us: NOW_US - 5 })],
      NOW_US,
      OLDEST_US,
    );
    expect(lines[0]!.ts).toBe(NOW_US - 5);
  });

  it("are required in one form or the other", () => {
    const { rejected } = validateLines([line({})], NOW_US, OLDEST_US);
    expect(rejected).toEqual([{ index: 0, reason: "timestamp: timestamp (ISO 8601) or timestamp_us is required" }]);
  });
});

describe("levels in a line", () => {
  it("are stored as numbers, whatever their case", () => {
    const raw = ["debug", "Info", "WARN", "error", "fatal"].map((level) => line({ level, timestamp_us: NOW_US }));
    expect(validateLines(raw, NOW_US, OLDEST_US).lines.map((l) => l.level)).toEqual([0, 1, 2, 3, 4]);
  });

  it("refuse names outside the contract's five", () => {
    const { rejected } = validateLines([line({ level: "WARNING", timestamp_us: NOW_US })], NOW_US, OLDEST_US);
    expect(rejected).toEqual([{ index: 0, reason: "level: one of DEBUG, INFO, WARN, ERROR, FATAL" }]);
  });
});

describe("a batch", () => {
  it("keeps the good lines around a bad one and names the bad one by its index", () => {
    const raw = [
      line({ timestamp_us: NOW_US - 2, message: "first" }),
      line({ timestamp_us: NOW_US - 1, module: "" }),
      "not even an object",
      line({ timestamp_us: NOW_US, message: "last" }),
    ];
    const { lines, rejected } = validateLines(raw, NOW_US, OLDEST_US);
    expect(lines.map((l) => l.message)).toEqual(["first", "last"]);
    expect(rejected.map((r) => r.index)).toEqual([1, 2]);
    expect(rejected[0]!.reason).toMatch(/^module: /);
  });

  it("stores optional fields as null, ids as text and context as JSON", () => {
    const { lines } = validateLines(
      [
        line({ timestamp_us: NOW_US }),
        line({
          timestamp_us: NOW_US,
          logger: "arm.grip",
          thread_id: 17,
          process_id: "p-9",
          context: { joint: 3, ok: true },
        }),
      ],
      NOW_US,
      OLDEST_US,
    );
    expect(lines[0]).toMatchObject({ logger: null, thread_id: null, process_id: null, context: null });
    expect(lines[1]).toMatchObject({
      logger: "arm.grip",
      thread_id: "17",
      process_id: "p-9",
      context: '{"joint":3,"ok":true}',
    });
  });

  it("counts each line's bytes as UTF-8, over message, module, logger, thread and context", () => {
    const { lines } = validateLines(
      [
        line({ timestamp_us: NOW_US, module: "m", message: "héllo 🤖" }),
        line({ timestamp_us: NOW_US, module: "m", message: "", logger: "lg", thread_id: "t1", context: { a: 1 } }),
      ],
      NOW_US,
      OLDEST_US,
    );
    // "héllo 🤖" is 8 UTF-16 units but 11 bytes (é takes 2, the robot 4); the module adds 1.
    expect(lines[0]!.bytes).toBe(new TextEncoder().encode("héllo 🤖").length + 1);
    expect(lines[0]!.bytes).toBe(12);
    // logger 2 + thread 2 + context '{"a":1}' 7 + module 1.
    expect(lines[1]!.bytes).toBe(2 + 2 + 7 + 1);
  });
});
