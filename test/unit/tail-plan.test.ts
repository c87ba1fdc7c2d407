// Where a live-tail line goes: a device's plan out of a project's routes, and which group gets
// which line. Pure functions; the objects that use them are tested in tail-source.test.ts.
import { describe, expect, it } from "vitest";
import type { LogView } from "../../src/contract/log-view";
import {
  distinctFilters,
  planFor,
  projectOfGroup,
  samePlan,
  TailRouter,
  tailGroupName,
} from "../../src/contract/tail-plan";

const line = (device_id: string, level: string, message: string, module = "arm"): LogView => ({
  id: `${device_id}:1`,
  device_id,
  session_id: null,
  timestamp: "2026-11-25T10:00:00.000000Z",
  timestamp_us: 1_795_600_800_000_000,
  level,
  module,
  logger: null,
  message,
  thread_id: null,
  process_id: null,
  context: null,
});

const g0 = tailGroupName("prj_A", 0);
const g1 = tailGroupName("prj_A", 1);

describe("tail plans", () => {
  it("names groups after their project, and reads the project back", () => {
    expect(g1).toBe("prj_A/tail/1");
    expect(projectOfGroup(g1)).toBe("prj_A");
    expect(projectOfGroup("prj_A/fan-in/1")).toBeNull();
  });

  it("a device's plan keeps the routes whose filters concern it, with only those filters", () => {
    const routes = [
      { group: g0, filters: [{ device_id: "dev_A" }, { device_id: "dev_B", level: ["ERROR" as const] }] },
      { group: g1, filters: [{ q: "dock" }] },
    ];
    expect(planFor(routes, "dev_A")).toEqual([
      { group: g0, filters: [{ device_id: "dev_A" }] },
      { group: g1, filters: [{ q: "dock" }] },
    ]);
    expect(planFor(routes, "dev_C")).toEqual([{ group: g1, filters: [{ q: "dock" }] }]);
    expect(planFor([{ group: g0, filters: [{ device_id: "dev_A" }] }], "dev_C")).toEqual([]);
  });

  it("a hundred viewers with one filter are one filter, whatever the order of their levels", () => {
    const filters = distinctFilters([
      { level: ["ERROR", "WARN"] },
      { level: ["WARN", "ERROR"] },
      { q: "x" },
      { level: ["ERROR", "WARN"] },
    ]);
    expect(filters).toHaveLength(2);
    expect(
      samePlan(
        [{ group: g0, filters: [{ q: "x" }, { module: "m" }] }],
        [{ group: g0, filters: [{ module: "m" }, { q: "x" }] }],
      ),
    ).toBe(true);
    expect(samePlan([{ group: g0, filters: [{ q: "x" }] }], [{ group: g1, filters: [{ q: "x" }] }])).toBe(false);
  });

  it("each group gets only the lines one of its filters matches; a line nobody wants goes nowhere", () => {
    const router = new TailRouter([
      { group: g0, filters: [{ level: ["ERROR"] }, { q: "DOCK" }] },
      { group: g1, filters: [{ module: "wheel" }] },
    ]);
    const lines = [
      line("dev_A", "ERROR", "stuck"),
      line("dev_A", "INFO", "at dock 4"),
      line("dev_A", "INFO", "rolling", "wheel"),
      line("dev_A", "INFO", "idle"),
    ];
    const split = router.split(lines);
    expect(split.get(g0)!.map((l) => l.message)).toEqual(["stuck", "at dock 4"]);
    expect(split.get(g1)!.map((l) => l.message)).toEqual(["rolling"]);
    expect(lines.filter((l) => router.wants(l)).map((l) => l.message)).toEqual(["stuck", "at dock 4", "rolling"]);
    expect(new TailRouter([]).empty).toBe(true);
  });
});
