import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseCsv } from "../../agent/samples/csv";
import { CSV_COLUMNS } from "../../src/services/export-format";
import { allLogs, ingest, loghubLines, newDevice, readText, tenant } from "./helpers";

async function exportOf(token: string, query: string) {
  const res = await exports.default.fetch(`http://fleetbeat.test/api/v1/logs/export?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { res, text: await readText(res) };
}

describe("log export", () => {
  it("streams CSV with every matching row, a file name, and values that parse back exactly", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    // Android and Apache lines carry commas, quotes and braces; add line breaks and unicode too.
    await ingest(t.deviceKey, { session_id: "run-7", logs: loghubLines("Android", 1500) });
    await ingest(other.deviceKey, {
      logs: [
        ...loghubLines("Apache", 1200),
        { timestamp: new Date().toISOString(), level: "INFO", module: "cam", message: "empty context", context: {} },
        {
          timestamp: new Date().toISOString(),
          level: "ERROR",
          module: "cam,front",
          message: 'multi\nline "quoted", with, commas\r\nand 😀',
          context: { note: 'a "b", c', n: 3, ok: true },
        },
      ],
    });
    const query = `project_id=${t.projectId}`;
    const expected = (await allLogs(t.viewerKey, `${query}&limit=1000`)).length;
    expect(expected).toBe(2702);

    const { res, text } = await exportOf(t.viewerKey, `${query}&format=csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="fleetbeat-logs-.+\.csv"$/);
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual([...CSV_COLUMNS]);
    expect(rows.length).toBe(expected);

    // Every row equals what GET /logs returns for it.
    const byId = new Map((await allLogs(t.viewerKey, `${query}&limit=1000`)).map((l) => [l.id, l]));
    // An empty context stays an empty object, not a missing one.
    const emptyContext = rows.find((r) => r[CSV_COLUMNS.indexOf("message")] === "empty context")!;
    expect(emptyContext[CSV_COLUMNS.indexOf("context")]).toBe("{}");
    for (const row of rows) {
      const rec = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, row[i]]));
      const line = byId.get(rec.id!)!;
      expect(rec.message).toBe(line.message);
      expect(rec.module).toBe(line.module);
      expect(rec.level).toBe(line.level);
      expect(rec.timestamp).toBe(line.timestamp);
      expect(rec.session_id).toBe(line.session_id ?? "");
      expect(rec.context === "" ? null : JSON.parse(rec.context!)).toEqual(line.context);
    }
  });

  it("streams NDJSON and JSON with the same rows as the query, filters included", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { logs: loghubLines("Zookeeper", 2000) });
    const query = `device_id=${t.deviceId}&level=WARN,ERROR`;
    const expected = (await allLogs(t.viewerKey, `${query}&limit=1000`)).length;
    expect(expected).toBeGreaterThan(0);

    const nd = await exportOf(t.viewerKey, `${query}&format=ndjson`);
    expect(nd.res.headers.get("content-disposition")).toMatch(/\.ndjson"$/);
    const ndLines = nd.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(ndLines.length).toBe(expected);
    for (const l of ndLines) expect(["WARN", "ERROR"]).toContain(l.level);

    const js = await exportOf(t.viewerKey, `${query}&format=json`);
    const arr = JSON.parse(js.text);
    expect(arr.length).toBe(expected);
    expect(arr.map((l: any) => l.id)).toEqual(ndLines.map((l) => l.id));

    const empty = await exportOf(t.viewerKey, `device_id=${t.deviceId}&q=nosuchwordanywhere&format=json`);
    expect(JSON.parse(empty.text)).toEqual([]);
  });

  it("refuses other orgs and bad formats", async () => {
    const a = await tenant();
    const b = await tenant();
    expect((await exportOf(b.viewerKey, `project_id=${a.projectId}&format=csv`)).res.status).toBe(404);
    expect((await exportOf(a.viewerKey, `project_id=${a.projectId}&format=xml`)).res.status).toBe(400);
    // Hostile search text answers an empty, well-formed file.
    const nul = await exportOf(
      a.viewerKey,
      `project_id=${a.projectId}&format=json&q=${encodeURIComponent("a\u0000b")}`,
    );
    expect(nul.res.status).toBe(200);
    expect(JSON.parse(nul.text)).toEqual([]);
  });
});
