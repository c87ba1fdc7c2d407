// Session files in R2, under artifacts/<project>/<session>/<path>: uploads straight from
// devices (one streamed PUT, or multipart for large files), listing, ranged and conditional
// downloads, and deletes. R2 is the index: its listing gives each file's size, type, etag and
// upload time, so nothing else has to agree with it.
//
// Every stored file counts at once: its bytes as the project's artifact_bytes (in the
// device's object, like every other device count) and the change in what R2 holds as its
// storage_bytes (in the project's object, which passes its new total on to the org's own hub
// before it answers: durable-objects/org-storage.ts). The storage quota reads the org's figure
// there, one call however many projects the org has. Parts of multipart uploads under way are
// held by R2 too, before any file exists: D1 keeps their sizes, and the quota counts them
// beside the files.

import {
  artifactPrefix,
  lengthRequired,
  OPEN_UPLOADS_MAX,
  PART_MIN_BYTES,
  servedType,
  tooManyUploads,
} from "../contract/artifacts";
import { FILE_ANSWER_HEADERS } from "../contract/downloads";
import { ApiError, notFound } from "../contract/errors";
import { sessionTaken } from "../contract/sessions";
import { TIERS, type Tier } from "../contract/tiers";
import type { Db } from "../db/client";
import {
  countOpenUploads,
  deleteUpload,
  findUpload,
  insertUpload,
  partSizes,
  pendingBytes,
  recordPart,
} from "../db/repos/uploads";
import { deviceHub } from "../stubs/device-hub";
import { orgHub, projectHub } from "../stubs/project-hub";
import { attachmentDisposition } from "./export-format";
import { quotaExceeded, tierOf } from "./quotas";

/** The device uploading: its id, project and org. */
export interface Uploader {
  deviceId: string;
  projectId: string;
  orgId: string;
}

export interface StoredFile {
  path: string;
  size: number;
  etag: string;
}

const keyOf = (projectId: string, sessionId: string, path: string) => artifactPrefix(projectId, sessionId) + path;

/** The declared body length of an upload, or 411 when there is none. */
function declaredLength(req: Request): number {
  const header = req.headers.get("content-length");
  if (header === null) throw lengthRequired();
  const n = Number(header);
  if (!Number.isSafeInteger(n) || n < 0) throw new ApiError("bad_request", "Content-Length is not a byte count");
  return n;
}

/** The session must be the device's own, and still take files (see DeviceHub.uploadAllowed). */
async function checkSession(env: Env, device: Uploader, sessionId: string): Promise<void> {
  const verdict = await deviceHub(env, device.deviceId).uploadAllowed(sessionId, Date.now());
  if (verdict === "not_found") throw notFound("session");
  if (verdict === "conflict") throw sessionTaken();
  if (verdict === "ended")
    throw new ApiError("conflict", "the session ended more than 24 hours ago and takes no more files");
}

/**
 * Refuses `bytes` more (429) when the org's storage would pass its tier's limit: its files and
 * the parts of its uploads under way, but for the upload or part `replacing` (whose bytes are
 * `bytes` themselves).
 */
async function ensureRoom(
  env: Env,
  db: Db,
  orgId: string,
  tier: Tier,
  bytes: number,
  replacing?: { uploadId: string; partNumber?: number },
): Promise<void> {
  const limit = TIERS[tier].limits.storage_bytes;
  const [files, parts] = await Promise.all([orgHub(env, orgId).orgStorageBytes(), pendingBytes(db, orgId, replacing)]);
  const used = files + parts;
  if (used + bytes > limit || used >= limit) throw quotaExceeded("storage_bytes", limit, used, null, tier);
}

/** A file is stored (or replaced): it counts as artifact bytes, and storage moves by what changed. */
async function stored(env: Env, device: Uploader, size: number, replacedSize: number): Promise<void> {
  await Promise.all([
    deviceHub(env, device.deviceId).recordUpload(size),
    projectHub(env, device.projectId).addStorage(size - replacedSize),
  ]);
}

/** The body as a stream of exactly its declared length (R2 needs the length up front; a body that differs fails). */
function exactly(req: Request, size: number): ReadableStream<Uint8Array> {
  if (!req.body) return new Blob([]).stream();
  return req.body.pipeThrough(new FixedLengthStream(size));
}

const contentTypeOf = (req: Request) => req.headers.get("content-type") || "application/octet-stream";

/** PUT /sessions/:id/artifacts/<path>: the body streamed to R2, never held whole. */
export async function putArtifact(
  env: Env,
  db: Db,
  device: Uploader,
  sessionId: string,
  path: string,
  req: Request,
): Promise<StoredFile> {
  const size = declaredLength(req);
  const tier = await tierOf(db, device.orgId);
  const max = TIERS[tier].single_upload_bytes;
  if (size > max) {
    throw new ApiError(
      "payload_too_large",
      `one PUT takes at most ${max} bytes; send larger files as a multipart upload (?uploads)`,
      { limit: max },
    );
  }
  await checkSession(env, device, sessionId);
  await ensureRoom(env, db, device.orgId, tier, size);
  const key = keyOf(device.projectId, sessionId, path);
  const before = await env.STORAGE.head(key);
  const object = await env.STORAGE.put(key, exactly(req, size), {
    httpMetadata: { contentType: contentTypeOf(req) },
    customMetadata: { device_id: device.deviceId },
  });
  await stored(env, device, object.size, before?.size ?? 0);
  return { path, size: object.size, etag: object.etag };
}

/**
 * POST ...?uploads: starts a multipart upload, while the device has fewer than OPEN_UPLOADS_MAX
 * open. The upload is counted after it is written and given up if it went past the cap, so two
 * starts racing for the last place can never both stay (at worst both are refused).
 */
export async function startUpload(
  env: Env,
  db: Db,
  device: Uploader,
  sessionId: string,
  path: string,
  req: Request,
): Promise<{ upload_id: string }> {
  await checkSession(env, device, sessionId);
  const open = await countOpenUploads(db, device.deviceId);
  if (open >= OPEN_UPLOADS_MAX) throw tooManyUploads(open);
  await ensureRoom(env, db, device.orgId, await tierOf(db, device.orgId), 0);
  const key = keyOf(device.projectId, sessionId, path);
  const upload = await env.STORAGE.createMultipartUpload(key, {
    httpMetadata: { contentType: contentTypeOf(req) },
    customMetadata: { device_id: device.deviceId },
  });
  const now = Date.now();
  await insertUpload(db, {
    uploadId: upload.uploadId,
    projectId: device.projectId,
    sessionId,
    deviceId: device.deviceId,
    path,
    key,
    createdAt: now,
    activeAt: now,
  });
  const after = await countOpenUploads(db, device.deviceId);
  if (after > OPEN_UPLOADS_MAX) {
    await upload.abort();
    await deleteUpload(db, upload.uploadId);
    throw tooManyUploads(after - 1);
  }
  return { upload_id: upload.uploadId };
}

async function uploadOf(db: Db, device: Uploader, sessionId: string, path: string, uploadId: string) {
  const row = await findUpload(db, uploadId, device.deviceId, sessionId, path);
  if (!row) throw notFound("upload");
  return row;
}

/** PUT ...?upload_id&part_number: one part, streamed. */
export async function putPart(
  env: Env,
  db: Db,
  device: Uploader,
  sessionId: string,
  path: string,
  uploadId: string,
  partNumber: number,
  req: Request,
): Promise<{ part: { part_number: number; etag: string } }> {
  const size = declaredLength(req);
  const tier = await tierOf(db, device.orgId);
  const max = TIERS[tier].single_upload_bytes;
  if (size > max) throw new ApiError("payload_too_large", `a part takes at most ${max} bytes`, { limit: max });
  await checkSession(env, device, sessionId);
  const row = await uploadOf(db, device, sessionId, path, uploadId);
  await ensureRoom(env, db, device.orgId, tier, size, { uploadId, partNumber });
  const part = await r2Call(() =>
    env.STORAGE.resumeMultipartUpload(row.key, uploadId).uploadPart(partNumber, exactly(req, size)),
  );
  await recordPart(db, { uploadId, partNumber, size, at: Date.now() });
  return { part: { part_number: part.partNumber, etag: part.etag } };
}

/**
 * POST ...?upload_id&complete: the parts joined into the file. The whole file is weighed against
 * the storage limit as it stands now, beside the org's files and its other uploads' parts.
 */
export async function completeUpload(
  env: Env,
  db: Db,
  device: Uploader,
  sessionId: string,
  path: string,
  uploadId: string,
  parts: { part_number: number; etag: string }[],
): Promise<StoredFile> {
  const row = await uploadOf(db, device, sessionId, path, uploadId);
  const sizes = await partSizes(db, uploadId);
  const size = parts.reduce((n, p) => n + (sizes.get(p.part_number) ?? 0), 0);
  await ensureRoom(env, db, device.orgId, await tierOf(db, device.orgId), size, { uploadId });
  const before = await env.STORAGE.head(row.key);
  const object = await r2Call(() =>
    env.STORAGE.resumeMultipartUpload(row.key, uploadId).complete(
      parts.map((p) => ({ partNumber: p.part_number, etag: p.etag })),
    ),
  );
  await deleteUpload(db, uploadId);
  await stored(env, device, object.size, before?.size ?? 0);
  return { path, size: object.size, etag: object.etag };
}

/** DELETE ...?upload_id: gives a multipart upload up. */
export async function abortUpload(
  env: Env,
  db: Db,
  device: Uploader,
  sessionId: string,
  path: string,
  uploadId: string,
): Promise<void> {
  const row = await uploadOf(db, device, sessionId, path, uploadId);
  await r2Call(() => env.STORAGE.resumeMultipartUpload(row.key, uploadId).abort());
  await deleteUpload(db, uploadId);
}

/**
 * R2 refuses some multipart calls for what the client sent (an unknown part, a wrong etag, a
 * part under 5 MiB that is not the last): those are the client's 400, not our 500.
 */
async function r2Call<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/multipart|part|etag|upload/i.test(message)) {
      throw new ApiError("bad_request", `R2 refused the upload: ${message}`, { part_min_bytes: PART_MIN_BYTES });
    }
    throw err;
  }
}

/** GET /sessions/:id/files: a page of the session's files, in path order. */
export async function listFiles(env: Env, projectId: string, sessionId: string, limit: number, cursor?: string) {
  const prefix = artifactPrefix(projectId, sessionId);
  const page = await env.STORAGE.list({ prefix, limit, cursor, include: ["httpMetadata"] });
  return {
    files: page.objects.map((o) => ({
      path: o.key.slice(prefix.length),
      size: o.size,
      content_type: o.httpMetadata?.contentType ?? "application/octet-stream",
      etag: o.etag,
      uploaded_at: o.uploaded.toISOString(),
    })),
    next_cursor: page.truncated ? page.cursor : null,
  };
}

/**
 * GET /sessions/:id/files/download?path=: the bytes, with Range (206), If-None-Match (304)
 * and the stored type as servedType reads it: only raster images and plain text show inline,
 * anything else is an attachment, and every answer is sandboxed and never sniffed.
 */
export async function downloadFile(
  env: Env,
  projectId: string,
  sessionId: string,
  path: string,
  req: Request,
): Promise<Response> {
  const key = keyOf(projectId, sessionId, path);
  let range: R2Range | undefined;
  const asked = req.headers.get("range");
  if (asked) {
    const size = (await env.STORAGE.head(key))?.size;
    if (size === undefined) throw notFound("file");
    const wanted = byteRange(asked, size);
    if (wanted === "unsatisfiable")
      return new Response(null, {
        status: 416,
        headers: { ...FILE_ANSWER_HEADERS, "content-range": `bytes */${size}` },
      });
    range = wanted;
  }
  const object = await env.STORAGE.get(key, { range, onlyIf: req.headers });
  if (!object) throw notFound("file");
  const headers = new Headers(FILE_ANSWER_HEADERS);
  object.writeHttpMetadata(headers);
  const served = servedType(headers.get("content-type") ?? "application/octet-stream");
  headers.set("content-type", served.type);
  headers.set("etag", object.httpEtag);
  headers.set("accept-ranges", "bytes");
  headers.set("cache-control", "private, no-cache");
  headers.set(
    "content-disposition",
    attachmentDisposition(path.slice(path.lastIndexOf("/") + 1), served.inline ? "inline" : "attachment"),
  );
  // A precondition that did not hold: R2 answers the object without its body.
  if (!("body" in object)) return new Response(null, { status: req.headers.has("if-none-match") ? 304 : 412, headers });
  if (range && "offset" in range) {
    const offset = range.offset!;
    const length = range.length!;
    headers.set("content-range", `bytes ${offset}-${offset + length - 1}/${object.size}`);
    headers.set("content-length", String(length));
    return new Response(object.body, { status: 206, headers });
  }
  headers.set("content-length", String(object.size));
  return new Response(object.body, { headers });
}

/**
 * One byte range of a file of `size` bytes (RFC 9110): `bytes=a-b`, `bytes=a-` or `bytes=-n`,
 * as an offset and length; undefined (the whole file) for anything else, such as several
 * ranges; "unsatisfiable" when it starts past the end.
 */
function byteRange(header: string, size: number): { offset: number; length: number } | undefined | "unsatisfiable" {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Math.min(Number(m[2]), size);
    return n === 0 ? "unsatisfiable" : { offset: size - n, length: n };
  }
  const start = Number(m[1]);
  if (start >= size) return "unsatisfiable";
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (end < start) return undefined;
  return { offset: start, length: end - start + 1 };
}

/** DELETE /sessions/:id/files?path=: the file goes, and storage with it. */
export async function deleteFile(env: Env, projectId: string, sessionId: string, path: string): Promise<void> {
  const key = keyOf(projectId, sessionId, path);
  const object = await env.STORAGE.head(key);
  if (!object) throw notFound("file");
  await env.STORAGE.delete(key);
  await projectHub(env, projectId).addStorage(-object.size);
}
