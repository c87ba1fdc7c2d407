// What POST /v1/logs answers, as the OTLP/HTTP specification says: in the request's own
// encoding (protobuf or JSON); 200 with an ExportLogsServiceResponse, carrying partial_success
// when some records were rejected; failures as a google.rpc.Status. 429 and 503 carry
// Retry-After, since only there can the exporter's retry help; everything else is final.
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import { ApiError } from "../contract/errors";
import type { ExportOutcome } from "./export";
import { StatusSchema } from "./gen/google/rpc/status_pb";
import { ExportLogsServiceResponseSchema } from "./gen/opentelemetry/proto/collector/logs/v1/logs_service_pb";

export type OtlpEncoding = "protobuf" | "json";

/** The request's encoding by its Content-Type; null when it is neither. */
export function encodingOf(contentType: string | undefined): OtlpEncoding | null {
  const media = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  return media === "application/x-protobuf" ? "protobuf" : media === "application/json" ? "json" : null;
}

function respond(
  encoding: OtlpEncoding,
  status: number,
  bytesOrJson: Uint8Array | unknown,
  headers: Record<string, string> = {},
): Response {
  return encoding === "protobuf"
    ? new Response(bytesOrJson as Uint8Array<ArrayBuffer>, {
        status,
        headers: { "content-type": "application/x-protobuf", ...headers },
      })
    : Response.json(bytesOrJson, { status, headers });
}

export function exportAnswer(encoding: OtlpEncoding, outcome: ExportOutcome): Response {
  const message = create(ExportLogsServiceResponseSchema, {
    ...(outcome.rejected > 0
      ? { partialSuccess: { rejectedLogRecords: BigInt(outcome.rejected), errorMessage: outcome.reasons.join("; ") } }
      : {}),
  });
  return respond(
    encoding,
    200,
    encoding === "protobuf"
      ? toBinary(ExportLogsServiceResponseSchema, message)
      : toJson(ExportLogsServiceResponseSchema, message),
  );
}

/** google.rpc.Code by the HTTP status it stands beside. */
const GRPC_CODE: Record<number, number> = {
  400: 3,
  401: 16,
  403: 7,
  404: 5,
  409: 10,
  411: 3,
  413: 3,
  415: 3,
  429: 8,
  503: 14,
};

/**
 * A failure as OTLP answers it. The contract's errors keep their status, but an internal one
 * becomes 503 with Retry-After: whatever failed (an object reset, an overload) may pass.
 */
export function errorAnswer(encoding: OtlpEncoding, err: unknown): Response {
  const known = err instanceof ApiError && err.code !== "internal";
  if (!known) console.error("POST /v1/logs failed", err);
  const status = known ? err.status : 503;
  const headers: Record<string, string> = known ? { ...(err.headers ?? {}) } : { "retry-after": "1" };
  // Retry-After only where a retry can help: a 429 (the quota's reset) and a 503.
  if (status !== 429 && status !== 503) delete headers["retry-after"];
  const message = known ? err.message : "the server could not store the export now; retry";
  const body = create(StatusSchema, { code: GRPC_CODE[status] ?? 2, message });
  return respond(
    encoding,
    status,
    encoding === "protobuf" ? toBinary(StatusSchema, body) : toJson(StatusSchema, body),
    headers,
  );
}
