// /audit: the org's audit log for its admins, a page at a time or as one file (NDJSON or CSV,
// written page by page as the log export is, with the same formula-safe CSV cells).
import { type Context, Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { orgKey, serverAdmin } from "../auth/middleware";
import {
  type AuditEvent,
  AuditExport,
  type AuditFilter,
  AuditQuery,
  CSV_AUDIT_COLUMNS,
  DEPLOYMENT_LOG,
} from "../contract/audit";
import { decodeCursor, encodeCursor } from "../contract/cursor";
import { FILE_ANSWER_HEADERS } from "../contract/downloads";
import { invalidField, notFound } from "../contract/errors";
import { describer } from "../http/describe";
import { query } from "../http/validate";
import { attachmentDisposition, csvCell } from "../services/export-format";
import { orgHub } from "../stubs/project-hub";

const Before = z.object({ before: z.number().int().nonnegative() });
const describe = describer("Audit");
const EXPORT_PAGE = 200;

/** The filters of a query, checked against the caller's org: another org's id is 404, as for any of its resources. */
function filterOf(callerOrg: string | undefined, q: Omit<AuditQuery, "limit" | "cursor">): AuditFilter {
  const { org_id, ...filter } = q;
  if (org_id !== undefined && callerOrg !== undefined && org_id !== callerOrg) throw notFound("org");
  if (filter.from !== undefined && filter.to !== undefined && filter.from > filter.to)
    throw invalidField("query", "from", "from must not be after to");
  return filter;
}

function csvRow(e: AuditEvent): string {
  const cells: Record<(typeof CSV_AUDIT_COLUMNS)[number], string | null> = {
    id: e.id,
    at: e.at,
    actor_kind: e.actor.kind,
    actor_id: e.actor.id,
    actor_label: e.actor.label,
    role: e.actor.role ?? null,
    action: e.action,
    target_kind: e.target.kind,
    target_id: e.target.id,
    target_label: e.target.label ?? null,
    project_id: e.project_id ?? null,
    summary: JSON.stringify(e.summary),
    ip: e.ip ?? null,
    user_agent: e.user_agent ?? null,
    request_id: e.request_id,
  };
  return `${CSV_AUDIT_COLUMNS.map((c) => csvCell(cells[c])).join(",")}\r\n`;
}

/** A page of the log `logName` (an org's id, or the deployment's), answered as the events are kept. */
async function page<E extends AppEnv>(
  c: Context<E>,
  logName: string,
  filter: AuditFilter,
  limit: number,
  cursor: string | undefined,
) {
  const before = decodeCursor(cursor, Before)?.before;
  const { events, next } = await orgHub(c.env, logName).auditPage(
    { ...filter, ...(before !== undefined ? { before } : {}) },
    limit,
  );
  // The events are JSON already, as the log keeps them.
  const nextCursor = next === null ? null : encodeCursor({ before: next });
  return c.body(`{"events":[${events.join(",")}],"next_cursor":${JSON.stringify(nextCursor)}}`, 200, {
    "content-type": "application/json",
  });
}

export const audit = new Hono<AppEnv>()
  .get(
    "/",
    describe({
      summary: "The org's audit log, newest first, filtered and paged",
      errors: [() => notFound("org"), () => invalidField("query", "from", "from must not be after to")],
    }),
    orgKey("admin"),
    query(AuditQuery),
    async (c) => {
      const { limit, cursor, ...q } = c.req.valid("query");
      return page(c, c.var.org.orgId, filterOf(c.var.org.orgId, q), limit, cursor);
    },
  )
  // Failed sign-ins that named no org: the deployment's, for the server admin.
  .get(
    "/deployment",
    describe({ summary: "The deployment's own audit log: failed sign-ins that named no org" }),
    serverAdmin,
    query(AuditQuery),
    async (c) => {
      const { limit, cursor, ...q } = c.req.valid("query");
      return page(c, DEPLOYMENT_LOG, filterOf(undefined, q), limit, cursor);
    },
  )
  .get(
    "/export",
    describe({
      summary: "The org's audit log as one NDJSON or CSV file",
      description: "Streamed, page by page; CSV cells are kept from being read as formulas.",
      media: "application/x-ndjson",
      errors: [() => notFound("org")],
    }),
    orgKey("admin"),
    query(AuditExport),
    async (c) => {
      const { format, ...q } = c.req.valid("query");
      const filter = filterOf(c.var.org.orgId, q);
      const hub = orgHub(c.env, c.var.org.orgId);
      const encoder = new TextEncoder();
      let before: number | undefined;
      let done = false;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          if (format === "csv") controller.enqueue(encoder.encode(`${CSV_AUDIT_COLUMNS.join(",")}\r\n`));
        },
        // Pull-based: the next page is read only when the client has taken the last.
        async pull(controller) {
          if (done) return;
          const { events, next } = await hub.auditPage(
            { ...filter, ...(before !== undefined ? { before } : {}) },
            EXPORT_PAGE,
          );
          const text = events.map((e) => (format === "csv" ? csvRow(JSON.parse(e) as AuditEvent) : `${e}\n`)).join("");
          if (text) controller.enqueue(encoder.encode(text));
          done = next === null;
          before = next ?? undefined;
          if (done) controller.close();
        },
      });
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "");
      return new Response(body, {
        headers: {
          ...FILE_ANSWER_HEADERS,
          "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
          "content-disposition": attachmentDisposition(`fleetbeat-audit-${c.var.org.orgId}-${stamp}.${format}`),
          "cache-control": "no-store",
        },
      });
    },
  );
