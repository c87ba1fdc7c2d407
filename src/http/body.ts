// Reads a request body without ever holding more than `maxBytes` of it.
import { ApiError } from "../contract/errors";

export const tooLarge = (maxBytes: number) =>
  new ApiError("payload_too_large", `body is larger than ${maxBytes} bytes`, { limit: maxBytes });

export const notJson = (mediaType: string) =>
  new ApiError("unsupported_media_type", "send the body as application/json", { content_type: mediaType || null });

export const malformedJson = (err: Error) => new ApiError("bad_request", `malformed JSON: ${err.message}`);

export async function readBounded(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array> {
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * The JSON body of a request: 413 past the limit, 415 for another media type, 400 when
 * malformed. An empty body reads as `{}`, so calls whose fields are all optional need none.
 */
export async function readJson(req: Request, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const bytes = await readBounded(req.body, maxBytes);
  if (bytes.byteLength === 0) return {};
  const mediaType = (req.headers.get("content-type") ?? "").split(";")[0]!.trim();
  if (!JSON_TYPE.test(mediaType)) throw notJson(mediaType);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError("bad_request", "body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw malformedJson(err as Error);
  }
}
