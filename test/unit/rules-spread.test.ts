// After a rule change, each device asks the project's object for its rules at a moment of its
// own within a minute, so the devices that hear of it together never all call in the same second.
import { describe, expect, it } from "vitest";
import { RULES_SPREAD, rulesFetchAt } from "../../durable-objects/device-hub/alerts";

describe("when a device fetches new alert rules", () => {
  it("is within the spread after it heard, the same moment for the same device and version", () => {
    const heard = Date.UTC(2026, 10, 27, 10);
    for (let i = 0; i < 100; i++) {
      const id = crypto.randomUUID();
      const at = rulesFetchAt(id, 7, heard);
      expect(at).toBeGreaterThanOrEqual(heard);
      expect(at).toBeLessThan(heard + RULES_SPREAD.ms);
      expect(rulesFetchAt(id, 7, heard)).toBe(at);
    }
  });

  it("spreads 10,000 devices that heard at once over the minute: no second takes more than twice its share", () => {
    const perSecond = new Array(RULES_SPREAD.ms / 1000).fill(0);
    for (let d = 0; d < 10_000; d++)
      perSecond[Math.floor((rulesFetchAt(crypto.randomUUID(), 3, 0) % RULES_SPREAD.ms) / 1000)]++;
    const share = 10_000 / perSecond.length;
    expect(Math.max(...perSecond)).toBeLessThan(2 * share);
    expect(Math.min(...perSecond)).toBeGreaterThan(share / 2);
  });
});
