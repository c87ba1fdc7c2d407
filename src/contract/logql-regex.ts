// Regular expressions in LogQL are Loki's, Go's RE2 syntax, and run on re2js, a JavaScript port of
// RE2: the same syntax and meaning (inline flags anywhere, (?P<name>…), no lookaround or
// backreferences), and time linear in the text, so no pattern backtracks. Linear is not cheap in
// every case: a pattern that defeats RE2's DFA reads a character in µs rather than ns, and its DFA
// holds memory. So a query has at most MAX_QUERY_REGEXES regexes of MAX_REGEX_CHARS, each with a
// bounded DFA, and what they read is counted in a RegexWork that the caller bounds.
import { RE2JS, RE2JSException, RE2JSSyntaxException, RE2Set } from "re2js";
import { ApiError } from "./errors";

const MAX_REGEX_CHARS = 256;
/**
 * Regexes (label matchers, line filters, label filters) in one query: each holds a DFA of up to
 * DFA_BYTES while the query runs, and the largest take ~15 ms to compile.
 */
const MAX_QUERY_REGEXES = 16;
/** The memory each regex's DFA may use; past it RE2 resets it, or falls back to its NFA. */
const DFA_BYTES = 1024 * 1024;
/**
 * A regex program of up to this many instructions counts each character it reads once towards RegexWork; a
 * larger one once per this many.
 */
const INSTRUCTIONS_PER_WEIGHT = 64;

/** Counts the regexes of the query being parsed: one more past MAX_QUERY_REGEXES is refused. */
export class RegexBudget {
  private count = 0;
  compile(source: string, anchored: boolean): Regex {
    if (++this.count > MAX_QUERY_REGEXES) {
      throw new ApiError(
        "bad_request",
        `a query has at most ${MAX_QUERY_REGEXES} regular expressions (=~, !~, |~ and !~ together)`,
      );
    }
    return compileRegex(source, anchored);
  }
}

/** A compiled LogQL regex. */
export interface Regex {
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

/**
 * The most work a query's regexes may do: tests (one line or label value through one regex) and the
 * characters they read, weighted.
 */
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
