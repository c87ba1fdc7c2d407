// The live tail at the device, without the object around it: which plan it keeps, and which
// lines it holds for shipping. Shipping itself goes through real objects in tail-source.test.ts.
import { describe, expect, it } from "vitest";
import { DeviceTail } from "../../durable-objects/device-hub/tail";
import type { StoredLine } from "../../src/contract/log-line";
import { tailGroupName } from "../../src/contract/tail-plan";

const who = { deviceId: "dev_A", projectId: "prj_A" };
const g0 = tailGroupName("prj_A", 0);
const stored = (level: number, message: string): StoredLine => ({
  ts: 1_795_600_800_000_000,
  level,
  module: "arm",
  logger: null,
  message,
  thread_id: null,
  process_id: null,
  context: null,
  bytes: message.length,
});
const newTail = () =>
  new DeviceTail(
    {} as Env,
    () => who,
    () => {},
  );

describe("the device's live tail", () => {
  it("keeps the newest plan it was told: an answer computed before a change does not undo it", () => {
    const tail = newTail();
    expect(tail.learn({ version: 4, routes: [{ group: g0, filters: [{ device_id: "dev_A" }] }] })).toHaveLength(1);
    // An older answer that knew of no viewer arrives after the newer word.
    expect(tail.learn({ version: 3, routes: [] })).toHaveLength(1);
    expect(tail.learn({ version: 5, routes: [] })).toEqual([]);
  });

  it("takes only routes to its own project's groups, with only the filters that concern it", () => {
    const tail = newTail();
    const plan = tail.learn({
      version: 1,
      routes: [
        { group: tailGroupName("prj_B", 0), filters: [{ device_id: "dev_A" }] },
        { group: g0, filters: [{ device_id: "dev_B" }, { q: "dock" }] },
      ],
    });
    expect(plan).toEqual([{ group: g0, filters: [{ q: "dock" }] }]);
  });

  it("holds every line until it knows its plan, then only the lines its plan wants, and none with no plan", () => {
    const tail = newTail();
    tail.hold([stored(1, "routine"), stored(3, "stuck")], null, 1);
    expect(tail.take().lines.map((l) => l.message)).toEqual(["routine", "stuck"]);

    tail.learn({ version: 1, routes: [{ group: g0, filters: [{ level: ["ERROR"] }] }] });
    tail.hold([stored(1, "routine"), stored(3, "stuck")], "run-1", 3);
    const held = tail.take().lines;
    expect(held.map((l) => [l.id, l.message, l.session_id])).toEqual([["dev_A:4", "stuck", "run-1"]]);

    tail.learn({ version: 2, routes: [] });
    tail.hold([stored(3, "stuck again")], null, 5);
    expect(tail.waiting).toBe(false);
  });
});
