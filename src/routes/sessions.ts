// /sessions: a device opens and ends its runs; people list and read them. Lists come from
// each project's object (an org-wide list asks every project of the org and merges them:
// services/session-records.ts) and are overlaid with the live counters of each device's
// object, so counts are exact.
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { deviceAuth, orgKey } from "../auth/middleware";
import { decodeCursor, page } from "../contract/cursor";
import { ApiError, invalidField, notFound } from "../contract/errors";
import {
  CreateSession,
  EndSession,
  ListSessions,
  SessionParams,
  SessionQuery,
  sessionTaken,
} from "../contract/sessions";
import { describer } from "../http/describe";
import { jsonBody, params, query } from "../http/validate";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { presentSession } from "../services/presenters";
import { listSessions, type SessionRecord } from "../services/session-records";
import { deviceInScope, projectOfOrg, sessionOfOrg } from "../services/tenancy";
import { deviceHub } from "../stubs/device-hub";

const describe = describer("Sessions");
const alreadyEnded = () => new ApiError("conflict", "session already ended as completed");

const CursorShape = z.object({ started_at: z.number(), project_id: z.string(), session_id: z.string() });

const fromRecord = (r: SessionRecord) => ({
  session_id: r.sessionId,
  name: r.name,
  status: r.status,
  started_at: r.startedAt,
  completed_at: r.completedAt,
  total_logs: r.totalLogs,
  error_count: r.errorCount,
  warning_count: r.warningCount,
});

/** Stored sessions with each device's live values laid over them (one call per device on the page). */
async function withLiveCounts(env: Env, records: SessionRecord[]) {
  const byDevice = new Map<string, SessionRecord[]>();
  for (const r of records) byDevice.set(r.deviceId, [...(byDevice.get(r.deviceId) ?? []), r]);
  const live = new Map<string, ReturnType<typeof fromRecord>>();
  await mapLimit([...byDevice], FAN_OUT, async ([deviceId, rows]) => {
    for (const s of await deviceHub(env, deviceId).getSessions(rows.map((r) => r.sessionId)))
      live.set(`${deviceId}/${s.session_id}`, s);
  });
  return records.map((r) =>
    presentSession(
      { projectId: r.projectId, deviceId: r.deviceId },
      live.get(`${r.deviceId}/${r.sessionId}`) ?? fromRecord(r),
    ),
  );
}

export const sessions = new Hono<AppEnv>()
  .post(
    "/",
    describe({
      summary: "Open a session (idempotent on session_id)",
      answers: { 200: "The session, already open", 201: "The session, opened" },
      errors: [sessionTaken],
    }),
    deviceAuth,
    jsonBody(CreateSession),
    async (c) => {
      const body = c.req.valid("json");
      const device = c.var.device;
      const outcome = await deviceHub(c.env, device.deviceId).createSession(
        body.session_id,
        body.name ?? body.session_id,
        body.started_at ?? Date.now(),
      );
      if (!outcome.ok) throw sessionTaken();
      return c.json({ session: presentSession(device, outcome.session) }, outcome.created ? 201 : 200);
    },
  )
  .patch(
    "/:session_id",
    describe({
      summary: "End a session",
      errors: [
        () => notFound("session"),
        () => invalidField("body", "completed_at", "completed_at is before the session's started_at"),
        alreadyEnded,
      ],
    }),
    deviceAuth,
    params(SessionParams),
    jsonBody(EndSession),
    async (c) => {
      const { status, completed_at } = c.req.valid("json");
      const device = c.var.device;
      const outcome = await deviceHub(c.env, device.deviceId).endSession(
        c.req.valid("param").session_id,
        status,
        completed_at,
      );
      if (!outcome.ok) {
        if (outcome.code === "not_found") throw notFound("session");
        if (outcome.code === "before_start")
          throw invalidField("body", "completed_at", "completed_at is before the session's started_at");
        throw new ApiError("conflict", `session already ended as ${outcome.session!.status}`);
      }
      return c.json({ session: presentSession(device, outcome.session) });
    },
  )
  .get(
    "/",
    describe({
      summary: "List sessions",
      description: "Newest first, with each session's live counts; filter by project, device and time.",
      errors: [() => notFound("project"), () => notFound("device")],
    }),
    orgKey("viewer"),
    query(ListSessions),
    async (c) => {
      const q = c.req.valid("query");
      const { db, org } = c.var;
      if (q.project_id) await projectOfOrg(db, org.orgId, q.project_id);
      // A device's sessions are all in its project: only that project's object is asked.
      const projectId = q.device_id
        ? (await deviceInScope(db, org.orgId, q.device_id, q.project_id)).projectId
        : q.project_id;
      const after = decodeCursor(q.cursor, CursorShape);
      const rows = await listSessions(
        c.env,
        db,
        org.orgId,
        { ...q, project_id: projectId },
        {
          after: after && { startedAt: after.started_at, projectId: after.project_id, sessionId: after.session_id },
          limit: q.limit + 1,
        },
      );
      const { items, next_cursor } = page(rows, q.limit, (r) => ({
        started_at: r.startedAt,
        project_id: r.projectId,
        session_id: r.sessionId,
      }));
      return c.json({ sessions: await withLiveCounts(c.env, items), next_cursor });
    },
  )
  .get(
    "/:session_id",
    describe({ summary: "A session with live counts", errors: [() => notFound("session")] }),
    orgKey("viewer"),
    params(SessionParams),
    query(SessionQuery),
    async (c) => {
      const record = await sessionOfOrg(
        c.env,
        c.var.db,
        c.var.org.orgId,
        c.req.valid("param").session_id,
        c.req.valid("query").project_id,
      );
      const [session] = await withLiveCounts(c.env, [record]);
      return c.json({ session });
    },
  );
