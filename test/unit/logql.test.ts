// The LogQL subset of the Loki read API: what parses, what each part means, and that every
// unsupported feature is refused with a message naming it.
import { describe, expect, it } from "vitest";
import {
  allowedLevels,
  compileRegex,
  exactValue,
  isHealthCheckQuery,
  matchesLabels,
  matchesLine,
  nanos,
  needsRegistry,
  parseDurationUs,
  parseLogQuery,
  parseLokiTime,
} from "../../src/contract/logql";

const refused = (query: string) => {
  try {
    parseLogQuery(query);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${query} was accepted`);
};

describe("parseLogQuery: the subset", () => {
  it("reads a selector with every matcher operator and every line filter", () => {
    const q = parseLogQuery('{device_id="dev_1", module!="net", level=~"ERROR|WARN", dsn!~`SN-9.*`} |= "fail" != "retry" |~ "(?i)time(out)?" !~ "ok$"');
    expect(q.matchers.map((m) => [m.label, m.op, m.value])).toEqual([
      ["device_id", "=", "dev_1"],
      ["module", "!=", "net"],
      ["level", "=~", "ERROR|WARN"],
      ["dsn", "!~", "SN-9.*"],
    ]);
    expect(q.filters.map((f) => [f.op, f.value])).toEqual([
      ["|=", "fail"],
      ["!=", "retry"],
      ["|~", "(?i)time(out)?"],
      ["!~", "ok$"],
    ]);
  });

  it("takes an empty selector, spaces anywhere, and Go escapes in strings", () => {
    expect(parseLogQuery("{}").matchers).toEqual([]);
    const q = parseLogQuery('  {  module = "a\\"b" ,level="error" }   |=   "tab\\there"  ');
    expect(q.matchers[0]!.value).toBe('a"b');
    expect(q.matchers[1]!.value).toBe("ERROR"); // levels in any case
    expect(q.filters[0]!.value).toBe("tab\there");
  });

  it("anchors label regexes and matches a missing label as empty, as Loki does", () => {
    const q = parseLogQuery('{module=~"net", session_id=""}');
    expect(matchesLabels(q, { module: "net" })).toBe(true);
    expect(matchesLabels(q, { module: "network" })).toBe(false);
    expect(matchesLabels(q, { module: "net", session_id: "s1" })).toBe(false);
    expect(matchesLabels(parseLogQuery('{session_id!=""}'), { session_id: "s1" })).toBe(true);
  });

  it("filters lines: |= is a case-sensitive substring, |~ an unanchored regex, (?i) a flag", () => {
    const q = parseLogQuery('{} |= "Fail" != "retry"');
    expect(matchesLine(q, "xFailure")).toBe(true);
    expect(matchesLine(q, "failure")).toBe(false);
    expect(matchesLine(q, "Fail, retry")).toBe(false);
    expect(matchesLine(parseLogQuery('{} |~ "(?i)time(d)? ?out"'), "connection TIMED OUT")).toBe(true);
    expect(matchesLine(parseLogQuery('{} !~ "^ok"'), "ok then")).toBe(false);
  });

  it("says what the search can do itself", () => {
    const q = parseLogQuery('{device_id="dev_1", level!="DEBUG", level!~"FATAL|INFO"}');
    expect(exactValue(q, "device_id")).toBe("dev_1");
    expect(exactValue(q, "module")).toBeUndefined();
    expect(allowedLevels(q)).toEqual(["WARN", "ERROR"]);
    expect(needsRegistry(q)).toBe(false);
    expect(needsRegistry(parseLogQuery('{dsn="SN-1"}'))).toBe(true);
    expect(needsRegistry(parseLogQuery('{device_id=~"dev_.*"}'))).toBe(true);
  });
});

describe("parseLogQuery: refused, naming what", () => {
  it.each([
    ['{module="a"} | json', "the | json stage is not supported"],
    ['{module="a"} | logfmt | level="x"', "the | logfmt stage is not supported"],
    ['{module="a"} | line_format "{{.x}}"', "the | line_format stage is not supported"],
    ['{module="a"} | status >= 500', "the label filter expression | status"],
    ['rate({module="a"}[5m])', "metric query rate(…) is not supported"],
    ['sum by (level) (count_over_time({module="a"}[1m]))', "metric query sum"],
    ['count_over_time({module="a"}[1m])', "metric query count_over_time(…)"],
    ['{module="a"}[5m]', "a range [duration]"],
    ['{module="a"} |> "<_> error"', "pattern line filter |>"],
    ['{module="a"} |= "a" or "b"', '"or" between line filter values'],
    ['{module="a"} |= ip("10.0.0.0/8")', "the ip() line filter"],
    ['{app="x"}', 'unknown label "app"'],
    ['{module~"a"}', "expected =, !=, =~ or !~ after module"],
    ['{module="a"', 'expected "," or "}"'],
    ['{module="a}', "unterminated string"],
    ['{module=a}', "expected a quoted string"],
    ['{module="\\."}', "invalid escape"],
    ["", "query is required"],
    ["hello", "expected a stream selector"],
    ['{} |~ "(?<=a)b"', "lookaround"],
    ['{} |~ "(a)\\\\1"', "backreference"],
    ['{} |~ "(a+)+$"', "a repeated group that itself repeats or alternates"],
    ['{} |~ "(a|aa)*c"', "a repeated group that itself repeats or alternates"],
    ['{} |~ "(?U)a+"', "the regex flag (?U)"],
    ['{} |~ "a(?i)b"', "an inline regex flag other than at the start"],
    ['{} |~ "[a-"', "invalid regular expression"],
  ])("%s", (query, message) => {
    expect(refused(query)).toContain(message);
  });

  it("bounds the query and each regex", () => {
    expect(refused(`{} |= "${"a".repeat(5000)}"`)).toContain("at most 4096 characters");
    expect(refused(`{} |~ "${"a".repeat(300)}"`)).toContain("at most 256 characters");
  });

  it("keeps repeated groups that cannot backtrack exponentially, and RE2 named groups", () => {
    expect(compileRegex("(ab)+c", false).test("ababc")).toBe(true);
    expect(compileRegex("(?P<code>\\d{3}) [a-z]+", true).test("404 missing")).toBe(true);
    expect(compileRegex("[(]a+[)]+", false).test("(aa)")).toBe(true);
  });
});

describe("Loki times", () => {
  it("reads nanoseconds, seconds, float seconds and RFC 3339 as µs", () => {
    expect(parseLokiTime("1700000000123456789")).toBe(1700000000123456);
    expect(parseLokiTime("1700000000")).toBe(1700000000_000000);
    expect(parseLokiTime("1700000000.5")).toBe(1700000000_500000);
    expect(parseLokiTime("2023-11-14T22:13:20.123456Z")).toBe(1700000000123456);
    expect(parseLokiTime("yesterday")).toBeNaN();
    expect(nanos(1700000000123456)).toBe("1700000000123456000");
  });

  it("reads durations", () => {
    expect(parseDurationUs("1h30m")).toBe(5.4e9);
    expect(parseDurationUs("500ms")).toBe(5e5);
    expect(parseDurationUs("90")).toBe(9e7);
    expect(parseDurationUs("1 hour")).toBeNaN();
  });

  it("knows Grafana's health-check query", () => {
    expect(isHealthCheckQuery("vector(1)+vector(1)")).toBe(true);
    expect(isHealthCheckQuery("vector(1) + vector(1)")).toBe(true);
    expect(isHealthCheckQuery("vector(2)")).toBe(false);
  });
});
