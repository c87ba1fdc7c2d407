// Session files: devices upload them (PUT, or multipart for large files); people list,
// download and delete them (src/services/artifacts.ts), or take a session whole as one zip.
import { type Context, Hono } from "hono";
import type { AppEnv, OrgEnv } from "../app-env";
import { deviceAuth, orgKey } from "../auth/middleware";
import { artifactPath, CompleteUpload, FileQuery, ListFiles, UploadQuery } from "../contract/artifacts";
import { ApiError, notFound } from "../contract/errors";
import { SessionParams, SessionQuery } from "../contract/sessions";
import { parseOrThrow } from "../contract/validation";
import { audit } from "../http/audit";
import { readJson } from "../http/body";
import { describer } from "../http/describe";
import { params, query } from "../http/validate";
import {
  abortUpload,
  completeUpload,
  deleteFile,
  downloadFile,
  listFiles,
  putArtifact,
  putPart,
  startUpload,
} from "../services/artifacts";
import { sessionBundle } from "../services/session-bundle";
import { sessionOfOrg } from "../services/tenancy";

const describe = describer("Sessions");

/** The session named in the path, when it is the calling org's (a 404 otherwise, as for a missing one). */
const orgSession = (c: Context<OrgEnv>, sessionId: string, projectId?: string) =>
  sessionOfOrg(c.env, c.var.db, c.var.org.orgId, sessionId, projectId);
const UPLOAD = "The file's path is everything after /artifacts/.";

/** The file path of an artifact route: everything after `/artifacts/`, as sent (decoded once, by artifactPath). */
function pathOf(url: string): string {
  const pathname = new URL(url).pathname;
  // A session id cannot hold "/", so the first "/artifacts/" after the session's segment is this one.
  const at = pathname.indexOf("/artifacts/", pathname.indexOf("/sessions/") + "/sessions/".length);
  return artifactPath(pathname.slice(at + "/artifacts/".length), "path");
}

const misuse = () =>
  new ApiError(
    "bad_request",
    "name one upload step: nothing (one PUT), ?upload_id&part_number (PUT), ?uploads or ?upload_id&complete (POST), or ?upload_id (DELETE)",
  );

export const artifacts = new Hono<AppEnv>()
  .put(
    "/:session_id/artifacts/*",
    describe({
      summary:
        "Upload a session file to the path after /artifacts/: one streamed PUT with Content-Length, or a part of a multipart upload (?upload_id&part_number)",
      description: `${UPLOAD} The body is the raw file; answers {path, size, etag}, or {part: {part_number, etag}} for a part.`,
      answers: { 200: "A part stored", 201: "The file stored" },
      errors: [() => notFound("session"), misuse],
    }),
    deviceAuth,
    params(SessionParams.passthrough()),
    query(UploadQuery),
    async (c) => {
      const q = c.req.valid("query");
      const sessionId = c.req.valid("param").session_id;
      const path = pathOf(c.req.url);
      const { db } = c.var;
      if (q.upload_id !== undefined && q.part_number !== undefined) {
        return c.json(await putPart(c.env, db, c.var.device, sessionId, path, q.upload_id, q.part_number, c.req.raw));
      }
      if (
        q.upload_id !== undefined ||
        q.part_number !== undefined ||
        q.uploads !== undefined ||
        q.complete !== undefined
      )
        throw misuse();
      return c.json(await putArtifact(c.env, db, c.var.device, sessionId, path, c.req.raw), 201);
    },
  )
  .post(
    "/:session_id/artifacts/*",
    describe({
      summary: "Start a multipart upload (?uploads) or complete one (?upload_id&complete with {parts})",
      description: `${UPLOAD} Completing takes a JSON body {parts: [{part_number, etag}]}, up to 1 MiB.`,
      answers: { 201: "The upload started, or the file completed" },
      errors: [() => notFound("session"), misuse],
    }),
    deviceAuth,
    params(SessionParams.passthrough()),
    query(UploadQuery),
    async (c) => {
      const q = c.req.valid("query");
      const sessionId = c.req.valid("param").session_id;
      const path = pathOf(c.req.url);
      if (q.uploads !== undefined && q.upload_id === undefined) {
        return c.json(await startUpload(c.env, c.var.db, c.var.device, sessionId, path, c.req.raw), 201);
      }
      if (q.upload_id !== undefined && q.complete !== undefined) {
        // Up to 10,000 parts: a larger body than other control calls.
        const body = parseOrThrow(CompleteUpload, await readJson(c.req.raw, 1024 * 1024), "body");
        return c.json(
          await completeUpload(c.env, c.var.db, c.var.device, sessionId, path, q.upload_id, body.parts),
          201,
        );
      }
      throw misuse();
    },
  )
  .delete(
    "/:session_id/artifacts/*",
    describe({
      summary: "Abort a multipart upload (?upload_id)",
      answers: { 204: "Aborted" },
      errors: [() => notFound("session"), misuse],
    }),
    deviceAuth,
    params(SessionParams.passthrough()),
    query(UploadQuery),
    async (c) => {
      const q = c.req.valid("query");
      if (q.upload_id === undefined) throw misuse();
      await abortUpload(c.env, c.var.db, c.var.device, c.req.valid("param").session_id, pathOf(c.req.url), q.upload_id);
      return c.body(null, 204);
    },
  )
  .get(
    "/:session_id/files",
    describe({ summary: "A page of the session's files", errors: [() => notFound("session")] }),
    orgKey("viewer"),
    params(SessionParams),
    query(ListFiles),
    async (c) => {
      const q = c.req.valid("query");
      const session = await orgSession(c, c.req.valid("param").session_id, q.project_id);
      return c.json(await listFiles(c.env, session.projectId, session.sessionId, q.limit, q.cursor));
    },
  )
  .get(
    "/:session_id/files/download",
    describe({
      summary: "A session file's bytes, with Range and If-None-Match",
      answers: { 200: "The file", 206: "The range asked for" },
      media: "application/octet-stream",
      errors: [() => notFound("session"), () => notFound("file")],
    }),
    orgKey("viewer"),
    params(SessionParams),
    query(FileQuery),
    async (c) => {
      const q = c.req.valid("query");
      const path = artifactPath(q.path, "query");
      const session = await orgSession(c, c.req.valid("param").session_id, q.project_id);
      return downloadFile(c.env, session.projectId, session.sessionId, path, c.req.raw);
    },
  )
  .delete(
    "/:session_id/files",
    describe({ summary: "Delete a session file", answers: { 204: "Deleted" }, errors: [() => notFound("session")] }),
    orgKey("operator"),
    params(SessionParams),
    query(FileQuery),
    async (c) => {
      const q = c.req.valid("query");
      const path = artifactPath(q.path, "query");
      const session = await orgSession(c, c.req.valid("param").session_id, q.project_id);
      await deleteFile(c.env, session.projectId, session.sessionId, path);
      await audit(c, {
        action: "file.deleted",
        target: { kind: "file", id: `${session.sessionId}/${path}`, label: path },
        projectId: session.projectId,
        summary: { session_id: session.sessionId, path },
      });
      return c.body(null, 204);
    },
  )
  .get(
    "/:session_id/bundle",
    describe({
      summary:
        "The session as one streamed zip: files/<path> (renamed where a name would not extract everywhere), logs.ndjson and manifest.json",
      media: "application/zip",
      errors: [() => notFound("session")],
    }),
    orgKey("viewer"),
    params(SessionParams),
    query(SessionQuery),
    async (c) => {
      const session = await orgSession(c, c.req.valid("param").session_id, c.req.valid("query").project_id);
      return sessionBundle(c.env, session);
    },
  );
