// A LogQL pipeline's stages on single lines, as Loki runs them: parsers, label filters on what
// they extract (strings, numbers, durations, bytes, and/or), line_format, drop and keep.
import { describe, expect, it } from "vitest";
import { type Labels, matchesLine, RegexWork } from "../../src/contract/logql";
import { parseLogQuery } from "../../src/contract/logql-parse";
import { bytesOf, durationOf, jsonFields, logfmtFields, runStages } from "../../src/contract/logql-pipeline";

const unbounded = () => new RegexWork({ lines: Infinity, chars: Infinity });

/** The line and labels a query's pipeline leaves of one line of a stream, or null when it drops the line. */
function run(query: string, line: string, stream: Labels = { module: "api", level: "INFO" }) {
  const q = parseLogQuery(query);
  if (!matchesLine(q, line, unbounded())) return null;
  return runStages(q.stages, line, { ...stream }, unbounded());
}

describe("parsers", () => {
  it("| json flattens nested keys with _, sanitises names, and marks a line that is not an object", () => {
    expect(jsonFields('{"status":503,"req":{"path":"/x","ms":1.5},"ok":false,"tags":["a"],"a-b":null}')).toEqual([
      ["status", "503"],
      ["req_path", "/x"],
      ["req_ms", "1.5"],
      ["ok", "false"],
      ["a_b", ""],
    ]);
    expect(jsonFields("not json")).toEqual([["__error__", "JSONParserErr"]]);
    expect(jsonFields("[1,2]")).toEqual([["__error__", "JSONParserErr"]]);
  });

  it("| logfmt reads bare and quoted values and leaves out empty ones", () => {
    expect(logfmtFields('level=error msg="disk full, retry" dur=1.5s empty= flag 3d=x')).toEqual([
      ["level", "error"],
      ["msg", "disk full, retry"],
      ["dur", "1.5s"],
      ["_3d", "x"],
    ]);
  });

  it("names an extracted label that a stream label has <name>_extracted, as Loki does", () => {
    expect(run("{} | logfmt", "level=debug module=x user=ada")?.labels).toEqual({
      module: "api",
      level: "INFO",
      level_extracted: "debug",
      module_extracted: "x",
      user: "ada",
    });
  });

  it("| json with expressions takes paths and indexes", () => {
    expect(
      run('{} | json code="res.status", first="tags[0]", s="res"', '{"res":{"status":404},"tags":["a","b"]}')?.labels,
    ).toMatchObject({ code: "404", first: "a", s: '{"status":404}' });
  });
});

describe("label filters", () => {
  const line = '{"status":503,"duration":"1.5s","size":"12KB","path":"/api/v1"}';
  it.each([
    ["{} | json | status >= 500", true],
    ["{} | json | status == 503", true],
    ["{} | json | status != 503", false],
    ["{} | json | status < 500", false],
    ["{} | json | duration > 1s", true],
    ["{} | json | duration > 1s500ms", false],
    ["{} | json | size >= 10KB", true],
    ["{} | json | size > 1MB", false],
    ['{} | json | path =~ "/api/.*"', true],
    ['{} | json | path !~ "/api/.*"', false],
    ['{} | json | path = "/api/v1", status = 503', true],
    ['{} | json | status < 500 or path = "/api/v1"', true],
    ['{} | json | (status < 500 or path = "/nope") and duration > 1s', false],
    ['{} | json | level = "info"', true], // the stream's level, in any case
  ])("%s → %s", (query, kept) => {
    expect(run(query, line) !== null).toBe(kept);
  });

  it('keeps a line whose value is no number, with __error__ set, and | __error__="" drops it', () => {
    expect(run("{} | logfmt | status > 5", "status=high")?.labels.__error__).toBe("LabelFilterErr");
    expect(run('{} | logfmt | status > 5 | __error__=""', "status=high")).toBeNull();
    expect(run('{} | json | __error__=""', "plain text")).toBeNull();
    expect(run("{} | json | drop __error__", "plain text")?.labels).toEqual({ module: "api", level: "INFO" });
  });

  it("reads Go durations and humanized sizes", () => {
    expect(durationOf("1h2m3.5s")).toBe(3723.5);
    expect(durationOf("-300ms")).toBe(-0.3);
    expect(durationOf("12")).toBeNaN();
    expect(bytesOf("10KB")).toBe(10_000);
    expect(bytesOf("5 MiB")).toBe(5 * 1024 * 1024);
    expect(bytesOf("3k")).toBe(3000);
    expect(bytesOf("fast")).toBeNaN();
  });
});

describe("formatting and labels", () => {
  it("| line_format substitutes {{.label}}, missing ones empty", () => {
    expect(
      run('{} | logfmt | line_format "{{.user}} did {{ .action }} at {{.nope}}."', "user=ada action=login")?.line,
    ).toBe("ada did login at .");
  });

  it("line filters after a formatter read the formatted line", () => {
    expect(run('{} | logfmt | line_format "{{.msg}}" |= "disk"', 'msg="disk full" host=a')?.line).toBe("disk full");
    expect(run('{} | logfmt | line_format "{{.msg}}" |= "host"', 'msg="disk full" host=a')).toBeNull();
  });

  it("| decolorize strips ANSI colours; | keep and | drop choose labels", () => {
    expect(run("{} | decolorize", "\u001b[0;32mhttp\u001b[0m: GET /")?.line).toBe("http: GET /");
    expect(run("{} | logfmt | keep user, level", "user=ada id=7")?.labels).toEqual({ user: "ada", level: "INFO" });
    expect(run("{} | logfmt | drop id, module", "user=ada id=7")?.labels).toEqual({ user: "ada", level: "INFO" });
  });

  it('"or" between line filter values: any for |= and |~, none for != and !~', () => {
    expect(run('{} |= "disk" or "motor"', "motor stall")).not.toBeNull();
    expect(run('{} |= "disk" or "motor"', "all fine")).toBeNull();
    expect(run('{} != "disk" or "motor"', "motor stall")).toBeNull();
    expect(run('{} |~ "d.sk" or "m.tor"', "motor")).not.toBeNull();
  });
});
