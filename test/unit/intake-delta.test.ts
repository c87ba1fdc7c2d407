import { describe, expect, it } from "vitest";
import { deliveryOf, deltaOf, merge } from "../../durable-objects/intake";
import type { BucketRow } from "../../src/contract/buckets";
import type { TallyRow } from "../../src/contract/tallies";
import { type OutboxRow, USAGE_FIELDS, type UsageCounters } from "../../src/contract/usage";

const zero = Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as UsageCounters;
const row = (seq: number, day: string, extra: Partial<OutboxRow>): OutboxRow => ({ ...zero, seq, day, ...extra });
const HOUR = Date.parse("2026-03-31T22:00:00Z");

const delivered = (seq: number) => ({
  rows: [
    row(seq, "2026-03-31", {
      logs: 5,
      log_bytes: 50,
      error_lines: 1,
      reserved_logs: 2,
      reserved_bytes: 20,
      rows_written: 9,
    }),
    row(seq, "2026-04-01", { heartbeats: 3 }),
  ],
  buckets: [
    { seq, minutes: 60, start: HOUR, metric: "logs_info", n: 4 },
    { seq, minutes: 60, start: HOUR, metric: "logs_error", n: 1 },
    { seq, minutes: 1, start: HOUR + 3 * 60_000, metric: "heartbeats", n: 3 },
    { seq, minutes: 15, start: HOUR + 2 * 3_600_000, metric: "api_calls", n: 2 },
  ] satisfies BucketRow[],
  tallies: [
    { seq, day: "2026-03-31", kind: "module", key: "nav", lines: 5, errors: 1 },
    { seq, day: "2026-03-31", kind: "error_message", key: "timeout after # ms", lines: 1, errors: 1 },
  ] satisfies TallyRow[],
  devices: [{ seq, day: "2026-03-31", device_id: "dev-a", logs: 5, error_lines: 1 }],
});

const byKey = <T>(items: T[], key: (t: T) => string) => [...items].sort((a, b) => (key(a) < key(b) ? -1 : 1));

describe("a delivery's counts as a delta", () => {
  it("come back as the same delivery under a new sequence", () => {
    const d = delivered(3);
    const again = deliveryOf(7, deltaOf(d));
    const reseq = <T extends { seq: number }>(items: T[]) => items.map((i) => ({ ...i, seq: 7 }));
    expect(again.rows).toEqual(reseq(d.rows));
    expect(byKey(again.buckets, (b) => `${b.minutes}:${b.start}:${b.metric}`)).toEqual(
      byKey(reseq(d.buckets), (b) => `${b.minutes}:${b.start}:${b.metric}`),
    );
    expect(byKey(again.tallies, (t) => t.key)).toEqual(byKey(reseq(d.tallies), (t) => t.key));
    expect(again.devices).toEqual(reseq(d.devices));
  });

  it("add up when merged, and land on the day they are moved to", () => {
    const twice = merge(deltaOf(delivered(1)), deltaOf(delivered(2)));
    expect(twice.usage?.["2026-03-31"]).toEqual({ logs: 10, log_bytes: 100, error_lines: 2 });
    expect(twice.settled).toEqual({ "2026-03": [4, 40] });
    expect(twice.devices).toEqual({ "2026-03-31": { "dev-a": [10, 2] } });
    expect(twice.rows).toBe(18);
    expect(twice.buckets?.["60"]?.["2026-03-31"]?.["22"]).toEqual([0, 8, 0, 2]);

    // A closed day's counts move to the first open one; buckets keep their own time, and settlements their month.
    const moved = deltaOf(delivered(1), (day) => (day <= "2026-03-31" ? "2026-04-01" : day));
    expect(Object.keys(moved.usage ?? {})).toEqual(["2026-04-01"]);
    expect(moved.usage?.["2026-04-01"]).toMatchObject({ logs: 5, heartbeats: 3 });
    expect(moved.settled).toEqual({ "2026-03": [2, 20] });
    expect(Object.keys(moved.buckets?.["60"] ?? {})).toEqual(["2026-03-31"]);
  });
});
