// One log line as a device sends it, validated on its own, and the compact form the hot
// store keeps. A bad line is rejected with its index and reason; its neighbours are kept.
import { z } from "zod";
import { parseIsoMicros } from "../lib/time";
import { refuseProtoKey } from "./common";
import { levelNumber, parseLevel } from "./levels";
import { LINE_LIMITS as L } from "./limits";
import { issuesText } from "./validation";

// ISO 8601 / RFC 3339. A time without a zone (as Python's isoformat() writes it) is UTC.
const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)(Z|[+-]\d{2}:?\d{2})?$/i;

function parseTimestamp(text: string): number {
  const m = ISO.exec(text);
  if (!m) return NaN;
  // Date.parse rolls 2026-02-30 over to March; a date that does not exist is not a date.
  const [year, month, day] = m[1]!.split("-").map(Number);
  const probe = new Date(Date.UTC(year!, month! - 1, day!));
  if (probe.getUTCMonth() !== month! - 1 || probe.getUTCDate() !== day) return NaN;
  const zone =
    m[3] === undefined ? "Z" : m[3].length === 5 ? `${m[3].slice(0, 3)}:${m[3].slice(3)}` : m[3].toUpperCase();
  return parseIsoMicros(`${m[1]}T${m[2]}${zone}`);
}

const idLike = z.union([z.string().max(L.thread_chars), z.number().int()]).transform(String);

export const LogLine = z
  .object({
    timestamp: z.string().regex(ISO, "ISO 8601, e.g. 2026-11-25T10:00:00.123456Z (no zone means UTC)").optional(),
    timestamp_us: z.number().int().nonnegative().optional(),
    level: z.string().transform((v, ctx) => {
      const level = parseLevel(v);
      if (level === null) {
        ctx.addIssue({ code: "custom", message: "one of DEBUG, INFO, WARN, ERROR, FATAL" });
        return z.NEVER;
      }
      return level;
    }),
    module: z.string().min(1).max(L.module_chars),
    logger: z.string().max(L.logger_chars).optional(),
    message: z.string().max(L.message_chars, `at most ${L.message_chars} characters`),
    thread_id: idLike.optional(),
    process_id: idLike.optional(),
    context: refuseProtoKey(
      z
        .record(
          z.string().min(1).max(L.context_key_chars),
          z.union([z.string().max(L.context_value_chars), z.number(), z.boolean()]),
        )
        .refine((c) => Object.keys(c).length <= L.context_keys, `at most ${L.context_keys} keys`),
      "a context key",
    ).optional(),
  })
  .refine((l) => l.timestamp !== undefined || l.timestamp_us !== undefined, {
    message: "timestamp (ISO 8601) or timestamp_us is required",
    path: ["timestamp"],
  });

/** A line as the hot store holds it (see durable-objects/log-store.ts). Times in µs since the epoch. */
export interface LogRecord {
  id: number;
  ts: number;
  level: number;
  module: string;
  logger: string | null;
  message: string;
  thread_id: string | null;
  process_id: string | null;
  session_id: string | null;
  context: string | null;
}

/** A validated line on its way in: a record before it has an id and a session. */
export interface StoredLine extends Omit<LogRecord, "id" | "session_id"> {
  /** UTF-8 bytes of message, module, logger, thread and context: what log_bytes counts. */
  bytes: number;
}

export interface Rejection {
  index: number;
  reason: string;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Validates each line; `oldestUs` is the edge of the hot window, `nowUs` the server's clock. */
export function validateLines(raw: unknown[], nowUs: number, oldestUs: number) {
  const lines: StoredLine[] = [];
  const rejected: Rejection[] = [];
  const newestUs = nowUs + L.future_skew_ms * 1000;
  for (const [index, value] of raw.entries()) {
    const parsed = LogLine.safeParse(value);
    if (!parsed.success) {
      rejected.push({ index, reason: issuesText(parsed.error.issues) });
      continue;
    }
    const line = parsed.data;
    const ts = line.timestamp_us ?? parseTimestamp(line.timestamp!);
    if (Number.isNaN(ts)) {
      rejected.push({ index, reason: "timestamp: not a valid date" });
      continue;
    }
    if (ts < oldestUs) {
      rejected.push({ index, reason: "timestamp: older than the hot window" });
      continue;
    }
    if (ts > newestUs) {
      rejected.push({ index, reason: "timestamp: too far in the future" });
      continue;
    }
    const context = line.context ? JSON.stringify(line.context) : null;
    lines.push({
      ts,
      level: levelNumber(line.level),
      module: line.module,
      logger: line.logger ?? null,
      message: line.message,
      thread_id: line.thread_id ?? null,
      process_id: line.process_id ?? null,
      context,
      bytes:
        utf8Length(line.message) +
        utf8Length(line.module) +
        (line.logger ? utf8Length(line.logger) : 0) +
        (line.thread_id ? utf8Length(line.thread_id) : 0) +
        (context ? utf8Length(context) : 0),
    });
  }
  return { lines, rejected };
}
