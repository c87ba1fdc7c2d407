// LogQL as the Loki read API parses it (Grafana's grammar, @grafana/lezer-logql): what parses,
// what each part means, and that every unsupported feature is refused with a message naming it.
// Regexes are RE2, in linear time, and what they read is counted against bounds.
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/contract/errors";
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
  parseLokiTime,
  RegexWork,
} from "../../src/contract/logql";
import { parseLogQuery, parseQuery } from "../../src/contract/logql-parse";

/** Work without bounds, for tests about what matches. */
const unbounded = () => new RegexWork({ lines: Infinity, chars: Infinity });
const line = (q: string, text: string) => matchesLine(parseLogQuery(q), text, unbounded());

const refused = (query: string) => {
  try {
    parseQuery(query);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${query} was accepted`);
};

describe("parseLogQuery: the subset", () => {
  it("reads a selector with every matcher operator and every line filter", () => {
    const q = parseLogQuery(
      '{device_id="dev_1", module!="net", level=~"ERROR|WARN", dsn!~`SN-9.*`} |= "fail" != "retry" |~ "(?i)time(out)?" !~ "ok$"',
    );
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
    const work = unbounded();
    expect(matchesLabels(q, { module: "net" }, work)).toBe(true);
    expect(matchesLabels(q, { module: "network" }, work)).toBe(false);
    expect(matchesLabels(q, { module: "net", session_id: "s1" }, work)).toBe(false);
    expect(matchesLabels(parseLogQuery('{session_id!=""}'), { session_id: "s1" }, work)).toBe(true);
  });

  it("filters lines: |= is a case-sensitive substring, |~ an unanchored regex, (?i) a flag", () => {
    expect(line('{} |= "Fail" != "retry"', "xFailure")).toBe(true);
    expect(line('{} |= "Fail" != "retry"', "failure")).toBe(false);
    expect(line('{} |= "Fail" != "retry"', "Fail, retry")).toBe(false);
    expect(line('{} |~ "(?i)time(d)? ?out"', "connection TIMED OUT")).toBe(true);
    expect(line('{} !~ "^ok"', "ok then")).toBe(false);
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
    ['{module="a"} | pattern "<_> error"', "`| pattern` is not supported"],
    ['{module="a"} | regexp "(?P<x>a)"', "`| regexp` is not supported"],
    ['{module="a"} | unpack', "`| unpack` is not supported"],
    ['{module="a"} | label_format a="{{.b}}"', "`| label_format` is not supported"],
    ['{module="a"} | logfmt --strict', "`| logfmt` with flags"],
    ['{module="a"} | drop level="DEBUG"', "`| drop` with a matcher"],
    ['{module="a"} | line_format "{{ printf \\"%s\\" .x }}"', "only {{.label}} substitutions"],
    ['{module="a"} | json | addr = ip("10.0.0.0/8")', "the ip() label filter"],
    ['sum by (level) (count_over_time({module="a"}[1m])) > 5', "the binary operator `>` is not supported"],
    ['quantile_over_time(0.99, {module="a"} | json | unwrap ms [1m])', "`quantile_over_time(…)` is not supported"],
    ['sum_over_time({module="a"} | logfmt | unwrap bytes [1m])', "`sum_over_time(…)` is not supported"],
    ['count_over_time({module="a"} | json | unwrap x [1m])', "`| unwrap` is not supported"],
    ['bottomk(3, rate({module="a"}[1m]))', "`bottomk` is not supported"],
    ['stddev(rate({module="a"}[1m]))', "`stddev` is not supported"],
    ["vector(2)", "`vector(…)` is not supported"],
    ['label_replace(rate({module="a"}[1m]), "x", "$1", "module", "(.*)")', "`label_replace(…)` is not supported"],
    ['sum by (host) (rate({module="a"}[1m]))', 'grouping by "host" is not supported'],
    ['{module="a"}[5m]', 'unexpected "[5m]"'],
    ['{module="a"} |> "<_> error"', "pattern line filter |>"],
    ['{module="a"} |= ip("10.0.0.0/8")', "the ip() line filter"],
    ['{job="x"} | pattern "<_>"', "`| pattern` is not supported"],
    ['{app="x"}', 'unknown label "app"'],
    ['{module~"a"}', "expected =, !=, =~ or !~ after module"],
    ['{module="a"', 'expected "," or "}"'],
    ['{} |= "x" | foo', "parse error at position 16: expected =, !=, =~ or !~ after foo"],
    ['{module="a}', "unterminated string"],
    ["{module=a}", "expected a quoted string"],
    ['{module="\\."}', "invalid escape"],
    ["", "query is required"],
    ["hello", "expected a stream selector"],
    ['{} |~ "(?<=a)b"', "lookaround ((?=…), (?!…), (?<=…), (?<!…)) is not supported"],
    ['{} |~ "a(?!b)"', "lookaround ((?=…), (?!…), (?<=…), (?<!…)) is not supported"],
    ['{} |~ "(a)\\\\1"', "a backreference (\\1, \\k<name>) is not supported"],
    ['{module=~"(?<m>a)\\\\k<m>"}', "a backreference (\\1, \\k<name>) is not supported"],
    ['{} |~ "[a-"', 'invalid regular expression "[a-": missing closing ] at `[a-`'],
    ['{} |~ "(?x)a"', 'invalid regular expression "(?x)a": invalid or unsupported Perl syntax at `(?x`'],
    ['{} |~ "a{1001}"', "invalid repeat count"],
  ])("%s", (query, message) => {
    expect(refused(query)).toContain(message);
  });

  it("refuses a metric query where a log query is expected", () => {
    expect(() => parseLogQuery('rate({module="a"}[5m])')).toThrow("a metric query is not a log query");
  });

  it("bounds the query and each regex", () => {
    expect(refused(`{} |= "${"a".repeat(5000)}"`)).toContain("at most 4096 characters");
    expect(refused(`{} |~ "${"a".repeat(300)}"`)).toContain("at most 256 characters");
  });

  it("holds at most 16 regexes a query, label matchers and line filters together", () => {
    const filters = (n: number) => Array.from({ length: n }, (_, i) => `|~ "a${i}"`).join(" ");
    expect(parseLogQuery(`{module=~"m.*"} ${filters(15)}`).filters).toHaveLength(15);
    expect(refused(`{module=~"m.*"} ${filters(16)}`)).toContain("a query has at most 16 regular expressions");
  });
});

describe("regexes are RE2, matched in time linear in the line", () => {
  const long = "x".repeat(1000);
  // Issue 20: each of these kept a backtracking engine busy for minutes on a line of 1,000 x.
  // (The issue's `[ax]*[ay]*…` stalls only when every class holds the line's character.)
  it.each([
    ["16 × .* then =x", `${".*".repeat(16)}=x`, "=x"],
    ["10 × (.*) then Z", `${"(.*)".repeat(10)}Z`, "Z"],
    ["10 × [ax]*[bx]*… then Q", `${[..."abcdefghij"].map((c) => `[${c}x]*`).join("")}Q`, "Q"],
    ["11 × \\w* then Q", `${"\\w*".repeat(11)}Q`, "Q"],
  ])("%s over a 1,000-character line answers at once", (_, shape, tail) => {
    const started = performance.now();
    const q = parseLogQuery(`{level=~".*"} |~ ${JSON.stringify(shape)}`);
    expect(matchesLine(q, long, unbounded())).toBe(false);
    expect(matchesLine(q, long + tail, unbounded())).toBe(true);
    expect(matchesLabels(q, { level: "INFO" }, unbounded())).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("takes Go's syntax: nested repeats, flags anywhere, non-greedy (?U), named groups, classes", () => {
    expect(line('{} |~ "(a+)+$"', `${"a".repeat(5000)}!`)).toBe(false);
    expect(line('{} |~ "(a|aa)*c"', "a".repeat(5000))).toBe(false);
    expect(line('{} |~ "(a|aa)*c"', "aaac")).toBe(true);
    expect(line('{} |~ "motor (?i)STALL"', "motor stall")).toBe(true);
    expect(line('{} |~ "motor (?i)STALL"', "MOTOR stall")).toBe(false);
    expect(line('{} |~ "(?U)a+b"', "aab")).toBe(true);
    expect(line('{} |~ "[[:digit:]]{3} \\\\pL+"', "404 missing")).toBe(true);
    expect(compileRegex("(?P<code>\\d{3}) [a-z]+", true).test("404 missing")).toBe(true);
    expect(compileRegex("(?<code>\\d{3})", false).test("at 404")).toBe(true);
  });

  it("anchors label matchers at both ends and line filters at neither, as Loki does", () => {
    expect(compileRegex("net|arm", true).test("network")).toBe(false);
    expect(compileRegex("net|arm", true).test("arm")).toBe(true);
    expect(compileRegex("net|arm", false).test("network")).toBe(true);
    expect(compileRegex("^ok$", false).test("ok")).toBe(true);
    expect(compileRegex("(?m)^ok$", false).test("first\nok\nlast")).toBe(true);
    expect(compileRegex("a.b", false).test("a\nb")).toBe(false);
    expect(compileRegex("(?s)a.b", false).test("a\nb")).toBe(true);
  });
});

describe("RegexWork: what a query's regexes read, bounded", () => {
  const tooMuch = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ApiError);
      return {
        status: (err as ApiError).status,
        message: (err as ApiError).message,
        details: (err as ApiError).details,
      };
    }
    throw new Error("the work was not refused");
  };

  it("counts each text a regex tests and its characters; substring filters cost nothing", () => {
    const work = unbounded();
    const q = parseLogQuery('{module=~"a.*"} |= "x" |~ "x+" !~ "y"');
    matchesLabels(q, { module: "arm" }, work);
    matchesLine(q, "xxxx", work);
    expect({ lines: work.lines, chars: work.chars }).toEqual({ lines: 3, chars: 3 + 4 + 4 });
    // A line the substring filter drops reaches no regex.
    matchesLine(q, "zzzz", work);
    expect(work.lines).toBe(3);
  });

  it("refuses a test past the lines bound with a 400 naming it", () => {
    const work = new RegexWork({ lines: 2, chars: 1000 });
    const q = parseLogQuery('{} |~ "x"');
    matchesLine(q, "x", work);
    matchesLine(q, "x", work);
    expect(tooMuch(() => matchesLine(q, "x", work))).toEqual({
      status: 400,
      message: expect.stringContaining("would test more than 2 lines and label values (lines_tested)"),
      details: { limit: "lines_tested", max: 2 },
    });
  });

  it("refuses a test past the characters bound before it runs", () => {
    const work = new RegexWork({ lines: 100, chars: 10 });
    const q = parseLogQuery('{} |~ "x"');
    matchesLine(q, "x".repeat(6), work);
    expect(tooMuch(() => matchesLine(q, "x".repeat(6), work))).toEqual({
      status: 400,
      message: expect.stringContaining("(chars_tested)"),
      details: { limit: "chars_tested", max: 10 },
    });
  });

  it("counts a character once per 64 instructions of a large regex", () => {
    const work = unbounded();
    compileRegex("x", false).test("abcd", work);
    expect(work.chars).toBe(4);
    // x{200} compiles to about 200 instructions: each character counts 4 times.
    compileRegex("x{200}", false).test("abcd", work);
    expect(work.chars).toBe(4 + 4 * 4);
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
