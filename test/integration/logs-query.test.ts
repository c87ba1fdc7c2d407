import { describe, expect, it } from "vitest";
import { allLogs, call, ingest, loghubLines, newDevice, tenant } from "./helpers";

const ascending = (logs: any[]) => logs.every((l, i) => i === 0 || l.timestamp_us >= logs[i - 1].timestamp_us);

describe("log search", () => {
  it("pages through 10,000+ lines of three devices exactly once, in order, while new lines arrive", async () => {
    const t = await tenant();
    const second = await newDevice(t.adminKey, t.projectId);
    const third = await newDevice(t.adminKey, t.projectId);
    const end = Date.now() * 1000 - 5_000_000;
    // Interleaved timestamps, with many identical ones across devices, to exercise the tie-breaks.
    const datasets = ["HDFS", "Linux", "Zookeeper"];
    const keys = [t.deviceKey, second.deviceKey, third.deviceKey];
    for (let b = 0; b < 4; b++) {
      for (let d = 0; d < 3; d++) {
        const lines = loghubLines(datasets[d]!, 900, { endUs: end - (3 - b) * 900_000, stepUs: 1000, offset: b * 900 });
        const res = await ingest(keys[d]!, { logs: lines });
        expect(res.json.accepted).toBe(900);
      }
    }
    const total = 4 * 3 * 900;
    expect(total).toBeGreaterThanOrEqual(10_000);

    const seen = new Set<string>();
    const logs: any[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const res: any = await call(
        "GET",
        `/logs?project_id=${t.projectId}&order=asc&limit=1000&to=${Math.floor(end / 1000) + 1}${cursor ? `&cursor=${cursor}` : ""}`,
        { token: t.viewerKey },
      );
      expect(res.status).toBe(200);
      for (const l of res.json.logs) {
        expect(seen.has(l.id)).toBe(false);
        seen.add(l.id);
        logs.push(l);
      }
      cursor = res.json.next_cursor;
      // New lines keep arriving while the walk goes on; they are newer than `to` and never show up.
      if (page++ < 3) await ingest(t.deviceKey, { logs: loghubLines("HDFS", 50) });
    } while (cursor);
    expect(logs.length).toBe(total);
    expect(ascending(logs)).toBe(true);

    // Newest first, while late lines with timestamps inside the range keep arriving: no line
    // is returned twice, and every line that existed when the walk began is returned.
    const existing = new Set(
      (await allLogs(t.viewerKey, `project_id=${t.projectId}&limit=1000&order=desc`)).map((l) => l.id),
    );
    const desc: any[] = [];
    cursor = null;
    page = 0;
    do {
      const res: any = await call(
        "GET",
        `/logs?project_id=${t.projectId}&order=desc&limit=777${cursor ? `&cursor=${cursor}` : ""}`,
        { token: t.viewerKey },
      );
      desc.push(...res.json.logs);
      cursor = res.json.next_cursor;
      if (page++ < 5) await ingest(second.deviceKey, { logs: loghubLines("Linux", 20, { endUs: end - 1_800_000 }) });
    } while (cursor);
    expect(new Set(desc.map((l) => l.id)).size).toBe(desc.length);
    for (const id of existing) expect(desc.some((l) => l.id === id)).toBe(true);
    expect(desc.every((l, i) => i === 0 || l.timestamp_us <= desc[i - 1].timestamp_us)).toBe(true);
  });

  it("merges many devices exactly, even when one device holds most lines", async () => {
    const t = await tenant();
    const keys = [t.deviceKey];
    for (let i = 0; i < 24; i++) keys.push((await newDevice(t.adminKey, t.projectId)).deviceKey);
    const end = Date.now() * 1000 - 2_000_000;
    // One busy device with 600 lines, 24 quiet ones with 6 each, all interleaved in time.
    await ingest(keys[0]!, { logs: loghubLines("Android", 600, { endUs: end, stepUs: 1000 }) });
    for (let i = 1; i < keys.length; i++) {
      await ingest(keys[i]!, { logs: loghubLines("HPC", 6, { endUs: end - i * 7000, stepUs: 100_000 }) });
    }
    for (const order of ["asc", "desc"]) {
      const all = await allLogs(t.viewerKey, `project_id=${t.projectId}&order=${order}&limit=1000`);
      expect(all.length).toBe(600 + 24 * 6);
      const paged = await allLogs(t.viewerKey, `project_id=${t.projectId}&order=${order}&limit=37`);
      expect(paged.map((l) => l.id)).toEqual(all.map((l) => l.id));
      const sorted = [...all].sort(
        (a, b) =>
          (order === "asc" ? 1 : -1) *
          (a.timestamp_us - b.timestamp_us ||
            (a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0) ||
            Number(a.id.split(":")[1]) - Number(b.id.split(":")[1])),
      );
      expect(all.map((l) => l.id)).toEqual(sorted.map((l) => l.id));
    }
  });

  it("filters by device, session, module, level set and time range", async () => {
    const t = await tenant();
    const now = Date.now() * 1000;
    await ingest(t.deviceKey, {
      session_id: "run-A",
      logs: [
        { timestamp_us: now - 5000, level: "INFO", module: "nav", message: "route planned" },
        { timestamp_us: now - 4000, level: "WARN", module: "nav", message: "obstacle near" },
        { timestamp_us: now - 3000, level: "ERROR", module: "arm", message: "gripper stalled" },
      ],
    });
    await ingest(t.deviceKey, {
      logs: [{ timestamp_us: now - 2000, level: "FATAL", module: "power", message: "battery cut" }],
    });
    const other = await newDevice(t.adminKey, t.projectId);
    await ingest(other.deviceKey, {
      logs: [{ timestamp_us: now - 1000, level: "ERROR", module: "arm", message: "other arm" }],
    });

    const messages = async (q: string) =>
      (await call("GET", `/logs?${q}&order=asc`, { token: t.viewerKey })).json.logs.map((l: any) => l.message);
    expect(await messages(`device_id=${t.deviceId}`)).toEqual([
      "route planned",
      "obstacle near",
      "gripper stalled",
      "battery cut",
    ]);
    expect(await messages(`session_id=run-A`)).toEqual(["route planned", "obstacle near", "gripper stalled"]);
    expect(await messages(`project_id=${t.projectId}&module=arm`)).toEqual(["gripper stalled", "other arm"]);
    expect(await messages(`project_id=${t.projectId}&level=ERROR,FATAL`)).toEqual([
      "gripper stalled",
      "battery cut",
      "other arm",
    ]);
    expect(await messages(`project_id=${t.projectId}&level=warn`)).toEqual(["obstacle near"]);
    const from = new Date((now - 4000) / 1000).toISOString();
    expect(await messages(`device_id=${t.deviceId}&from=${(now - 4000) / 1000}&to=${(now - 2000) / 1000}`)).toEqual([
      "obstacle near",
      "gripper stalled",
    ]);
    expect((await messages(`device_id=${t.deviceId}&from=${from}`)).length).toBeGreaterThanOrEqual(2);

    const line = (await call("GET", `/logs?device_id=${t.deviceId}&module=arm`, { token: t.viewerKey })).json.logs[0];
    expect(Object.keys(line)).toEqual(
      expect.arrayContaining([
        "id",
        "device_id",
        "session_id",
        "timestamp",
        "level",
        "module",
        "logger",
        "message",
        "thread_id",
        "context",
      ]),
    );
    expect(line).toMatchObject({ device_id: t.deviceId, session_id: "run-A", level: "ERROR" });
    expect((await call("GET", `/logs?project_id=${t.projectId}&level=LOUD`, { token: t.viewerKey })).status).toBe(400);
    expect(await messages(`project_id=${t.projectId}&level=ERROR,FATAL&level=WARN`)).toEqual([
      "obstacle near",
      "gripper stalled",
      "battery cut",
      "other arm",
    ]);
    expect((await call("GET", `/logs`, { token: t.viewerKey })).status).toBe(400);
    // A page size above the maximum is lowered to it, not refused.
    const big = await call("GET", `/logs?device_id=${t.deviceId}&limit=50000`, { token: t.viewerKey });
    expect(big.status).toBe(200);
    expect((await call("GET", `/logs?device_id=${t.deviceId}&limit=0`, { token: t.viewerKey })).status).toBe(400);
  });

  it("searches message text, and hostile query strings never raise an error", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { logs: loghubLines("OpenSSH", 2000) });
    const search = async (q: string) =>
      call("GET", `/logs?device_id=${t.deviceId}&limit=1000&q=${encodeURIComponent(q)}`, { token: t.viewerKey });

    // The text is one phrase: every hit contains it, and every line containing it is a hit.
    const all = await allLogs(t.viewerKey, `device_id=${t.deviceId}&limit=1000`);
    const hits = await allLogs(
      t.viewerKey,
      `device_id=${t.deviceId}&limit=1000&q=${encodeURIComponent("Invalid user")}`,
    );
    expect(hits.length).toBeGreaterThan(10);
    for (const l of hits) expect(l.message.toLowerCase()).toContain("invalid user");
    const containing = all.filter((l: any) => /(^|[^a-z0-9])invalid user/i.test(l.message));
    expect(hits.length).toBe(containing.length);
    const invalid = await search("Invalid user");
    // Typing a word halfway already finds it.
    const typed = await allLogs(
      t.viewerKey,
      `device_id=${t.deviceId}&limit=1000&q=${encodeURIComponent("Invalid us")}`,
    );
    expect(typed.length).toBe(hits.length);
    expect((await search("invalid webmaster")).json.logs.length).toBe(0); // not adjacent
    const breakIn = await search("BREAK-IN");
    expect(breakIn.json.logs.length).toBeGreaterThan(0);
    for (const l of breakIn.json.logs) expect(l.message).toMatch(/BREAK-IN/);

    const hostile = [
      '"',
      '""',
      "*",
      "-",
      "NEAR",
      "OR",
      "AND",
      "NOT",
      "a OR b",
      "NEAR(a b)",
      "message:x",
      "^start",
      "(",
      ")",
      "'; DROP TABLE logs; --",
      "\\",
      "{}",
      "-user",
      "user*",
      "\u0000",
      "a\u0000b",
      "hello\u0000",
      "tab\there",
      "😀",
      'a"b',
      "col:val OR NEAR(x, 3)",
    ];
    for (const q of hostile) {
      const res = await search(q);
      expect(res.status, q).toBe(200);
      expect(Array.isArray(res.json.logs)).toBe(true);
    }
    // Operators are searched as words: "OR" finds nothing it should not.
    expect((await search("Invalid OR nothing")).json.logs.length).toBe(0);
    expect((await search('"Invalid user"')).json.logs.length).toBe(invalid.json.logs.length);
    expect((await search("user*")).json.logs.length).toBeGreaterThan(0);
  });
});
