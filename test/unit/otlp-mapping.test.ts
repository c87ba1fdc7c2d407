// OTLP severities as fleetbeat levels, at every boundary the mapping names.
import { describe, expect, it } from "vitest";
import { levelOf } from "../../src/otlp/mapping";

describe("OTLP severity to level", () => {
  it("maps severityNumber by its ranges", () => {
    const cases: [number, string][] = [
      [1, "DEBUG"],
      [4, "DEBUG"],
      [5, "DEBUG"],
      [8, "DEBUG"],
      [9, "INFO"],
      [12, "INFO"],
      [13, "WARN"],
      [16, "WARN"],
      [17, "ERROR"],
      [20, "ERROR"],
      [21, "FATAL"],
      [24, "FATAL"],
    ];
    for (const [n, level] of cases) expect(levelOf(n, "ignored"), `severityNumber ${n}`).toBe(level);
  });

  it("falls back to severityText, then INFO", () => {
    expect(levelOf(0, "Error")).toBe("ERROR");
    expect(levelOf(0, "warning")).toBe("WARN");
    expect(levelOf(0, "CRITICAL")).toBe("FATAL");
    expect(levelOf(0, "trace")).toBe("DEBUG");
    expect(levelOf(0, "")).toBe("INFO");
    expect(levelOf(25, "nonsense")).toBe("INFO");
  });
});
