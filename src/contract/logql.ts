// The LogQL subset the Loki-compatible read API (/loki/api/v1, src/routes/loki.ts) answers:
// a stream selector `{label op "value", …}` with =, !=, =~ and !~ on fleetbeat's labels, then
// line filters |=, !=, |~ and !~. Anything else (parsers such as `| json`, label filter
// expressions, metric queries such as rate(…)) is refused with a message naming it.
//
// Regular expressions are Loki's, Go's RE2 syntax, and run on re2js, a JavaScript port of RE2:
// the same syntax and meaning (inline flags anywhere, (?P<name>…), no lookaround or
// backreferences), and time linear in the text, so no pattern backtracks. Linear is not cheap
// in every case: a pattern that defeats RE2's DFA reads a character in µs rather than ns, and
// its DFA holds memory. So a query has at most MAX_QUERY_REGEXES regexes of MAX_REGEX_CHARS,
// each with a bounded DFA, and what they read is counted in a RegexWork that the caller bounds.
import { RE2JS, RE2JSException, RE2JSSyntaxException, RE2Set } from "re2js";
import { z } from "zod";
import { ApiError } from "./errors";
import { LEVELS } from "./levels";
import { parseIsoMicros } from "../lib/time";

/** The labels of a stream: who logged it (device, from the registry), and the line's level, module and session. */
export const LOKI_LABELS = ["device_id", "dsn", "device_type", "environment", "session_id", "module", "level"] as const;
export type LokiLabel = (typeof LOKI_LABELS)[number];
export type StreamLabels = Partial<Record<LokiLabel, string>>;

/** Labels that come from the device registry rather than from the line itself. */
export const DEVICE_LABELS: readonly LokiLabel[] = ["device_id", "dsn", "device_type", "environment"];

type MatchOp = "=" | "!=" | "=~" | "!~";
type FilterOp = "|=" | "!=" | "|~" | "!~";

interface LabelMatcher {
  label: LokiLabel;
  op: MatchOp;
  value: string;
  /** Whether a stream's value (missing labels are "", as in Loki) passes this matcher; a regex counts its work in `work`. */
  test: (value: string, work?: RegexWork) => boolean;
}

interface LineFilter {
  op: FilterOp;
  value: string;
  test: (line: string, work?: RegexWork) => boolean;
}

export interface LogQuery {
  matchers: LabelMatcher[];
  filters: LineFilter[];
}

const MAX_QUERY_CHARS = 4096;
const MAX_REGEX_CHARS = 256;
/**
 * Regexes (label matchers and line filters) in one query: each holds a DFA of up to
 * DFA_BYTES while the query runs, and the largest take ~15 ms to compile.
 */
const MAX_QUERY_REGEXES = 16;
/** The memory each regex's DFA may use; past it RE2 resets it, or falls back to its NFA. */
const DFA_BYTES = 1024 * 1024;
/** A regex program of up to this many instructions counts each character it reads once towards RegexWork; a larger one once per this many. */
const INSTRUCTIONS_PER_WEIGHT = 64;
const SUPPORTED =
  'fleetbeat supports a stream selector {label="value", …} (=, !=, =~, !~) followed by line filters |=, !=, |~, !~';

const unsupported = (what: string) => new ApiError("bad_request", `${what} is not supported: ${SUPPORTED}`);
const parseError = (message: string, at: number) =>
  new ApiError("bad_request", `parse error at position ${at + 1}: ${message}`);

/** Grafana's "Save & test" asks for this instant query and expects the vector 2. */
export const isHealthCheckQuery = (query: string) => query.replace(/\s+/g, "") === "vector(1)+vector(1)";

// Stages after `|` that Loki has and this subset does not.
const STAGES = new Set([
  "json",
  "logfmt",
  "regexp",
  "pattern",
  "unpack",
  "line_format",
  "label_format",
  "keep",
  "drop",
  "decolorize",
  "unwrap",
  "distinct",
]);

class Reader {
  pos = 0;
  constructor(readonly text: string) {}
  skipSpace() {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }
  rest() {
    return this.text.slice(this.pos);
  }
  done() {
    return this.pos >= this.text.length;
  }
  take(token: string): boolean {
    if (!this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }
  ident(): string | null {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.rest());
    if (!m) return null;
    this.pos += m[0].length;
    return m[0];
  }
  /** A double-quoted string (Go escapes, as JSON takes them) or a `raw` one. */
  string(): string {
    const start = this.pos;
    const quote = this.text[this.pos];
    if (quote === "`") {
      const end = this.text.indexOf("`", start + 1);
      if (end < 0) throw parseError("unterminated `string`", start);
      this.pos = end + 1;
      return this.text.slice(start + 1, end);
    }
    if (quote !== '"') throw parseError(`expected a quoted string, found ${describe(this.rest())}`, start);
    let i = start + 1;
    while (i < this.text.length && this.text[i] !== '"') i += this.text[i] === "\\" ? 2 : 1;
    if (i >= this.text.length) throw parseError("unterminated string", start);
    this.pos = i + 1;
    try {
      return JSON.parse(this.text.slice(start, i + 1)) as string;
    } catch {
      throw parseError("invalid escape in string (write \\\\ for a backslash, or use a `raw string`)", start);
    }
  }
}

const describe = (rest: string) => (rest === "" ? "the end of the query" : `"${rest.slice(0, 12)}"`);

/** Parses a LogQL log query of the subset; throws a 400 ApiError naming what is wrong or unsupported. */
export function parseLogQuery(query: string): LogQuery {
  if (query.length > MAX_QUERY_CHARS)
    throw new ApiError("bad_request", `a query is at most ${MAX_QUERY_CHARS} characters`);
  const r = new Reader(query);
  r.skipSpace();
  if (r.done()) throw new ApiError("bad_request", "query is required");
  if (!r.text.startsWith("{", r.pos)) {
    const fn = /^([A-Za-z_][A-Za-z0-9_]*)\s*\(/.exec(r.rest());
    if (fn) throw unsupported(`metric query ${fn[1]}(…)`);
    if (/^(sum|avg|min|max|count|topk|bottomk|stddev|stdvar|sort|sort_desc)\b/.test(r.rest()))
      throw unsupported(`metric query ${r.rest().split(/\s/)[0]}`);
    throw parseError(`expected a stream selector such as {level="ERROR"}, found ${describe(r.rest())}`, r.pos);
  }
  r.take("{");
  const regexes = { count: 0 };
  const matchers: LabelMatcher[] = [];
  r.skipSpace();
  if (!r.take("}")) {
    for (;;) {
      r.skipSpace();
      matchers.push(matcher(r, regexes));
      r.skipSpace();
      if (r.take("}")) break;
      if (!r.take(",")) throw parseError(`expected "," or "}", found ${describe(r.rest())}`, r.pos);
    }
  }
  const filters: LineFilter[] = [];
  for (;;) {
    r.skipSpace();
    if (r.done()) break;
    if (r.text.startsWith("|>", r.pos) || r.text.startsWith("!>", r.pos))
      throw unsupported(`pattern line filter ${r.text.slice(r.pos, r.pos + 2)}`);
    const op = (["|=", "!=", "|~", "!~"] as const).find((o) => r.take(o));
    if (op) {
      r.skipSpace();
      if (/^ip\s*\(/.test(r.rest())) throw unsupported("the ip() line filter");
      filters.push(lineFilter(op, r.string(), regexes));
      r.skipSpace();
      if (/^or\b/.test(r.rest())) throw unsupported('"or" between line filter values');
      continue;
    }
    if (r.take("|")) {
      r.skipSpace();
      const at = r.pos;
      const name = r.ident();
      if (name && STAGES.has(name)) throw unsupported(`the | ${name} stage`);
      if (name) throw unsupported(`the label filter expression | ${name}…`);
      throw parseError(`unexpected ${describe(r.text.slice(at))} after |`, at);
    }
    if (r.text.startsWith("[", r.pos)) throw unsupported("a range [duration] (metric queries)");
    throw parseError(`unexpected ${describe(r.rest())}`, r.pos);
  }
  return { matchers, filters };
}

function matcher(r: Reader, regexes: { count: number }): LabelMatcher {
  const at = r.pos;
  const name = r.ident();
  if (!name) throw parseError(`expected a label name, found ${describe(r.rest())}`, at);
  if (!(LOKI_LABELS as readonly string[]).includes(name)) {
    throw new ApiError("bad_request", `unknown label "${name}": the labels are ${LOKI_LABELS.join(", ")}`);
  }
  const label = name as LokiLabel;
  r.skipSpace();
  const op = (["=~", "!~", "!=", "="] as const).find((o) => r.take(o));
  if (!op) throw parseError(`expected =, !=, =~ or !~ after ${name}, found ${describe(r.rest())}`, r.pos);
  r.skipSpace();
  let value = r.string();
  // Levels are the contract's five, in any case (level="error" is ERROR).
  if (label === "level" && (op === "=" || op === "!=")) value = value.toUpperCase();
  if (op === "=") return { label, op, value, test: (v) => v === value };
  if (op === "!=") return { label, op, value, test: (v) => v !== value };
  const re = regex(value, true, regexes);
  return { label, op, value, test: op === "=~" ? (v, w) => re.test(v, w) : (v, w) => !re.test(v, w) };
}

function lineFilter(op: FilterOp, value: string, regexes: { count: number }): LineFilter {
  if (op === "|=") return { op, value, test: (line) => line.includes(value) };
  if (op === "!=") return { op, value, test: (line) => !line.includes(value) };
  const re = regex(value, false, regexes);
  return { op, value, test: op === "|~" ? (line, w) => re.test(line, w) : (line, w) => !re.test(line, w) };
}

/** One more regex of the query being parsed, refused past MAX_QUERY_REGEXES. */
function regex(source: string, anchored: boolean, regexes: { count: number }): Regex {
  if (++regexes.count > MAX_QUERY_REGEXES) {
    throw new ApiError(
      "bad_request",
      `a query has at most ${MAX_QUERY_REGEXES} regular expressions (=~, !~, |~ and !~ together)`,
    );
  }
  return compileRegex(source, anchored);
}

/** A compiled LogQL regex. */
interface Regex {
  /** Whether `text` matches (all of it, for a label matcher), counting the work in `work`. */
  test(text: string, work?: RegexWork): boolean;
}

/**
 * Compiles an RE2 pattern as Loki does: label matchers match the whole value, line filters
 * anywhere in the line. A pattern RE2 refuses is a 400 naming what is wrong.
 */
export function compileRegex(source: string, anchored: boolean): Regex {
  if (source.length > MAX_REGEX_CHARS)
    throw new ApiError("bad_request", `a regular expression is at most ${MAX_REGEX_CHARS} characters`);
  // RE2Set, for one pattern, is re2js's matcher whose DFA memory can be bounded; RE2JS tells the program's size.
  const set = new RE2Set(anchored ? RE2Set.ANCHOR_BOTH : RE2Set.UNANCHORED, 0, DFA_BYTES);
  let instructions: number;
  try {
    instructions = RE2JS.compile(source).programSize();
    set.add(source);
    set.compile();
  } catch (err) {
    if (err instanceof RE2JSException) throw refusedRegex(source, err);
    throw err;
  }
  // Where the DFA gives up, a character costs up to about one NFA step per instruction.
  const weight = Math.ceil(instructions / INSTRUCTIONS_PER_WEIGHT);
  return {
    test(text, work) {
      work?.count(text, weight);
      return set.match(text).length > 0;
    },
  };
}

/** What RE2 refused, in words: lookaround and backreferences by name, as Loki users meet them in other engines. */
function refusedRegex(source: string, err: RE2JSException): ApiError {
  const at = err instanceof RE2JSSyntaxException ? (err.getPattern() ?? "") : "";
  if (/^\(\?(=|!|<=|<!)/.test(at)) {
    return new ApiError(
      "bad_request",
      "lookaround ((?=…), (?!…), (?<=…), (?<!…)) is not supported: LogQL regular expressions are RE2, which has none",
    );
  }
  if (/^\\([1-9]|k)/.test(at)) {
    return new ApiError(
      "bad_request",
      "a backreference (\\1, \\k<name>) is not supported: LogQL regular expressions are RE2, which has none",
    );
  }
  const why = err instanceof RE2JSSyntaxException ? `${err.getDescription()}${at ? ` at \`${at}\`` : ""}` : err.message;
  return new ApiError("bad_request", `invalid regular expression ${JSON.stringify(source)}: ${why}`);
}

/** The most work a query's regexes may do: tests (one line or label value through one regex) and the characters they read, weighted. */
export interface RegexBounds {
  lines: number;
  chars: number;
}

/**
 * The work a query's regexes have done, counted before each test so that none starts past the
 * bounds: past either, a 400 with details {limit, max}. Counted rather than timed, because
 * workerd's clock does not move during synchronous work.
 */
export class RegexWork {
  lines = 0;
  chars = 0;
  constructor(readonly max: RegexBounds) {}

  count(text: string, weight: number): void {
    this.lines += 1;
    this.chars += text.length * weight;
    if (this.lines > this.max.lines) throw tooMuchWork("lines_tested", this.max.lines, "lines and label values");
    if (this.chars > this.max.chars)
      throw tooMuchWork("chars_tested", this.max.chars, "characters, weighted by each regex's size");
  }
}

const tooMuchWork = (limit: string, max: number, what: string) =>
  new ApiError(
    "bad_request",
    `the query's regular expressions would test more than ${max} ${what} (${limit}): narrow the time range, add label matchers, or put a |= filter before the regex`,
    { limit, max },
  );

/** Whether a stream with these labels passes every matcher (a missing label is "", as in Loki). */
export const matchesLabels = (q: LogQuery, labels: StreamLabels, work: RegexWork) =>
  q.matchers.every((m) => m.test(labels[m.label] ?? "", work));

/** Whether a line passes every line filter. */
export const matchesLine = (q: LogQuery, line: string, work: RegexWork) => q.filters.every((f) => f.test(line, work));

/** The value every matching stream has for `label`, when an `=` matcher names one. */
export function exactValue(q: LogQuery, label: LokiLabel): string | undefined {
  const m = q.matchers.find((x) => x.label === label && x.op === "=" && x.value !== "");
  return m?.value;
}

/** The levels the matchers let through (all five when none names the level). */
export const allowedLevels = (q: LogQuery) =>
  LEVELS.filter((l) => q.matchers.every((m) => m.label !== "level" || m.test(l)));

/** Whether any matcher needs the device registry (dsn, device_type, environment, or a device_id other than one exact id). */
export const needsRegistry = (q: LogQuery) =>
  q.matchers.some(
    (m) => DEVICE_LABELS.includes(m.label) && !(m.label === "device_id" && m.op === "=" && m.value !== ""),
  );

// Times and parameters, as Loki reads them.

const NS_DIGITS = /^\d+$/;

/**
 * A Loki timestamp, in µs: nanoseconds since the epoch (or seconds when 10 digits or fewer),
 * float seconds, or RFC 3339. NaN when none of these.
 */
export function parseLokiTime(text: string): number {
  const t = text.trim();
  if (NS_DIGITS.test(t)) {
    if (t.length <= 10) return Number(t) * 1e6;
    return Number(BigInt(t) / 1000n);
  }
  if (/^\d+\.\d*$/.test(t)) return Math.round(Number(t) * 1e6);
  return /^\d{4}-\d{2}-\d{2}T/.test(t) ? parseIsoMicros(t) : NaN;
}

/** A Prometheus-style duration (1h, 30m, 1h30m, 500ms, 7d, or float seconds) in µs; NaN when invalid. */
export function parseDurationUs(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1e6);
  if (!/^(\d+(ms|s|m|h|d|w|y))+$/.test(t)) return NaN;
  const unit: Record<string, number> = { ms: 1e3, s: 1e6, m: 6e7, h: 3.6e9, d: 8.64e10, w: 6.048e11, y: 3.1536e13 };
  let us = 0;
  for (const m of t.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) us += Number(m[1]) * unit[m[2]!]!;
  return us;
}

/** A timestamp in µs as Loki writes one: nanoseconds, as a string. */
export const nanos = (us: number) => (us === 0 ? "0" : `${us}000`);

const lokiTime = (what: string) =>
  z
    .string()
    .max(40)
    .transform((s, ctx) => {
      const us = parseLokiTime(s);
      if (!Number.isFinite(us) || us < 0 || us > Number.MAX_SAFE_INTEGER) {
        ctx.addIssue({ code: "custom", message: `${what}: a nanosecond Unix epoch, float seconds or RFC 3339 time` });
        return z.NEVER;
      }
      return us;
    });

/** The most lines one query answers (Loki's default max_entries_limit_per_query). */
const MAX_LOKI_LIMIT = 5000;

/** query_range and query (instant) parameters. `step` and `interval` mean nothing for log queries and are ignored. */
export const LokiQueryParams = z.object({
  query: z.string().max(MAX_QUERY_CHARS),
  start: lokiTime("start").optional(),
  end: lokiTime("end").optional(),
  time: lokiTime("time").optional(),
  since: z
    .string()
    .max(32)
    .transform((s, ctx) => {
      const us = parseDurationUs(s);
      if (!Number.isFinite(us) || us <= 0) {
        ctx.addIssue({ code: "custom", message: "since: a duration such as 1h or 30m" });
        return z.NEVER;
      }
      return us;
    })
    .optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_LOKI_LIMIT, `max entries limit per query exceeded (at most ${MAX_LOKI_LIMIT})`)
    .default(100),
  direction: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(["backward", "forward"], { error: "direction: backward or forward" }))
    .default("backward"),
  step: z.string().max(64).optional(),
  interval: z.string().max(64).optional(),
});
export type LokiQueryParams = z.output<typeof LokiQueryParams>;

/** labels, label/<name>/values and series: a time range, and (values, series) a selector. */
export const LokiLabelParams = z.object({
  start: lokiTime("start").optional(),
  end: lokiTime("end").optional(),
  since: LokiQueryParams.shape.since,
  query: z.string().max(MAX_QUERY_CHARS).optional(),
});

/** tail: a query, where the backfill starts, how many lines it holds; delay_for is accepted and ignored. */
export const LokiTailParams = z.object({
  query: z.string().max(MAX_QUERY_CHARS),
  start: lokiTime("start").optional(),
  limit: LokiQueryParams.shape.limit,
  delay_for: z.coerce.number().int().min(0).max(5, "delay_for: at most 5 seconds").optional(),
});
