// A device reports the next hour ahead at a minute of its own, so a large fleet's first lines
// of a new hour do not all call the project's hour index in the same second.
import { describe, expect, it } from "vitest";
import { nextHourAhead } from "../../durable-objects/device-hub/hours";
import { hourOf } from "../../src/lib/time";

const HOUR = 3_600_000;
const start = Date.UTC(2026, 10, 27, 10);

describe("the next hour reported ahead", () => {
  it("is due from the device's own minute of the hour to its end, never in the first five minutes", () => {
    const due = (ms: number) => nextHourAhead("dev-1", ms);
    const first = Array.from({ length: 60 }, (_, m) => m).find((m) => due(start + m * 60_000) !== null)!;
    expect(first).toBeGreaterThanOrEqual(5);
    expect(first).toBeLessThan(55);
    expect(due(start + first * 60_000 - 1)).toBeNull();
    expect(due(start + first * 60_000)).toBe(hourOf(start * 1000) + 1);
    expect(due(start + HOUR - 1)).toBe(hourOf(start * 1000) + 1);
    expect(due(start + HOUR)).toBeNull();
  });

  it("spreads 10,000 devices over the hour: no minute takes more than twice its share", () => {
    const perMinute = new Array(60).fill(0);
    for (let d = 0; d < 10_000; d++) {
      const id = crypto.randomUUID();
      const first = Array.from({ length: 60 }, (_, m) => m).find((m) => nextHourAhead(id, start + m * 60_000) !== null)!;
      perMinute[first]++;
    }
    expect(perMinute.slice(0, 5).every((n) => n === 0)).toBe(true);
    expect(Math.max(...perMinute)).toBeLessThan((2 * 10_000) / 50);
  });
});
