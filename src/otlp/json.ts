// OTLP's JSON encoding of an ExportLogsServiceRequest, read strictly: a field of the wrong type
// at any level (resourceLogs not an array, a body that is not an AnyValue, a time that is not a
// count of nanoseconds…) makes the body undecodable, which OTLP answers with 400 for the whole
// request, naming the field's path (the exporter never retries it). Fields OTLP does not know
// are ignored, as its specification asks of receivers. Records that decode but break
// fleetbeat's limits are another matter: ingest rejects them one by one (partial success).
//
// OTLP's JSON is not plain proto3 JSON: trace and span ids are hex, enums are integers (their
// names are taken too), and 64-bit integers may be strings or numbers. Keys are lowerCamelCase;
// the proto's snake_case names are taken too, as proto3 JSON parsers do.
import { ApiError } from "../contract/errors";
import type { OtlpRecord, Plain } from "./record";

type Json = Record<string, unknown>;

/** The body cannot be decoded: `path` names the field, `what` what it must be. */
function undecodable(path: string, what: string, v: unknown): never {
  const got =
    v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : JSON.stringify(v);
  throw new ApiError(
    "bad_request",
    `the body is not an OTLP ExportLogsServiceRequest: ${path} must be ${what}, not ${got.length > 40 ? `${got.slice(0, 40)}…` : got}`,
  );
}

/** A message field: absent or null is the empty message. */
function message(v: unknown, path: string): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) undecodable(path, "an object", v);
  return v as Json;
}

/** A repeated field: absent or null is empty. */
function repeated(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) undecodable(path, "an array", v);
  return v;
}

/** A field by its lowerCamelCase name, else its proto name; answers the value and its path. */
function field(o: Json, path: string, camel: string, snake = camel): [unknown, string] {
  const key = camel in o || !(snake in o) ? camel : snake;
  return [o[key], path ? `${path}.${key}` : key];
}

function string(v: unknown, path: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") undecodable(path, "a string", v);
  return v;
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;
function hexId(v: unknown, path: string): string {
  const s = string(v, path);
  if (!HEX.test(s)) undecodable(path, "hex digits", v);
  return s.toLowerCase();
}

const INT64 = /^-?\d{1,19}$/;
const int64 = (v: bigint): number | string =>
  v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();

/** A fixed64 count of nanoseconds: digits as a string, or a non-negative safe integer. */
function nanos(v: unknown, path: string): bigint {
  if (v === undefined || v === null || v === "") return 0n;
  if (typeof v === "string" && /^\d{1,20}$/.test(v) && BigInt(v) < 2n ** 64n) return BigInt(v);
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  undecodable(path, "a count of nanoseconds (digits, as a string or a number)", v);
}

/** An integer field (int32/uint32): a number or its digits. */
function integer(v: unknown, path: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n)) undecodable(path, "an integer", v);
  return n;
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
function severity(v: unknown, path: string): number {
  if (typeof v === "string" && !/^-?\d+$/.test(v)) {
    const i = SEVERITY_NAMES.indexOf(v.replace(/^SEVERITY_NUMBER_/, ""));
    if (i < 0) undecodable(path, "a SeverityNumber (an integer, or a name such as SEVERITY_NUMBER_ERROR)", v);
    return i;
  }
  return integer(v, path);
}

const ANY_VALUE_CASES = [
  ["stringValue", "string_value"],
  ["boolValue", "bool_value"],
  ["intValue", "int_value"],
  ["doubleValue", "double_value"],
  ["bytesValue", "bytes_value"],
  ["arrayValue", "array_value"],
  ["kvlistValue", "kvlist_value"],
] as const;

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** An AnyValue: at most one of its cases set (none, or null, is an empty value). */
function anyValue(v: unknown, path: string): Plain {
  const o = message(v, path);
  const set = ANY_VALUE_CASES.filter(([camel, snake]) => (o[camel] ?? o[snake]) != null);
  if (set.length > 1) undecodable(path, "an AnyValue with one value", set.map(([c]) => c).join(" and "));
  const [camel, snake] = set[0] ?? [];
  if (!camel) return null;
  const [x, at] = field(o, path, camel, snake);
  switch (camel) {
    case "stringValue":
      return string(x, at);
    case "boolValue":
      if (typeof x !== "boolean") undecodable(at, "true or false", x);
      return x;
    case "intValue":
      if (typeof x === "number" && Number.isInteger(x)) return x;
      if (typeof x === "string" && INT64.test(x)) return int64(BigInt(x));
      return undecodable(at, "an integer (digits, as a string or a number)", x);
    case "doubleValue":
      if (typeof x === "number") return x;
      // proto3 JSON writes the doubles JSON has no number for as these strings: kept as written.
      if (x === "NaN" || x === "Infinity" || x === "-Infinity") return x;
      if (typeof x === "string" && x.trim() !== "" && !Number.isNaN(Number(x))) return Number(x);
      return undecodable(at, "a number", x);
    case "bytesValue":
      if (typeof x !== "string" || !BASE64.test(x)) undecodable(at, "base64 text", x);
      return x;
    case "arrayValue": {
      const [values, vat] = field(message(x, at), at, "values");
      return repeated(values, vat).map((e, i) => anyValue(e, `${vat}[${i}]`));
    }
    case "kvlistValue": {
      const [values, vat] = field(message(x, at), at, "values");
      return keyValues(values, vat);
    }
  }
  return null;
}

/** A list of KeyValue, as a plain object (a repeated key keeps its last value). */
function keyValues(v: unknown, path: string): Record<string, Plain> {
  const out: Record<string, Plain> = {};
  repeated(v, path).forEach((kv, i) => {
    const at = `${path}[${i}]`;
    const o = message(kv, at);
    const [key, keyAt] = field(o, at, "key");
    const [value, valueAt] = field(o, at, "value");
    const name = string(key, keyAt);
    const plain = anyValue(value, valueAt);
    // A plain object would take "__proto__" as its prototype: such a key is left out.
    if (name !== "__proto__") out[name] = plain;
  });
  return out;
}

function attributes(o: Json, path: string): Record<string, Plain> {
  const [v, at] = field(o, path, "attributes");
  return keyValues(v, at);
}

function record(v: unknown, path: string, scopeName: string, resource: Record<string, Plain>): OtlpRecord {
  const r = message(v, path);
  const f = (camel: string, snake?: string) => field(r, path, camel, snake);
  const [flags, flagsAt] = f("flags");
  integer(flags, flagsAt);
  const [dropped, droppedAt] = f("droppedAttributesCount", "dropped_attributes_count");
  integer(dropped, droppedAt);
  return {
    timeUnixNano: nanos(...f("timeUnixNano", "time_unix_nano")),
    observedTimeUnixNano: nanos(...f("observedTimeUnixNano", "observed_time_unix_nano")),
    severityNumber: severity(...f("severityNumber", "severity_number")),
    severityText: string(...f("severityText", "severity_text")),
    body: anyValue(...f("body")),
    attributes: attributes(r, path),
    traceId: hexId(...f("traceId", "trace_id")),
    spanId: hexId(...f("spanId", "span_id")),
    scopeName,
    resource,
  };
}

/**
 * An ExportLogsServiceRequest in OTLP JSON (already parsed), as flat records; throws 400 naming the first
 * field that cannot be decoded.
 */
export function recordsOfJson(value: unknown): OtlpRecord[] {
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new ApiError("bad_request", "the body is not an OTLP ExportLogsServiceRequest (a JSON object)");
  const out: OtlpRecord[] = [];
  const [rls, rlsAt] = field(value as Json, "", "resourceLogs", "resource_logs");
  repeated(rls, rlsAt).forEach((rl, i) => {
    const rlAt = `${rlsAt}[${i}]`;
    const r = message(rl, rlAt);
    const [res, resAt] = field(r, rlAt, "resource");
    const resource = attributes(message(res, resAt), resAt);
    string(...field(r, rlAt, "schemaUrl", "schema_url"));
    const [sls, slsAt] = field(r, rlAt, "scopeLogs", "scope_logs");
    repeated(sls, slsAt).forEach((sl, j) => {
      const slAt = `${slsAt}[${j}]`;
      const s = message(sl, slAt);
      const [scope, scopeAt] = field(s, slAt, "scope");
      const sc = message(scope, scopeAt);
      const scopeName = string(...field(sc, scopeAt, "name"));
      string(...field(sc, scopeAt, "version"));
      attributes(sc, scopeAt);
      const [lrs, lrsAt] = field(s, slAt, "logRecords", "log_records");
      repeated(lrs, lrsAt).forEach((lr, k) => {
        out.push(record(lr, `${lrsAt}[${k}]`, scopeName, resource));
      });
    });
  });
  return out;
}
