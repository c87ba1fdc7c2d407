// Session files: devices upload them (PUT, or multipart for large files); people list,
// download and delete them (src/services/artifacts.ts), or take a session whole as one zip.
import { Hono } from "hono";
import { audit } from "../http/audit";
import type { AppEnv } from "../app-env";
import { deviceAuth, orgKey } from "../auth/middleware";
import { CompleteUpload, FileQuery, ListFiles, UploadQuery, artifactPath } from "../contract/artifacts";
import { ApiError } from "../contract/errors";
import { SessionParams, SessionQuery } from "../contract/sessions";
import { readJson } from "../http/body";
import { params, query } from "../http/validate";
import { parseOrThrow } from "../contract/validation";
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
  .put("/:session_id/artifacts/*", deviceAuth, params(SessionParams.passthrough()), query(UploadQuery), async (c) => {
    const q = c.req.valid("query");
    const sessionId = c.req.valid("param").session_id;
    const path = pathOf(c.req.url);
    const { db } = c.var;
    if (q.upload_id !== undefined && q.part_number !== undefined) {
      return c.json(await putPart(c.env, db, c.var.device, sessionId, path, q.upload_id, q.part_number, c.req.raw));
    }
    if (q.upload_id !== undefined || q.part_number !== undefined || q.uploads !== undefined || q.complete !== undefined)
      throw misuse();
    return c.json(await putArtifact(c.env, db, c.var.device, sessionId, path, c.req.raw), 201);
  })
  .post("/:session_id/artifacts/*", deviceAuth, params(SessionParams.passthrough()), query(UploadQuery), async (c) => {
    const q = c.req.valid("query");
    const sessionId = c.req.valid("param").session_id;
    const path = pathOf(c.req.url);
    if (q.uploads !== undefined && q.upload_id === undefined) {
      return c.json(await startUpload(c.env, c.var.db, c.var.device, sessionId, path, c.req.raw), 201);
    }
    if (q.upload_id !== undefined && q.complete !== undefined) {
      // Up to 10,000 parts: a larger body than other control calls.
      const body = parseOrThrow(CompleteUpload, await readJson(c.req.raw, 1024 * 1024), "body");
      return c.json(await completeUpload(c.env, c.var.db, c.var.device, sessionId, path, q.upload_id, body.parts), 201);
    }
    throw misuse();
  })
  .delete(
    "/:session_id/artifacts/*",
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
  .get("/:session_id/files", orgKey("viewer"), params(SessionParams), query(ListFiles), async (c) => {
    const q = c.req.valid("query");
    const session = await sessionOfOrg(c.env, c.var.db, c.var.org.orgId, c.req.valid("param").session_id, q.project_id);
    return c.json(await listFiles(c.env, session.projectId, session.sessionId, q.limit, q.cursor));
  })
  .get("/:session_id/files/download", orgKey("viewer"), params(SessionParams), query(FileQuery), async (c) => {
    const q = c.req.valid("query");
    const path = artifactPath(q.path, "query");
    const session = await sessionOfOrg(c.env, c.var.db, c.var.org.orgId, c.req.valid("param").session_id, q.project_id);
    return downloadFile(c.env, session.projectId, session.sessionId, path, c.req.raw);
  })
  .delete("/:session_id/files", orgKey("operator"), params(SessionParams), query(FileQuery), async (c) => {
    const q = c.req.valid("query");
    const path = artifactPath(q.path, "query");
    const session = await sessionOfOrg(c.env, c.var.db, c.var.org.orgId, c.req.valid("param").session_id, q.project_id);
    await deleteFile(c.env, session.projectId, session.sessionId, path);
    await audit(c, {
      action: "file.deleted",
      target: { kind: "file", id: `${session.sessionId}/${path}`, label: path },
      projectId: session.projectId,
      summary: { session_id: session.sessionId, path },
    });
    return c.body(null, 204);
  })
  .get("/:session_id/bundle", orgKey("viewer"), params(SessionParams), query(SessionQuery), async (c) => {
    const session = await sessionOfOrg(
      c.env,
      c.var.db,
      c.var.org.orgId,
      c.req.valid("param").session_id,
      c.req.valid("query").project_id,
    );
    return sessionBundle(c.env, session);
  });
