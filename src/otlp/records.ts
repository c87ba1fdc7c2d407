// An OTLP/HTTP logs export, from protobuf or from OTLP's JSON, as one flat list of records,
// each with what it needs of its resource and scope. Both encodings land in the same shape,
// so the mapping to fleetbeat's lines (mapping.ts) is written once.
//
// OTLP's JSON is not plain proto3 JSON: trace and span ids are hex, enums are integers, and
// 64-bit integers may be strings or numbers. It is read here by hand for that reason; the
// binary form is decoded by protobuf-es from code generated ahead of time (src/otlp/gen).
import { fromBinary } from "@bufbuild/protobuf";
import { ApiError } from "../contract/errors";
import { hex } from "../lib/crypto";
import { ExportLogsServiceRequestSchema } from "./gen/opentelemetry/proto/collector/logs/v1/logs_service_pb";
import type { AnyValue, KeyValue } from "./gen/opentelemetry/proto/common/v1/common_pb";

/** A value of an attribute or a body, as plain JavaScript (int64 beyond 2^53 as a string). */
export type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

export interface OtlpRecord {
  /** Nanoseconds since the epoch; 0n when unset. */
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: Plain;
  attributes: Record<string, Plain>;
  /** Hex, empty when unset. */
  traceId: string;
  spanId: string;
  scopeName: string;
  resource: Record<string, Plain>;
}

const int64 = (v: bigint): number | string =>
  v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();

// ---- protobuf --------------------------------------------------------------------------

function plainOfProto(v: AnyValue | undefined): Plain {
  const value = v?.value;
  switch (value?.case) {
    case "stringValue":
    case "boolValue":
    case "doubleValue":
      return value.value;
    case "intValue":
      return int64(value.value);
    case "bytesValue":
      return btoa(String.fromCharCode(...value.value));
    case "arrayValue":
      return value.value.values.map(plainOfProto);
    case "kvlistValue":
      return attributesOfProto(value.value.values);
    default:
      return null;
  }
}

function attributesOfProto(kvs: KeyValue[]): Record<string, Plain> {
  const out: Record<string, Plain> = {};
  for (const kv of kvs) out[kv.key] = plainOfProto(kv.value);
  return out;
}

export function recordsOfProtobuf(bytes: Uint8Array): OtlpRecord[] {
  let request;
  try {
    request = fromBinary(ExportLogsServiceRequestSchema, bytes);
  } catch (err) {
    throw new ApiError("bad_request", `the body is not an OTLP ExportLogsServiceRequest: ${(err as Error).message}`);
  }
  const out: OtlpRecord[] = [];
  for (const rl of request.resourceLogs) {
    const resource = attributesOfProto(rl.resource?.attributes ?? []);
    for (const sl of rl.scopeLogs) {
      for (const r of sl.logRecords) {
        out.push({
          timeUnixNano: r.timeUnixNano,
          observedTimeUnixNano: r.observedTimeUnixNano,
          severityNumber: r.severityNumber,
          severityText: r.severityText,
          body: plainOfProto(r.body),
          attributes: attributesOfProto(r.attributes),
          traceId: hex(r.traceId),
          spanId: hex(r.spanId),
          scopeName: sl.scope?.name ?? "",
          resource,
        });
      }
    }
  }
  return out;
}

// ---- OTLP JSON -------------------------------------------------------------------------

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function nanos(v: unknown, field: string): bigint {
  if (v === undefined || v === null || v === "") return 0n;
  if ((typeof v === "string" && /^\d{1,20}$/.test(v)) || (typeof v === "number" && Number.isSafeInteger(v) && v >= 0))
    return BigInt(v);
  throw new ApiError("bad_request", `${field} is not a count of nanoseconds: ${JSON.stringify(v)}`);
}

function plainOfJson(v: unknown): Plain {
  const o = obj(v);
  if ("stringValue" in o) return String(o.stringValue);
  if ("boolValue" in o) return Boolean(o.boolValue);
  if ("intValue" in o) {
    const n = o.intValue;
    return typeof n === "number" ? n : /^-?\d+$/.test(String(n)) ? int64(BigInt(String(n))) : String(n);
  }
  if ("doubleValue" in o) return Number(o.doubleValue);
  if ("bytesValue" in o) return String(o.bytesValue);
  if ("arrayValue" in o) return list(obj(o.arrayValue).values).map(plainOfJson);
  if ("kvlistValue" in o) return attributesOfJson(obj(o.kvlistValue).values);
  return null;
}

function attributesOfJson(kvs: unknown): Record<string, Plain> {
  const out: Record<string, Plain> = {};
  for (const kv of list(kvs)) {
    const k = obj(kv);
    if (typeof k.key === "string") out[k.key] = plainOfJson(k.value);
  }
  return out;
}

/** OTLP JSON enums are integers; the enum's name is taken too (SEVERITY_NUMBER_ERROR is 17). */
const SEVERITY_NAMES = [
  "UNSPECIFIED",
  "TRACE",
  "TRACE2",
  "TRACE3",
  "TRACE4",
  "DEBUG",
  "DEBUG2",
  "DEBUG3",
  "DEBUG4",
  "INFO",
  "INFO2",
  "INFO3",
  "INFO4",
  "WARN",
  "WARN2",
  "WARN3",
  "WARN4",
  "ERROR",
  "ERROR2",
  "ERROR3",
  "ERROR4",
  "FATAL",
  "FATAL2",
  "FATAL3",
  "FATAL4",
];
function severityOfJson(v: unknown): number {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "string") return Math.max(0, SEVERITY_NAMES.indexOf(v.replace(/^SEVERITY_NUMBER_/, "")));
  return 0;
}

export function recordsOfJson(value: unknown): OtlpRecord[] {
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new ApiError("bad_request", "the body is not an OTLP ExportLogsServiceRequest (a JSON object)");
  const out: OtlpRecord[] = [];
  const field = (o: Json, camel: string, snake: string) => (camel in o ? o[camel] : o[snake]);
  for (const rl of list(field(value as Json, "resourceLogs", "resource_logs"))) {
    const r0 = obj(rl);
    const resource = attributesOfJson(obj(r0.resource).attributes);
    for (const sl of list(field(r0, "scopeLogs", "scope_logs"))) {
      const s = obj(sl);
      const scopeName = String(obj(s.scope).name ?? "");
      for (const lr of list(field(s, "logRecords", "log_records"))) {
        const r = obj(lr);
        out.push({
          timeUnixNano: nanos(field(r, "timeUnixNano", "time_unix_nano"), "timeUnixNano"),
          observedTimeUnixNano: nanos(
            field(r, "observedTimeUnixNano", "observed_time_unix_nano"),
            "observedTimeUnixNano",
          ),
          severityNumber: severityOfJson(field(r, "severityNumber", "severity_number")),
          severityText: String(field(r, "severityText", "severity_text") ?? ""),
          body: plainOfJson(r.body),
          attributes: attributesOfJson(r.attributes),
          traceId: String(field(r, "traceId", "trace_id") ?? "").toLowerCase(),
          spanId: String(field(r, "spanId", "span_id") ?? "").toLowerCase(),
          scopeName,
          resource,
        });
      }
    }
  }
  return out;
}
