import { describe, expect, it } from "vitest";
import type { LogView } from "../../src/contract/log-view";
import type { LogCursor } from "../../src/contract/logs";
import { FIRST_FETCH_ROWS, mergePages } from "../../src/services/page-merge";

/** A fake device: its lines sorted the way its object sorts them, answered after a cursor. */
function device(id: string, timestamps: number[]) {
  const rows: LogView[] = timestamps.map((ts, i) => ({
    id: `${id}:${i + 1}`,
    device_id: id,
    session_id: null,
    timestamp: new Date(ts / 1000).toISOString(),
    timestamp_us: ts,
    level: "INFO",
    module: "m",
    logger: null,
    message: `${id} ${ts}`,
    thread_id: null,
    process_id: null,
    context: null,
  }));
  return rows;
}

/** Serves each device's rows after a cursor in the project-wide order, counting calls. */
function fetcher(devices: Record<string, LogView[]>, order: "asc" | "desc") {
  const calls: { device: string; limit: number }[] = [];
  const key = (l: LogView) => [l.timestamp_us, l.device_id, Number(l.id.split(":")[1])] as const;
  const before = (a: readonly [number, string, number], b: readonly [number, string, number]) =>
    a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];
  const fetch = async (deviceId: string, after: LogCursor | undefined, limit: number) => {
    calls.push({ device: deviceId, limit });
    const sorted = [...devices[deviceId]!].sort((a, b) => (before(key(a), key(b)) ? -1 : 1));
    if (order === "desc") sorted.reverse();
    const cut = after && ([after.ts, after.device_id, after.id] as const);
    return {
      rows: sorted.filter((l) => !cut || (order === "asc" ? before(cut, key(l)) : before(key(l), cut))).slice(0, limit),
    };
  };
  return { fetch, calls };
}

const cursorOf = (l: LogView): LogCursor => ({
  ts: l.timestamp_us,
  device_id: l.device_id,
  id: Number(l.id.split(":")[1]),
});

describe("the k-way page merge", () => {
  it("merges devices by event time, then device id, then row id", async () => {
    const devices = { dev_b: device("dev_b", [10, 30, 30, 50]), dev_a: device("dev_a", [20, 30, 40]) };
    const { fetch } = fetcher(devices, "asc");
    const page = (await mergePages(Object.keys(devices), "asc", undefined, 100, fetch)).rows;
    expect(page.map((l) => l.id)).toEqual([
      "dev_b:1",
      "dev_a:1",
      "dev_a:2",
      "dev_b:2",
      "dev_b:3",
      "dev_a:3",
      "dev_b:4",
    ]);
  });

  it("pages through every line exactly once, in either order, from the last line's cursor", async () => {
    const devices = {
      dev_a: device(
        "dev_a",
        Array.from({ length: 57 }, (_, i) => i * 3),
      ),
      dev_b: device(
        "dev_b",
        Array.from({ length: 41 }, (_, i) => i * 4),
      ),
      dev_c: device("dev_c", [5, 5, 5, 5, 5, 6]),
    };
    for (const order of ["asc", "desc"] as const) {
      const { fetch } = fetcher(devices, order);
      const seen: string[] = [];
      let after: LogCursor | undefined;
      for (;;) {
        const page = (await mergePages(Object.keys(devices), order, after, 10, fetch)).rows;
        seen.push(...page.map((l) => l.id));
        if (page.length < 10) break;
        after = cursorOf(page.at(-1)!);
      }
      expect(seen.length).toBe(57 + 41 + 6);
      expect(new Set(seen).size).toBe(seen.length);
    }
  });

  it("asks each source once for a page it can hold whole, however the lines are spread", async () => {
    // dev_a holds the whole first page; each of the ten sources is asked once, for the page.
    const others = Object.fromEntries(
      Array.from({ length: 9 }, (_, d) => [`dev_o${d}`, device(`dev_o${d}`, [1000 + d])]),
    );
    const devices = {
      dev_a: device(
        "dev_a",
        Array.from({ length: 100 }, (_, i) => i),
      ),
      ...others,
    };
    const { fetch, calls } = fetcher(devices, "asc");
    const page = (await mergePages(Object.keys(devices), "asc", undefined, 50, fetch)).rows;
    expect(page.map((l) => l.timestamp_us)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(calls).toHaveLength(10);
    expect(new Set(calls.map((c) => c.device)).size).toBe(10);
  });

  it("past FIRST_FETCH_ROWS asks each source for its share, and one that runs dry for more before taking anything past it", async () => {
    // 20 sources × a page of 1,000 is more than a page may hold from its first fetches.
    const want = 1000;
    expect(20 * want).toBeGreaterThan(FIRST_FETCH_ROWS);
    const others = Object.fromEntries(
      Array.from({ length: 19 }, (_, d) => [`dev_o${d}`, device(`dev_o${d}`, [5000 + d])]),
    );
    const devices = {
      dev_a: device(
        "dev_a",
        Array.from({ length: 2000 }, (_, i) => i),
      ),
      ...others,
    };
    const { fetch, calls } = fetcher(devices, "asc");
    const page = (await mergePages(Object.keys(devices), "asc", undefined, want, fetch)).rows;
    expect(page.map((l) => l.timestamp_us)).toEqual(Array.from({ length: want }, (_, i) => i));
    expect(calls.filter((c) => c.device === "dev_a").length).toBeGreaterThan(1);
    expect(Math.max(...calls.map((c) => c.limit))).toBeLessThanOrEqual(want);
    expect(calls.find((c) => c.device === "dev_o0")!.limit).toBeLessThan(want);
  });

  it("holds at most a chunk per device, whatever the number of devices", async () => {
    const devices = Object.fromEntries(
      Array.from({ length: 200 }, (_, d) => [`dev_${String(d).padStart(3, "0")}`, device(`dev_${d}`, [d, d + 1000])]),
    );
    const { fetch, calls } = fetcher(devices, "asc");
    const page = (await mergePages(Object.keys(devices), "asc", undefined, 20, fetch)).rows;
    expect(page.length).toBe(20);
    for (const c of calls) expect(c.limit).toBeLessThanOrEqual(20);
  });

  it("ends a page where a device stopped short, and the next page resumes there, every line once", async () => {
    const devices = {
      dev_a: device(
        "dev_a",
        Array.from({ length: 30 }, (_, i) => i * 2),
      ),
      dev_b: device(
        "dev_b",
        Array.from({ length: 30 }, (_, i) => i * 2 + 1),
      ),
    };
    const { fetch: plain } = fetcher(devices, "asc");
    // dev_a reads at most 4 of its rows per call, then says where it stopped (as a capped archive scan does).
    const fetch = async (deviceId: string, after: LogCursor | undefined, limit: number) => {
      const { rows } = await plain(deviceId, after, deviceId === "dev_a" ? Math.min(limit, 4) : limit);
      if (deviceId !== "dev_a" || rows.length < 4) return { rows };
      const last = rows.at(-1)!;
      return { rows, resume: cursorOf(last) };
    };
    const seen: string[] = [];
    let after: LogCursor | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const { rows, stop } = await mergePages(Object.keys(devices), "asc", after, 10, fetch);
      seen.push(...rows.map((l) => l.id));
      const next = rows.length === 10 ? cursorOf(rows.at(-1)!) : stop;
      if (!next) break;
      after = next;
    }
    expect(seen).toEqual(
      [...devices.dev_a, ...devices.dev_b].sort((x, y) => x.timestamp_us - y.timestamp_us).map((l) => l.id),
    );
  });
});
