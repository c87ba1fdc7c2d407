// /logs: ingest (device), search, export, facets and volume (org keys), and the live tail.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey, perClientIp, signedDevice } from "../auth/middleware";
import { ApiError } from "../contract/errors";
import { FacetsQuery, VolumeQuery } from "../contract/log-counts";
import { LogExport, LogSearch, StreamQuery, TicketRequest } from "../contract/logs";
import { newTailTicket, verifyTailTicket } from "../contract/tail-ticket";
import { parseOrThrow } from "../contract/validation";
import { readJson } from "../http/body";
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

export const logs = new Hono<AppEnv>()
  .post("/ingest", signedDevice, async (c) => {
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
  })
  .get("/", orgKey("viewer"), query(LogSearch), async (c) => {
    const q = c.req.valid("query");
    const sources = await searchScope(c.env, c.var.db, c.var.org.orgId, q);
    return c.json(await searchLogs(c.env, sources, q));
  })
  .get("/export", orgKey("viewer"), query(LogExport), async (c) => {
    const { format, ...filters } = c.req.valid("query");
    return logExport(c.env, await searchScope(c.env, c.var.db, c.var.org.orgId, filters), filters, format);
  })
  // Lines per device, module and session over a range, counted in the shards (docs/api-notes.md).
  .get("/facets", orgKey("viewer"), query(FacetsQuery), async (c) => {
    return c.json(await logFacets(c.env, c.var.db, c.var.org.orgId, c.req.valid("query"), clockNow() * 1000));
  })
  // Lines per time bucket and level, with GET /logs's filters (docs/api-notes.md).
  .get("/volume", orgKey("viewer"), query(VolumeQuery), async (c) => {
    return c.json(await logVolume(c.env, c.var.db, c.var.org.orgId, c.req.valid("query"), clockNow() * 1000));
  })
  .post("/stream/ticket", orgKey("viewer"), async (c) => {
    const fromBody = c.req.raw.body ? await readJson(c.req.raw, DEFAULT_BODY_LIMIT) : {};
    const { project_id } = parseOrThrow(TicketRequest, { ...(fromBody as object), ...c.req.query() }, "body");
    await projectOfOrg(c.var.db, c.var.org.orgId, project_id);
    const { ticket, secret } = await newTailTicket(project_id, signingKey(c.env));
    const expiresAt = await projectHub(c.env, project_id).mintTicket(secret, {
      orgId: c.var.org.orgId,
      keyId: c.var.org.keyId,
    });
    return c.json({ ticket, expires_at: iso(expiresAt), project_id });
  })
  .get("/stream", perClientIp, query(StreamQuery), async (c) => {
    const { ticket, window, project_id, ...filter } = c.req.valid("query");
    const parsed = await verifyTailTicket(ticket, signingKey(c.env));
    if (!parsed || (project_id && project_id !== parsed.projectId))
      throw new ApiError("unauthorized", "ticket is unknown, used or expired");
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ApiError("bad_request", "connect with a WebSocket (Upgrade: websocket)");
    }
    return openLiveTail(c.env, c.req.raw, parsed, filter, window);
  });
