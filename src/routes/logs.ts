// /logs: ingest (device), search, export, facets and volume (org keys), and the live tail.
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { orgKey, perClientIp, signedDevice } from "../auth/middleware";
import { ApiError, notFound } from "../contract/errors";
import { LOG_UPLOAD } from "../contract/limits";
import { FacetsQuery, VolumeQuery } from "../contract/log-counts";
import { LogLine } from "../contract/log-line";
import { IngestEnvelope, LogExport, LogSearch, StreamQuery, TicketRequest } from "../contract/logs";
import { newTailTicket, verifyTailTicket } from "../contract/tail-ticket";
import { parseOrThrow } from "../contract/validation";
import { notJson, readJson, tooLarge } from "../http/body";
import { describer } from "../http/describe";
import { readIngestBody } from "../http/ingest-body";
import { DEFAULT_BODY_LIMIT, query } from "../http/validate";
import { ingest } from "../ingest/ingest";
import { clockNow } from "../lib/clock";
import { hotWindowMs, signingKey } from "../lib/config";
import { iso } from "../lib/time";
import { openLiveTail } from "../services/live-tail";
import { logFacets, logVolume } from "../services/log-counts";
import { logExport } from "../services/log-export";
import { searchLogs, searchScope } from "../services/log-search";
import { projectOfOrg } from "../services/tenancy";
import { deviceHub } from "../stubs/device-hub";
import { projectHub } from "../stubs/project-hub";

const describe = describer("Logs");
/** What a batch holds, line by line (the route reads it itself: gzip, and refusals per line). */
const IngestBody = IngestEnvelope.extend({ logs: z.array(LogLine) });
const ticketRefused = () => new ApiError("unauthorized", "ticket is unknown, used or expired");

export const logs = new Hono<AppEnv>()
  .post(
    "/ingest",
    describe({
      summary: "Ingest a batch of log lines (gzip accepted)",
      description:
        "Accepted lines are durable when this answers. A retried `batch_id` is counted once; bad lines are refused by index, beside the accepted ones. Body: " +
        '`{"batch_id": "b-1", "logs": [{"timestamp": "2026-11-25T10:00:00Z", "level": "ERROR", "module": "nav", "message": "lidar timeout"}]}`.',
      body: IngestBody,
      errors: [() => notJson("text/plain"), () => tooLarge(LOG_UPLOAD.max_bytes)],
    }),
    signedDevice,
    async (c) => {
      const envelope = await readIngestBody(c.req.raw);
      const { deviceId, keyHash } = c.var.deviceKey;
      const hub = deviceHub(c.env, deviceId);
      return c.json(
        await ingest(envelope, hotWindowMs(c.env), async (batch) => {
          const outcome = await hub.ingest(batch, keyHash);
          if (outcome.identity) c.set("device", outcome.identity);
          return outcome;
        }),
      );
    },
  )
  .get(
    "/",
    describe({
      summary: "Search logs",
      description: "Example: `?project_id=prj_…&level=ERROR&q=timeout&from=2026-11-25`.",
      errors: [() => notFound("project")],
    }),
    orgKey("viewer"),
    query(LogSearch),
    async (c) => {
      const q = c.req.valid("query");
      const sources = await searchScope(c.env, c.var.db, c.var.org.orgId, q);
      return c.json(await searchLogs(c.env, sources, q));
    },
  )
  .get(
    "/export",
    describe({
      summary: "Export logs as CSV, NDJSON or JSON (streamed)",
      media: "text/csv",
      errors: [() => notFound("project")],
    }),
    orgKey("viewer"),
    query(LogExport),
    async (c) => {
      const { format, ...filters } = c.req.valid("query");
      return logExport(c.env, await searchScope(c.env, c.var.db, c.var.org.orgId, filters), filters, format);
    },
  )
  // Lines per device, module and session over a range, counted in the shards (docs/api-notes.md).
  .get(
    "/facets",
    describe({
      summary:
        "Lines per device, module and session over a range (default: the last 24 h), the most first, 500 of each",
      errors: [() => notFound("project")],
    }),
    orgKey("viewer"),
    query(FacetsQuery),
    async (c) => {
      return c.json(await logFacets(c.env, c.var.db, c.var.org.orgId, c.req.valid("query"), clockNow() * 1000));
    },
  )
  // Lines per time bucket and level, with GET /logs's filters (docs/api-notes.md).
  .get(
    "/volume",
    describe({
      summary: "Lines per time bucket and level, with the filters of GET /logs (a histogram)",
      errors: [() => notFound("project")],
    }),
    orgKey("viewer"),
    query(VolumeQuery),
    async (c) => {
      return c.json(await logVolume(c.env, c.var.db, c.var.org.orgId, c.req.valid("query"), clockNow() * 1000));
    },
  )
  .post(
    "/stream/ticket",
    describe({
      summary: "A single-use live-tail ticket",
      description: "`project_id` in the JSON body or the query.",
      body: TicketRequest,
      errors: [() => notFound("project")],
    }),
    orgKey("viewer"),
    async (c) => {
      const fromBody = c.req.raw.body ? await readJson(c.req.raw, DEFAULT_BODY_LIMIT) : {};
      const { project_id } = parseOrThrow(TicketRequest, { ...(fromBody as object), ...c.req.query() }, "body");
      await projectOfOrg(c.var.db, c.var.org.orgId, project_id);
      const { ticket, secret } = await newTailTicket(project_id, signingKey(c.env));
      const expiresAt = await projectHub(c.env, project_id).mintTicket(secret, {
        orgId: c.var.org.orgId,
        keyId: c.var.org.keyId,
      });
      return c.json({ ticket, expires_at: iso(expiresAt), project_id });
    },
  )
  .get(
    "/stream",
    describe({
      summary: "Live tail",
      description: "A WebSocket upgrade; the ticket (POST /logs/stream/ticket) is the credential, once.",
      auth: "ticket",
      answers: { 101: "Switching to the WebSocket" },
      errors: [ticketRefused, () => new ApiError("bad_request", "connect with a WebSocket (Upgrade: websocket)")],
    }),
    perClientIp,
    query(StreamQuery),
    async (c) => {
      const { ticket, window, project_id, ...filter } = c.req.valid("query");
      const parsed = await verifyTailTicket(ticket, signingKey(c.env));
      if (!parsed || (project_id && project_id !== parsed.projectId)) throw ticketRefused();
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        throw new ApiError("bad_request", "connect with a WebSocket (Upgrade: websocket)");
      }
      return openLiveTail(c.env, c.req.raw, parsed, filter, window);
    },
  );
