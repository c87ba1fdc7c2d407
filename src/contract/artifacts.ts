// Session files ("artifacts"): where they live in R2, which paths are allowed, and how a
// download presents them. A path is the device's own text, so it is checked once here,
// for uploads, downloads and deletes alike.
import { z } from "zod";
import { limit, projectId } from "./common";
import { ApiError, invalidField } from "./errors";

/** A path is at most this many bytes of UTF-8. */
const PATH_MAX_BYTES = 1024;
/** A completed session takes uploads for this long after it ends. */
export const UPLOAD_GRACE_MS = 24 * 3_600_000;
/** Multipart parts: R2 wants at least 5 MiB for every part but the last, and at most 10,000 parts. */
export const PART_MIN_BYTES = 5 * 1024 * 1024;
const PARTS_MAX = 10_000;
/** Multipart uploads a device may have open at once: each holds R2 parts until it completes or is given up. */
export const OPEN_UPLOADS_MAX = 10;
/** A multipart upload with no part for this long is stale: the hourly job aborts it. */
export const UPLOAD_IDLE_MS = 24 * 3_600_000;

/** Everything a project holds in R2: its session files and its archived logs. */
export const projectPrefixes = (projectId: string) => [`artifacts/${projectId}/`, `logs/${projectId}/`];

/** The R2 prefix of a session's files. Projects and sessions are ids the server checked. */
export const artifactPrefix = (projectId: string, sessionId: string) =>
  `artifacts/${projectId}/${encodeURIComponent(sessionId)}/`;

/** Control characters (C0, DEL, C1), line and paragraph separators, and bidi overrides. */
const FORBIDDEN = /[\p{Cc}\p{Zl}\p{Zp}\u202A-\u202E\u2066-\u2069\uFEFF]/u;
/** A percent escape left after decoding once: a double-encoded path. */
const ESCAPE = /%[0-9A-Fa-f]{2}/;

/**
 * The normalised path (NFC), or a 400 naming what is wrong. A path is decoded exactly once:
 * from the URL path here (`location` "path"), or by the query string's own parsing
 * ("query"). An escape of a slash, a dot or a control character is judged as what it decodes
 * to, and one still there after decoding (double encoding) is refused.
 */
export function artifactPath(value: string, location: "path" | "query", field = "path"): string {
  const bad = (message: string) => invalidField(location, field, message);
  let path: string;
  try {
    path = (location === "path" ? decodeURIComponent(value) : value).normalize("NFC");
  } catch {
    throw bad("path is not valid percent-encoded UTF-8");
  }
  if (path.length === 0) throw bad("path is empty");
  if (new TextEncoder().encode(path).byteLength > PATH_MAX_BYTES)
    throw bad(`path is longer than ${PATH_MAX_BYTES} bytes`);
  if (FORBIDDEN.test(path)) throw bad("path holds a control or direction-override character");
  if (ESCAPE.test(path)) throw bad("path holds a percent escape after decoding (double encoding)");
  if (path.includes("\\")) throw bad("path uses a backslash; separate folders with /");
  if (path.startsWith("/")) throw bad("path is absolute; give it relative to the session");
  for (const segment of path.split("/")) {
    if (segment === "") throw bad("path has an empty segment (// or a trailing /)");
    if (segment === "." || segment === "..") throw bad("path has a . or .. segment");
  }
  return path;
}

/**
 * Types shown inline: raster images, which a browser only decodes, and plain text. Everything else is an
 * attachment.
 */
const INLINE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "text/plain"]);
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5B\\x5D-\\x7E]|\\\\[\\t\\x20-\\x7E])*"';
/** One media type (RFC 9110 §8.3.1): `type/subtype`, then `; name=value` parameters, in ASCII. */
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})((?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED}))*)$`);
const PARAMETER = new RegExp(`;[ \\t]*(${TOKEN})=(${TOKEN}|${QUOTED})`, "g");
const CHARSET = new RegExp(`^${TOKEN}$`);

/**
 * How a download serves a stored Content-Type (the device's own text): the type it is sent as
 * and whether it may show inline. The text is parsed, never matched by its start: a browser
 * takes the last type of a comma list, so a list (a comma anywhere) or text that is not one
 * media type is sent as application/octet-stream. What is sent is rebuilt from the parse (the
 * type in lower case, and a text type's charset), so the browser reads the type judged here.
 */
export function servedType(stored: string): { type: string; inline: boolean } {
  const m = stored.includes(",") ? null : MEDIA_TYPE.exec(stored.trim());
  if (!m) return { type: "application/octet-stream", inline: false };
  const essence = `${m[1]}/${m[2]}`.toLowerCase();
  let charset: string | undefined;
  for (const [, name, value] of m[3]!.matchAll(PARAMETER)) {
    if (name!.toLowerCase() === "charset" && CHARSET.test(value!)) charset = value!.toLowerCase();
  }
  const type = charset && essence.startsWith("text/") ? `${essence}; charset=${charset}` : essence;
  return { type, inline: INLINE_TYPES.has(essence) };
}

/**
 * The 429 of a device starting a multipart upload with OPEN_UPLOADS_MAX open already, in the shape of every
 * count limit.
 */
export const tooManyUploads = (used: number) =>
  new ApiError(
    "quota_exceeded",
    `a device may have ${OPEN_UPLOADS_MAX} multipart uploads open at once; complete or give one up (DELETE ?upload_id) first`,
    {
      quota: "open_uploads",
      limit: OPEN_UPLOADS_MAX,
      used,
      resets_at: null,
    },
  );

/** The 411 of a single PUT without a Content-Length. */
export const lengthRequired = () =>
  new ApiError(
    "length_required",
    "a single upload needs a Content-Length; send a file of unknown size as a multipart upload (?uploads)",
  );

/**
 * The query of an upload: none for one PUT; `uploads`, `upload_id` with `part_number`, or `upload_id` with
 * `complete` for multipart.
 */
export const UploadQuery = z.object({
  uploads: z.literal("").optional(),
  upload_id: z.string().min(1).max(1024).optional(),
  part_number: z.coerce.number().int().min(1).max(PARTS_MAX).optional(),
  complete: z.literal("").optional(),
});

export const CompleteUpload = z.object({
  parts: z
    .array(z.object({ part_number: z.number().int().min(1).max(PARTS_MAX), etag: z.string().min(1).max(256) }))
    .min(1)
    .max(PARTS_MAX),
});

export const ListFiles = z.object({
  project_id: projectId.optional(),
  limit: limit(1000, 100),
  cursor: z.string().max(2048).optional(),
});

/** `path` is checked by artifactPath (it must be decoded once, by hand). */
export const FileQuery = z.object({
  project_id: projectId.optional(),
  path: z
    .string()
    .min(1)
    .max(4 * PATH_MAX_BYTES),
});
