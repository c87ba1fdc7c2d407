import { describe, expect, it } from "vitest";
import { parseCsv } from "../../agent/samples/csv";
import { attachmentDisposition, csvCell } from "../../src/services/export-format";

describe("a CSV cell", () => {
  it("starts with a quote when a spreadsheet would read it as a formula (OWASP CSV injection)", () => {
    expect(csvCell('=HYPERLINK("http://evil.example","x")')).toBe(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-1+1")).toBe("'-1+1");
    expect(csvCell("@SUM(A1:A2)")).toBe("'@SUM(A1:A2)");
    expect(csvCell("\t=1+2")).toBe(`"'\t=1+2"`);
    expect(csvCell("\r=1+2")).toBe(`"'\r=1+2"`);
    // OWASP says so for every leading minus, so plain text like this gains the quote too.
    expect(csvCell("-5 degrees")).toBe("'-5 degrees");
  });

  it("quotes a field with a separator of either kind, so no formula starts a cell in the middle", () => {
    // The examples of OWASP's CSV Injection page.
    expect(csvCell('=1+2";=1+2')).toBe(`"'=1+2"";=1+2"`);
    expect(csvCell(`=1+2'" ;,=1+2`)).toBe(`"'=1+2'"" ;,=1+2"`);
    // Excel in locales whose list separator is ";" splits on it outside quotes.
    expect(csvCell("ok;=1+2")).toBe(`"ok;=1+2"`);
  });

  it("leaves other text as it was, and still parses back as RFC 4180", () => {
    for (const text of ["plain", "", "a = b", "x-1", "é = 😀", '{"k":"-1"}', "'already quoted"]) {
      const cell = csvCell(text);
      expect(parseCsv(`${cell}\r\n`)).toEqual([[text]]);
    }
    expect(csvCell(null)).toBe("");
    const hostile = 'multi\nline "quoted", =x';
    expect(parseCsv(`${csvCell(hostile)},${csvCell("-2")}\r\n`)).toEqual([[hostile, "'-2"]]);
  });
});

describe("the export's Content-Disposition", () => {
  it("is a plain filename when the name is plain ASCII", () => {
    expect(attachmentDisposition("fleetbeat-logs-dev_01KB-20260101T000000.csv")).toBe(
      'attachment; filename="fleetbeat-logs-dev_01KB-20260101T000000.csv"',
    );
  });

  /** The header's parameters, as RFC 6266 reads them: name=token or name="quoted string". */
  function parameters(header: string): Map<string, string> {
    const out = new Map<string, string>();
    const re = /;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
    const [type] = header.split(";");
    expect(type).toBe("attachment");
    for (const m of header.matchAll(re)) {
      expect(out.has(m[1]!.toLowerCase()), `${m[1]} once`).toBe(false);
      out.set(m[1]!.toLowerCase(), m[2] ?? m[3]!);
    }
    // Nothing between the parameters but the parameters themselves.
    expect(header.replace(re, "")).toBe("attachment");
    return out;
  }

  it("keeps a hostile name inside one filename parameter", () => {
    const header = attachmentDisposition('fleetbeat-logs-x";filename="evil.bat-20260101T000000.csv');
    const p = parameters(header);
    expect([...p.keys()].sort()).toEqual(["filename", "filename*"]);
    expect(p.get("filename")).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(p.get("filename")).toBe("fleetbeat-logs-x__filename__evil.bat-20260101T000000.csv");
    expect(p.get("filename*")).toMatch(/^UTF-8''[A-Za-z0-9!#$&+.^_`|~%-]+$/);
    // The real name keeps what a file name may hold; only the quotes go.
    expect(decodeURIComponent(p.get("filename*")!.slice("UTF-8''".length))).toBe(
      "fleetbeat-logs-x_;filename=_evil.bat-20260101T000000.csv",
    );
  });

  it("gives a name in any script as UTF-8, with an ASCII fallback", () => {
    const p = parameters(attachmentDisposition("fleetbeat-logs-セッション 1 (é)-20260101T000000.ndjson"));
    expect(p.get("filename")).toBe("fleetbeat-logs-______1____-20260101T000000.ndjson");
    expect(decodeURIComponent(p.get("filename*")!.slice("UTF-8''".length))).toBe(
      "fleetbeat-logs-セッション 1 (é)-20260101T000000.ndjson",
    );
  });

  it("replaces what no file system takes: path separators, control characters, reserved marks", () => {
    for (const bad of ["..\\..\\evil", "a:b*c?d<e>f|g", "tab\there", "nul\u0000x", "del\u007fx", "lone\ud800x"]) {
      const header = attachmentDisposition(`fleetbeat-logs-${bad}-1.csv`);
      expect(header).toMatch(/^[\x20-\x7e]+$/);
      const p = parameters(header);
      expect(p.get("filename")).toMatch(/^[A-Za-z0-9._-]+$/);
      const real = p.has("filename*")
        ? decodeURIComponent(p.get("filename*")!.slice("UTF-8''".length))
        : p.get("filename")!;
      expect(real).not.toMatch(/[\\/:*?"<>|\p{Cc}]/u);
      expect(real).toMatch(/^fleetbeat-logs-.+-1\.csv$/);
    }
  });
});
