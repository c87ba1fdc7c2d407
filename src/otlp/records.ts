// An OTLP/HTTP logs export, from protobuf or from OTLP's JSON, as one flat list of records,
// each with what it needs of its resource and scope. Both encodings land in the same shape,
// so the mapping to fleetbeat's lines (mapping.ts) is written once.
//
// OTLP's JSON is not plain proto3 JSON (hex ids, integer enums): it is read by hand, strictly,
// in json.ts; the binary form is decoded by protobuf-es from code generated ahead of time
// (src/otlp/gen).
import { fromBinary } from "@bufbuild/protobuf";
import { ApiError } from "../contract/errors";
import { hex } from "../lib/crypto";
import { ExportLogsServiceRequestSchema } from "./gen/opentelemetry/proto/collector/logs/v1/logs_service_pb";
import type { AnyValue, KeyValue } from "./gen/opentelemetry/proto/common/v1/common_pb";
import type { OtlpRecord, Plain } from "./record";

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

/**
 * The request, or 400: bytes that are not one (a wrong wire type at any level, a truncated field) cannot be
 * decoded.
 */
function decoded(bytes: Uint8Array) {
  try {
    return fromBinary(ExportLogsServiceRequestSchema, bytes);
  } catch (err) {
    throw new ApiError("bad_request", `the body is not an OTLP ExportLogsServiceRequest: ${(err as Error).message}`);
  }
}

export function recordsOfProtobuf(bytes: Uint8Array): OtlpRecord[] {
  const request = decoded(bytes);
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

// ---- OTLP JSON: read strictly in json.ts ------------------------------------------------

export { recordsOfJson } from "./json";
