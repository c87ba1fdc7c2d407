// Reading an ingest body: JSON, optionally gzip. Decompression runs as a stream and stops at
// the byte limit, so a gzip bomb costs at most LOG_UPLOAD.max_bytes of memory, then 413.
import { ApiError } from "../contract/errors";
import { LOG_UPLOAD } from "../contract/limits";
import type { IngestEnvelope } from "../contract/logs";
import { envelopeOf } from "../ingest/ingest";
import { readBounded } from "./body";

export async function readIngestBody(req: Request): Promise<IngestEnvelope> {
  const mediaType = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  checkEncoding(req);
  if (mediaType !== "application/json") {
    throw new ApiError("unsupported_media_type", "send the body as application/json", {
      content_type: mediaType || null,
    });
  }
  return envelopeOf(parseJsonBytes(await readLogBody(req)));
}

function checkEncoding(req: Request): "identity" | "gzip" {
  const encoding = (req.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip") {
    throw new ApiError("unsupported_media_type", "Content-Encoding must be gzip or absent", {
      content_encoding: encoding,
    });
  }
  return encoding;
}

/**
 * A log body's bytes (native or OTLP), gunzipped when it says so, at most LOG_UPLOAD.max_bytes either way
 * (413 past it).
 */
export async function readLogBody(req: Request): Promise<Uint8Array> {
  const encoding = checkEncoding(req);
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > LOG_UPLOAD.max_bytes) {
    throw new ApiError("payload_too_large", `body is larger than ${LOG_UPLOAD.max_bytes} bytes`, {
      limit: LOG_UPLOAD.max_bytes,
    });
  }
  const bytes = await readBounded(req.body, LOG_UPLOAD.max_bytes);
  return encoding === "gzip" ? gunzipBounded(bytes, LOG_UPLOAD.max_bytes) : bytes;
}

async function gunzipBounded(compressed: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  // A request body is never a SharedArrayBuffer (the DOM's Blob type, which the dashboard's check uses, asks for that).
  const stream = new Blob([compressed as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(new DecompressionStream("gzip"));
  try {
    return await readBounded(stream, maxBytes);
  } catch (err) {
    if (err instanceof ApiError) {
      throw new ApiError("payload_too_large", `decompressed body is larger than ${maxBytes} bytes`, {
        limit: maxBytes,
      });
    }
    throw new ApiError("bad_request", "body is not valid gzip");
  }
}

/** A log body's JSON: 400 when it is not UTF-8 JSON. */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch (err) {
    throw new ApiError("bad_request", `malformed JSON: ${(err as Error).message}`);
  }
}
