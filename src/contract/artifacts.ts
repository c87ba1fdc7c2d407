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

/** Everything a project holds in R2: its session files and its archived logs. */
export const projectPrefixes = (projectId: string) => [`artifacts/${projectId}/`, `logs/${projectId}/`];

/** The R2 prefix of a session's files. Projects and sessions are ids the server checked. */
export const artifactPrefix = (projectId: string, sessionId: string) => `artifacts/${projectId}/${encodeURIComponent(sessionId)}/`;

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
  if (new TextEncoder().encode(path).byteLength > PATH_MAX_BYTES) throw bad(`path is longer than ${PATH_MAX_BYTES} bytes`);
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

/** Types a browser would run or render as a page: never shown inline. */
const ACTIVE = /^(text\/html|application\/xhtml\+xml|image\/svg\+xml|text\/xml|application\/xml|(application|text)\/(x-)?(java|ecma)script|text\/javascript|application\/x-shockwave-flash|application\/pdf)\b/i;

/** Whether a stored content type may be shown inline (images, video, plain text, data); active ones go as attachments. */
export function mayShowInline(contentType: string): boolean {
  return !ACTIVE.test(contentType.trim());
}

/** The 411 of a single PUT without a Content-Length. */
export const lengthRequired = () =>
  new ApiError("length_required", "a single upload needs a Content-Length; send a file of unknown size as a multipart upload (?uploads)");

/** The query of an upload: none for one PUT; `uploads`, `upload_id` with `part_number`, or `upload_id` with `complete` for multipart. */
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

export const ListFiles = z.object({ project_id: projectId.optional(), limit: limit(1000, 100), cursor: z.string().max(2048).optional() });

/** `path` is checked by artifactPath (it must be decoded once, by hand). */
export const FileQuery = z.object({ project_id: projectId.optional(), path: z.string().min(1).max(4 * PATH_MAX_BYTES) });
