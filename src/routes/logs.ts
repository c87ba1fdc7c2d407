// /logs: ingest (device), search and export (org keys), and the live tail.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { deviceAuth, orgKey } from "../auth/middleware";
import { readJson } from "../http/body";
import { ApiError } from "../http/errors";
import { DEFAULT_BODY_LIMIT, parseOrThrow, query } from "../http/validate";
import { newSecret } from "../lib/crypto";
import { iso } from "../lib/time";
import { hotWindowMs } from "../limits";
import { EXPORT_TYPES, exportWriters } from "../logs/export-format";
import { readIngestBody } from "../logs/ingest-body";
import { validateLines } from "../logs/line";
import { deviceHub } from "../services/device-hub";
import { searchLogs, searchScope } from "../services/log-search";
import { projectHub } from "../services/project-hub";
import { projectOfOrg } from "../services/tenancy";
import { LogExport, LogSearch, StreamQuery, TicketRequest } from "../schemas/logs";

const TICKET_PREFIX = "fbt";
const EXPORT_PAGE = 1000;

export const logs = new Hono<AppEnv>()
  .post("/ingest", deviceAuth, async (c) => {
    const envelope = await readIngestBody(c.req.raw);
    const nowUs = Date.now() * 1000;
    const { lines, rejected } = validateLines(envelope.logs, nowUs, nowUs - hotWindowMs(c.env) * 1000);
    const answer = await deviceHub(c.env, c.var.device.deviceId).ingest({ ...envelope, lines, rejected });
    return c.json(answer);
  })
  .get("/", orgKey("viewer"), query(LogSearch), async (c) => {
    const q = c.req.valid("query");
    const deviceIds = await searchScope(c.var.db, c.var.org.orgId, q);
    return c.json(await searchLogs(c.env, deviceIds, q));
  })
  .get("/export", orgKey("viewer"), query(LogExport), async (c) => {
    const { format, ...filters } = c.req.valid("query");
    const deviceIds = await searchScope(c.var.db, c.var.org.orgId, filters);
    const writer = exportWriters[format];
    const encoder = new TextEncoder();
    let cursor: string | undefined;
    let first = true;
    let done = false;
    // Pull-based: the next page is read only when the client has taken the previous one.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (writer.head) controller.enqueue(encoder.encode(writer.head));
      },
      async pull(controller) {
        if (done) return;
        const page = await searchLogs(c.env, deviceIds, { ...filters, limit: EXPORT_PAGE, cursor });
        let chunk = "";
        for (const line of page.logs) {
          chunk += writer.row(line, first);
          first = false;
        }
        if (page.next_cursor === null) {
          chunk += writer.tail;
          done = true;
        }
        if (chunk) controller.enqueue(encoder.encode(chunk));
        if (done) controller.close();
        cursor = page.next_cursor ?? undefined;
      },
    });
    const scope = filters.device_id ?? filters.session_id ?? filters.project_id;
    const name = `fleetbeat-logs-${scope}-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "")}.${format}`;
    return new Response(body, {
      headers: {
        "content-type": EXPORT_TYPES[format],
        "content-disposition": `attachment; filename="${name}"`,
        "cache-control": "no-store",
      },
    });
  })
  .post("/stream/ticket", orgKey("viewer"), async (c) => {
    const fromBody = c.req.raw.body ? await readJson(c.req.raw, DEFAULT_BODY_LIMIT) : {};
    const { project_id } = parseOrThrow(TicketRequest, { ...(fromBody as object), ...c.req.query() }, "body");
    await projectOfOrg(c.var.db, c.var.org.orgId, project_id);
    const secret = newSecret(TICKET_PREFIX);
    const expiresAt = await projectHub(c.env, project_id).mintTicket(secret);
    // The ticket names its project so the stream request can find the right object.
    return c.json({ ticket: `${project_id}.${secret}`, expires_at: iso(expiresAt), project_id });
  })
  .get("/stream", query(StreamQuery), async (c) => {
    const { ticket, window, project_id, ...filter } = c.req.valid("query");
    const dot = ticket.indexOf(".");
    const ticketProject = dot > 0 ? ticket.slice(0, dot) : "";
    if (!/^prj_[0-9A-HJKMNP-TV-Z]{26}$/.test(ticketProject) || (project_id && project_id !== ticketProject)) {
      throw new ApiError("unauthorized", "ticket is unknown, used or expired");
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ApiError("bad_request", "connect with a WebSocket (Upgrade: websocket)");
    }
    const url = new URL(c.req.url);
    url.search = new URLSearchParams({ ticket: ticket.slice(dot + 1), ...(window ? { window: String(window) } : {}) }).toString();
    const headers = new Headers(c.req.raw.headers);
    headers.set("x-tail-filter", JSON.stringify(filter));
    return projectHub(c.env, ticketProject).fetch(new Request(url, { headers }));
  });
