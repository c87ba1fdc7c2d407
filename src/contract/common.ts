// Field shapes reused by every payload schema.
import { z } from "zod";
import { DAY_MS, parseIsoMicros } from "../lib/time";

// Printable text: no control characters, no leading or trailing spaces.
const PRINTABLE = /^[^\p{Cc}\s](?:[^\p{Cc}]*[^\p{Cc}\s])?$/u;
export const printable = (max: number, what: string) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(PRINTABLE, `${what}: printable text without control characters or surrounding spaces`);

/** Characters that break or disguise a line of text: C0 and C1 controls (NUL, tab, CR, LF, ESC,
 *  DEL…), the Unicode line and paragraph separators, and the bidi embeddings, overrides and isolates. */
const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}\u202A-\u202E\u2066-\u2069]/u;

/** A name people gave (org, project, key, device, session): trimmed, any script, inner spaces kept. */
export const name = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((s) => !CONTROL.test(s), "no control characters (tab, line breaks, NUL, bidi overrides…)");
/** device_type: free text people filter on ("amr", "Robot Arm", "drone"). */
export const label = printable(64, "a label");

/** The environments the dashboard has a tab for. */
export const ENVIRONMENTS = ["production", "testing", "development"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];
const ENVIRONMENT_ALIASES: Record<string, Environment> = { prod: "production", test: "testing", dev: "development" };

/** `production`, `testing` or `development`; `prod`, `test` and `dev` (any case) are stored as the full name. */
export const environment = z.preprocess(
  (v) => {
    if (typeof v !== "string") return v;
    const lower = v.trim().toLowerCase();
    return ENVIRONMENT_ALIASES[lower] ?? lower;
  },
  z.enum(ENVIRONMENTS, { error: "must be production, testing or development (prod, test or dev for short)" }),
);
/** A device serial number, unique within a project. */
export const dsn = printable(128, "a DSN");

/** What each id is called where people read it. */
const ID_NAMES = { org: "an org id", prj: "a project id", key: "a key id", dev: "a device id", cmd: "a command id" };

/** An id made by lib/crypto newId: `<prefix>_` and 26 Crockford base-32 characters. */
const idOf = (prefix: keyof typeof ID_NAMES) =>
  z
    .string()
    .regex(
      new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`),
      `must be ${ID_NAMES[prefix]} like ${prefix}_01JD8X3Y6Q0R5T7V9W2Z4A6B8C (${prefix}_ and 26 letters and digits)`,
    );

/** Chosen by the device, usually a UUID; any printable text without "/" (it is a path segment). */
export const sessionId = printable(128, "a session id").refine(
  (s) => !s.includes("/"),
  "a session id cannot contain /",
);

export const orgId = idOf("org");
export const projectId = idOf("prj");
export const keyId = idOf("key");
export const deviceId = idOf("dev");
export const commandId = idOf("cmd");

export const tier = z.enum(["free", "pro", "enterprise"]);
/** An API key's role, from most to least allowed (docs/security.md): admin, operator, viewer. */
export const role = z.enum(["admin", "operator", "viewer"]);
/** A person's role in an org: a key's roles, and above them the owner (docs/security.md). */
export const personRole = z.enum(["owner", "admin", "operator", "viewer"]);

/** A page size from the query string; one above the maximum is lowered to it (paging still works). */
export const limit = (max = 100, fallback = 50) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .default(fallback)
    .transform((n) => Math.min(n, max));
/** Cursors carry a sort key, which may hold a 128-character session id in any script. */
export const cursor = z.string().max(2048).optional();

/** The latest time a query may name: its microseconds still fit a double exactly (year 2255). */
const MAX_INSTANT_MS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Which moment a date alone (YYYY-MM-DD) stands for in a time range: `start`, 00:00 UTC that day
 * (a `from`); `next`, 00:00 UTC the next day (a `to` the endpoint excludes); `last`, the day's last
 * millisecond (a `to` it includes). Either way a `to` date takes the whole day in.
 */
type DayEdge = "start" | "next" | "last";

/** A real date (no 2026-02-30) as the ISO time of its edge; anything else is left for the time schema to judge. */
function dayAsTime(v: unknown, edge: DayEdge): unknown {
  if (typeof v !== "string" || !DATE_ONLY.test(v)) return v;
  const ms = Date.parse(`${v}T00:00:00Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== v) return v;
  const at = edge === "start" ? ms : edge === "next" ? ms + DAY_MS : ms + DAY_MS - 1;
  // The last microsecond for a µs time: the ISO text carries it, a ms time drops it.
  return edge === "last" ? new Date(at).toISOString().replace("Z", "999Z") : new Date(at).toISOString();
}

const TIME_ERROR =
  "must be a time: ISO 8601 (2026-12-01T08:00:00Z), a date (2026-12-01, UTC) or milliseconds since 1970";

/**
 * A time in the query string, in ms since the epoch: ISO 8601 with an offset, a date
 * (YYYY-MM-DD, UTC, at its `edge`), or integer milliseconds. Every query's `from` and `to` use it
 * (logs in µs: `timeParamUs`), so all of them take a date alike.
 */
const timeParam = (edge: DayEdge) =>
  z.preprocess(
    (v) => dayAsTime(v, edge),
    z.union(
      [
        z.iso
          .datetime({ offset: true })
          .transform((s) => Date.parse(s))
          .pipe(z.number().max(MAX_INSTANT_MS, "is too far in the future")),
        z.coerce
          .number({ error: TIME_ERROR })
          .int({ error: TIME_ERROR })
          .nonnegative({ error: TIME_ERROR })
          .max(MAX_INSTANT_MS, "is too far in the future"),
      ],
      { error: TIME_ERROR },
    ),
  );

/** As timeParam, in µs since the epoch, an ISO time's microseconds kept (log times are µs). */
export const timeParamUs = (edge: DayEdge) =>
  z.preprocess(
    (v) => dayAsTime(v, edge),
    z.union(
      [
        z.iso
          .datetime({ offset: true })
          .transform((s) => parseIsoMicros(s))
          .pipe(z.number().max(MAX_INSTANT_MS * 1000, "is too far in the future")),
        z.coerce
          .number({ error: TIME_ERROR })
          .int({ error: TIME_ERROR })
          .nonnegative({ error: TIME_ERROR })
          .max(MAX_INSTANT_MS, "is too far in the future")
          .transform((ms) => ms * 1000),
      ],
      { error: TIME_ERROR },
    ),
  );

/** A range's start: a date means 00:00 UTC that day. */
export const instant = timeParam("start");
/** A range's end that the endpoint excludes: a date means 00:00 UTC the next day, so the whole day is in. */
export const instantUntil = timeParam("next");
/** A range's end that the endpoint includes: a date means the day's last millisecond. */
export const instantThrough = timeParam("last");

/** Any JSON value from a client, bounded by its serialised size. */
/** How deep client JSON may nest; checked without recursion, so no input can exhaust the stack. */
const MAX_JSON_DEPTH = 32;

function depthWithin(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth > max) return false;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return true;
}

const boundedBy = (maxBytes: number) => (v: unknown, ctx: z.RefinementCtx) => {
  if (!depthWithin(v, MAX_JSON_DEPTH))
    ctx.addIssue({ code: "custom", message: `nested deeper than ${MAX_JSON_DEPTH} levels` });
  else if (JSON.stringify(v).length > maxBytes)
    ctx.addIssue({ code: "custom", message: `larger than ${maxBytes} bytes as JSON` });
};

/** Any JSON value from a client (bodies come from JSON.parse), bounded in depth and size. */
export const boundedJsonValue = (maxBytes: number) => z.unknown().superRefine(boundedBy(maxBytes));

/**
 * A JSON object whose keys are `what`s, refusing an own "__proto__" key (JSON.parse makes one):
 * zod's records skip that key without a word, so it would vanish from a request that answers 200.
 */
export const refuseProtoKey = <S extends z.ZodType>(record: S, what: string) =>
  z.preprocess((v, ctx) => {
    if (typeof v === "object" && v !== null && Object.hasOwn(v, "__proto__")) {
      ctx.addIssue({ code: "custom", path: ["__proto__"], message: `"__proto__" cannot be ${what}` });
    }
    return v;
  }, record);

/** A free-form JSON object from a client, bounded in depth and size. */
export const boundedJson = (maxBytes: number) =>
  refuseProtoKey(z.record(z.string().max(128), z.unknown()).superRefine(boundedBy(maxBytes)), "a key here");
