// Levels are stored as their index in LEVELS, so that order is part of the storage format.
import { describe, expect, it } from "vitest";
import { LEVELS, levelName, levelNumber, parseLevel } from "../../src/contract/levels";

describe("levels", () => {
  it("are numbered from DEBUG 0 to FATAL 4, so level ranges are ranges of numbers", () => {
    expect(LEVELS.map(levelNumber)).toEqual([0, 1, 2, 3, 4]);
    expect(LEVELS).toEqual(["DEBUG", "INFO", "WARN", "ERROR", "FATAL"]);
  });

  it("read back from their numbers, and an unknown number reads as INFO", () => {
    for (const level of LEVELS) expect(levelName(levelNumber(level))).toBe(level);
    expect(levelName(7)).toBe("INFO");
    expect(levelName(-1)).toBe("INFO");
  });

  it("are parsed in any case", () => {
    expect(parseLevel("warn")).toBe("WARN");
    expect(parseLevel("Error")).toBe("ERROR");
    expect(parseLevel("FATAL")).toBe("FATAL");
  });

  it("are only the contract's five: other names and other types are not levels", () => {
    for (const value of ["TRACE", "WARNING", "CRITICAL", "", " INFO", 3, null, undefined, ["INFO"]]) {
      expect(parseLevel(value)).toBeNull();
    }
  });
});
