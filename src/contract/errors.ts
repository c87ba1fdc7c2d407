// The contract's error shape, built in one place. Routes throw ApiError; app.onError answers.
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";

export const ErrorCode = z.enum([
  "bad_request",
  "validation_failed",
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "gone",
  "length_required",
  "payload_too_large",
  "unsupported_media_type",
  "quota_exceeded",
  "rate_limited",
  "internal",
]);
export type ErrorCode = z.output<typeof ErrorCode>;

/** Every non-2xx answer, and every error frame on a socket. */
export const ErrorBody = z.object({
  error: z.object({ code: ErrorCode, message: z.string(), details: z.unknown().optional() }),
});

/** The HTTP status of each code; a socket's error frame means what the same status would. */
export const ERROR_STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  length_required: 411,
  payload_too_large: 413,
  unsupported_media_type: 415,
  quota_exceeded: 429,
  rate_limited: 429,
  internal: 500,
};

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

export function errorBody(code: ErrorCode, message: string, details?: unknown): z.output<typeof ErrorBody> {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

export const notFound = (what: string) => new ApiError("not_found", `${what} not found`);

/** A validation failure found after the schema passed (a range, a cursor, a capsule's DSN). */
export const invalidField = (location: "body" | "query" | "path", path: string, message: string, code = "invalid") =>
  new ApiError("validation_failed", message, [{ location, path, message, code }]);
