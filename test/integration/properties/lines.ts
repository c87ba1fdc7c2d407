// Log lines for the ingest properties: specs that fast-check generates and shrinks, turned into
// lines against the clock only when a case runs (the hot window moves with it). A valid spec
// knows what the store must give back; an invalid one is wrong in exactly one way.
import fc from "fast-check";

const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;
const DAY_MS = 86_400_000;

/** Text that has tripped stores and parsers before, beside arbitrary graphemes. */
const NASTY = [
  "",
  " ",
  '"',
  "'; DROP TABLE logs; --",
  'NEAR(a b) OR "x" * -y col:z',
  "\u0000",
  "before\u0000after",
  "line\nbreak\r\n\ttab",
  "\\u0000 \\n",
  "🤖🦾 робот 机器人 רובוט",
  "\u202eRTL override",
  "e\u0301 combining",
  "%s %n %x {0} ${x}",
  "<script>alert(1)</script>",
  "null",
  "[]",
];

const text = (maxLength: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: "grapheme", maxLength }) },
    { weight: 1, arbitrary: fc.constantFrom(...NASTY) },
  );
const bounded = (arb: fc.Arbitrary<string>, min: number, max: number) =>
  arb.filter((s) => s.length >= min && s.length <= max);

/** How a valid line names its time. */
type TimeForm = "us" | "iso-z" | "iso-us" | "iso-nozone" | "iso-space" | "iso-offset";

export interface ValidSpec {
  kind: "valid";
  /** Where the line sits in time, relative to the clock when the case runs. */
  offsetMs: number;
  extraUs: number;
  form: TimeForm;
  zoneMinutes: number;
  level: string;
  module: string;
  message: string;
  logger?: string;
  thread?: string | number;
  process?: string | number;
  context?: Record<string, string | number | boolean>;
}

const contextValue = fc.oneof(
  bounded(text(40), 0, 1024),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
);
// "__proto__" is a key the server refuses (a record would drop it without a word): see FLAWS.
const contextKey = bounded(text(20), 1, 64).filter((k) => k !== "__proto__");

export const validSpec: fc.Arbitrary<ValidSpec> = fc.record(
  {
    kind: fc.constant("valid" as const),
    // Inside the hot window (7 days) and less than 10 minutes ahead, with room for a slow run.
    offsetMs: fc.integer({ min: -6 * DAY_MS, max: 5 * 60_000 }),
    extraUs: fc.integer({ min: 0, max: 999 }),
    form: fc.constantFrom<TimeForm>("us", "iso-z", "iso-us", "iso-nozone", "iso-space", "iso-offset"),
    zoneMinutes: fc.constantFrom(-720, -480, -210, 0, 60, 330, 525, 840),
    level: fc
      .constantFrom(...LEVELS)
      .chain((l) => fc.constantFrom(l, l.toLowerCase(), `${l[0]}${l.slice(1).toLowerCase()}`)),
    module: bounded(text(30), 1, 128),
    message: text(80),
    logger: bounded(text(30), 0, 256),
    thread: fc.oneof(bounded(text(12), 0, 64), fc.integer()),
    process: fc.oneof(bounded(text(12), 0, 64), fc.integer({ min: 0, max: 2 ** 31 })),
    context: fc.dictionary(contextKey, contextValue, { maxKeys: 6 }),
  },
  { requiredKeys: ["kind", "offsetMs", "extraUs", "form", "zoneMinutes", "level", "module", "message"] },
);

/** One way of being wrong; each is refused by itself, whatever the rest of the line is. */
const FLAWS = [
  "not-an-object",
  "no-level",
  "bad-level",
  "no-module",
  "empty-module",
  "long-module",
  "no-message",
  "message-not-text",
  "long-message",
  "no-time",
  "bad-iso",
  "impossible-date",
  "too-old",
  "too-far-ahead",
  "bad-timestamp-us",
  "context-too-many-keys",
  "context-nested",
  "context-empty-key",
  "context-long-value",
  "context-not-object",
  "context-proto-key",
  "long-thread",
  "thread-float",
  "long-logger",
] as const;
type Flaw = (typeof FLAWS)[number];

export interface InvalidSpec {
  kind: "invalid";
  flaw: Flaw;
  base: ValidSpec;
  pick: number;
}

export const invalidSpec: fc.Arbitrary<InvalidSpec> = fc.record({
  kind: fc.constant("invalid" as const),
  flaw: fc.constantFrom(...FLAWS),
  base: validSpec,
  pick: fc.nat(),
});

export type LineSpec = ValidSpec | InvalidSpec;

/** A mix, mostly valid, in any order. */
export const lineSpecs = (maxLength: number) =>
  fc.array(fc.oneof({ weight: 3, arbitrary: validSpec }, { weight: 1, arbitrary: invalidSpec }), { maxLength });

const pad = (n: number, w = 2) => String(Math.abs(n)).padStart(w, "0");

/** The line's time as the spec's form writes it, and the µs the store must keep. */
function timeOf(spec: ValidSpec, nowMs: number): { field: Record<string, unknown>; us: number } {
  const ms = nowMs + spec.offsetMs;
  if (spec.form === "us") {
    const us = ms * 1000 + spec.extraUs;
    return { field: { timestamp_us: us }, us };
  }
  const iso = new Date(ms).toISOString(); // 2026-11-25T10:00:00.123Z
  if (spec.form === "iso-z") return { field: { timestamp: iso }, us: ms * 1000 };
  const micros = `${iso.slice(0, 23)}${pad(spec.extraUs, 3)}`;
  const us = ms * 1000 + spec.extraUs;
  if (spec.form === "iso-us") return { field: { timestamp: `${micros}Z` }, us };
  if (spec.form === "iso-nozone") return { field: { timestamp: micros }, us };
  if (spec.form === "iso-space") return { field: { timestamp: `${micros.slice(0, 10)} ${micros.slice(11)}` }, us };
  // The same instant written in another zone: local wall time plus the zone's offset.
  const local = new Date(ms + spec.zoneMinutes * 60_000).toISOString().slice(0, 23);
  const z = spec.zoneMinutes;
  const zone = `${z < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(z) / 60))}:${pad(Math.abs(z) % 60)}`;
  return { field: { timestamp: `${local}${pad(spec.extraUs, 3)}${zone}` }, us };
}

/** What GET /logs must answer for a valid line (besides ids). */
export interface Expected {
  timestamp_us: number;
  level: string;
  module: string;
  message: string;
  logger: string | null;
  thread_id: string | null;
  process_id: string | null;
  context: unknown;
}

/**
 * The line a spec stands for at `nowMs`. Valid lines get `marker` in front of their message so
 * each one can be found again; the answer says what the store must keep, or null when the
 * line must be rejected.
 */
export function materialize(
  spec: LineSpec,
  nowMs: number,
  marker: string,
): { line: unknown; expected: Expected | null } {
  if (spec.kind === "valid") {
    const { field, us } = timeOf(spec, nowMs);
    const message = `${marker} ${spec.message}`.slice(0, 16_384);
    const line: Record<string, unknown> = { ...field, level: spec.level, module: spec.module, message };
    if (spec.logger !== undefined) line.logger = spec.logger;
    if (spec.thread !== undefined) line.thread_id = spec.thread;
    if (spec.process !== undefined) line.process_id = spec.process;
    if (spec.context !== undefined) line.context = spec.context;
    return {
      line,
      expected: {
        timestamp_us: us,
        level: spec.level.toUpperCase(),
        module: spec.module,
        message,
        logger: spec.logger ?? null,
        thread_id: spec.thread === undefined ? null : String(spec.thread),
        process_id: spec.process === undefined ? null : String(spec.process),
        // As JSON carries it: -0 becomes 0.
        context: spec.context === undefined ? null : JSON.parse(JSON.stringify(spec.context)),
      },
    };
  }
  const base = materialize(spec.base, nowMs, marker).line as Record<string, unknown>;
  const choose = <T>(options: readonly T[]): T => options[spec.pick % options.length]!;
  const line = { ...base };
  const flaws: Record<Flaw, () => unknown> = {
    "not-an-object": () => choose([null, 42, "a line", [], true, [line]]),
    "no-level": () => (delete line.level, line),
    "bad-level": () => ({ ...line, level: choose(["TRACE", "WARNING", "nope", "", 3, null, "ERROR,WARN"]) }),
    "no-module": () => (delete line.module, line),
    "empty-module": () => ({ ...line, module: "" }),
    "long-module": () => ({ ...line, module: "m".repeat(129) }),
    "no-message": () => (delete line.message, line),
    "message-not-text": () => ({ ...line, message: choose([5, null, { text: "x" }, ["x"], true]) }),
    "long-message": () => ({ ...line, message: "x".repeat(16_385) }),
    "no-time": () => (delete line.timestamp, delete line.timestamp_us, line),
    "bad-iso": () => (
      delete line.timestamp_us,
      {
        ...line,
        timestamp: choose([
          "yesterday",
          "",
          "2026-11-25",
          "25/11/2026 10:00",
          "2026-11-25T25:00:00Z",
          "T",
          "2026-11-25T10:00:00+5",
        ]),
      }
    ),
    "impossible-date": () => {
      delete line.timestamp_us;
      // A day that does not exist in the current month, so it is inside the window if it parsed.
      const now = new Date(nowMs);
      return {
        ...line,
        timestamp: `${now.getUTCFullYear()}-${pad(now.getUTCMonth() + 1)}-${choose(["32", "00", "99"])}T00:00:00Z`,
      };
    },
    "too-old": () => (delete line.timestamp, { ...line, timestamp_us: (nowMs - 40 * DAY_MS) * 1000 }), // past every tier's hot window and the cap
    "too-far-ahead": () => (delete line.timestamp, { ...line, timestamp_us: (nowMs + 3_600_000) * 1000 }),
    "bad-timestamp-us": () => (
      delete line.timestamp, { ...line, timestamp_us: choose([-1, 1.5, "1700000000000000", null, 1e300]) }
    ),
    "context-too-many-keys": () => ({
      ...line,
      context: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])),
    }),
    "context-nested": () => ({ ...line, context: { a: choose([{ b: 1 }, [1], null]) } }),
    "context-empty-key": () => ({ ...line, context: { "": "x" } }),
    "context-long-value": () => ({ ...line, context: { k: "v".repeat(1025) } }),
    "context-not-object": () => ({ ...line, context: choose(["k=v", 1, [["k", "v"]], true]) }),
    // An own "__proto__" key, as JSON.parse makes it on the server.
    "context-proto-key": () => ({ ...line, context: JSON.parse('{"__proto__":"x","k":1}') }),
    "long-thread": () => ({ ...line, thread_id: "t".repeat(65) }),
    "thread-float": () => ({ ...line, thread_id: 1.5 }),
    "long-logger": () => ({ ...line, logger: "l".repeat(257) }),
  };
  return { line: flaws[spec.flaw](), expected: null };
}
