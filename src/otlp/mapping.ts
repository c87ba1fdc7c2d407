// OTLP log records as fleetbeat lines (docs/otlp.md has the table):
//   session   record attribute session.id, else the resource's
//   module    record attribute code.namespace, else the scope's name, else service.name, else "otlp"
//   logger    the scope's name
//   level     severityNumber 1–8 DEBUG, 9–12 INFO, 13–16 WARN, 17–20 ERROR, 21–24 FATAL;
//             else severityText; else INFO
//   message   the body (a non-string body as JSON)
//   time      timeUnixNano, else observedTimeUnixNano
//   context   the other record attributes, and trace_id and span_id
// The lines then go through the same ingest as native ones, which validates each on its own.
import { type Level, parseLevel } from "../contract/levels";
import type { OtlpRecord, Plain } from "./record";

const SESSION = "session.id";
const NAMESPACE = "code.namespace";

/** Level names OTLP senders write in severityText that the contract spells otherwise. */
const TEXT_ALIASES: Record<string, Level> = {
  TRACE: "DEBUG",
  WARNING: "WARN",
  CRITICAL: "FATAL",
  ERR: "ERROR",
  NOTICE: "INFO",
  INFORMATION: "INFO",
};

export function levelOf(severityNumber: number, severityText: string): Level {
  if (severityNumber >= 1 && severityNumber <= 8) return "DEBUG";
  if (severityNumber >= 9 && severityNumber <= 12) return "INFO";
  if (severityNumber >= 13 && severityNumber <= 16) return "WARN";
  if (severityNumber >= 17 && severityNumber <= 20) return "ERROR";
  if (severityNumber >= 21 && severityNumber <= 24) return "FATAL";
  const text = severityText.trim().toUpperCase();
  return parseLevel(text) ?? TEXT_ALIASES[text] ?? "INFO";
}

const text = (v: Plain | undefined): string | undefined =>
  v === undefined || v === null ? undefined : typeof v === "string" ? v : JSON.stringify(v);
const scalar = (v: Plain): string | number | boolean =>
  typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? v : JSON.stringify(v);

/** A line in the shape POST /logs/ingest takes, and the session it belongs to. */
export interface MappedLine {
  session_id: string | undefined;
  line: {
    timestamp_us?: number;
    level: Level;
    module: string;
    logger?: string;
    message: string;
    context?: Record<string, string | number | boolean>;
  };
}

export function lineOf(r: OtlpRecord): MappedLine {
  const ns = r.timeUnixNano > 0n ? r.timeUnixNano : r.observedTimeUnixNano;
  const context: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(r.attributes))
    if (k !== SESSION && k !== NAMESPACE && v !== null) context[k] = scalar(v);
  if (r.traceId && !/^0*$/.test(r.traceId)) context.trace_id = r.traceId;
  if (r.spanId && !/^0*$/.test(r.spanId)) context.span_id = r.spanId;
  return {
    session_id: text(r.attributes[SESSION]) ?? text(r.resource[SESSION]),
    line: {
      // A record with neither time is left without one: validation refuses it by itself.
      ...(ns > 0n ? { timestamp_us: Number(ns / 1000n) } : {}),
      level: levelOf(r.severityNumber, r.severityText),
      module: text(r.attributes[NAMESPACE]) || r.scopeName || text(r.resource["service.name"]) || "otlp",
      ...(r.scopeName ? { logger: r.scopeName } : {}),
      message: text(r.body) ?? "",
      ...(Object.keys(context).length > 0 ? { context } : {}),
    },
  };
}
