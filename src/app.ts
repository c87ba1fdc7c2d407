// The Worker's HTTP surface: every route under /api/v1, every failure in the contract's shape.
import { type Context, Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { routePath } from "hono/route";
import type { AppEnv } from "./app-env";
import { ApiError, errorBody } from "./contract/errors";
import { createDb } from "./db/client";
import { openApiDocument } from "./http/openapi";
import { alertRules, alertsList } from "./routes/alerts";
import { artifacts } from "./routes/artifacts";
import { audit } from "./routes/audit";
import { auth } from "./routes/auth";
import { capsules } from "./routes/capsules";
import { commands } from "./routes/commands";
import { devices, summary } from "./routes/devices";
import { downloads } from "./routes/downloads";
import { fleetDevice } from "./routes/fleet-device";
import { describeService, health } from "./routes/health";
import { keys } from "./routes/keys";
import { logs } from "./routes/logs";
import { loki } from "./routes/loki";
import { me } from "./routes/me";
import { metrics } from "./routes/metrics";
import { orgs } from "./routes/orgs";
import { otlp } from "./routes/otlp";
import { invitations, people } from "./routes/people";
import { projects } from "./routes/projects";
import { sessions } from "./routes/sessions";
import { stats } from "./routes/stats";
import { type ApiCall, recordApiCall } from "./services/api-analytics";
import { deviceHub } from "./stubs/device-hub";

export const app = new Hono<AppEnv>();

// Every answer names its request (X-Request-Id), and the audit log records it.
app.use("*", requestId({ generator: (c) => c.req.header("cf-ray") ?? crypto.randomUUID() }));

/** Every API request: the D1 client, then its analytics record once it has answered. */
const recorded = createMiddleware<AppEnv>(async (c, next) => {
  c.set("db", createDb(c.env.DB));
  const started = Date.now();
  await next();
  await refusedDeviceCall(c);
  recordApiCall(c.env, apiCallOf(c, started), (p) => waitUntil(c, p));
});

/**
 * A device request refused before its object did the work (a bad body, say) is still the
 * device's message and API call: its object counts it now, and says whose it is. Only refused
 * requests pay this second call; the others were authenticated with their work.
 */
async function refusedDeviceCall(c: Context<AppEnv>): Promise<void> {
  const key = c.get("deviceKey");
  if (!key || c.get("device")) return;
  const identity = await deviceHub(c.env, key.deviceId).authenticate(key.keyHash, { alone: true });
  if (identity) c.set("device", identity);
}
app.use("/api/*", recorded);
// OpenTelemetry's OTLP/HTTP path is fixed by its specification: /v1/logs, beside /api/v1.
app.use("/v1/*", recorded);
// Grafana's reads through the Loki API are API calls of the org like any other.
app.use("/loki/*", recorded);

/** Keeps `p` running past the answer; a request made without an execution context just lets it run. */
function waitUntil(c: Context<AppEnv>, p: Promise<unknown>): void {
  try {
    c.executionCtx.waitUntil(p);
  } catch {
    p.catch((err) => console.error(err));
  }
}

/**
 * What the API analytics record of a finished request: route pattern, status, latency, and
 * whose it was. A device's call belongs to its project; an org key's call to the project it
 * named (in the query or the JSON body), once the flush has checked it is the org's.
 */
function apiCallOf(c: Context<AppEnv>, started: number): ApiCall {
  const now = Date.now();
  const call = { orgKey: false, route: routePath(c, -1), status: c.res.status, ms: now - started, at: now };
  const device = c.get("device");
  if (device) return { ...call, scope: { projectId: device.projectId } };
  const org = c.get("org");
  if (!org) return { ...call, scope: null };
  const body = c.get("jsonBody");
  const fromBody = body && typeof body === "object" && "project_id" in body ? String(body.project_id) : undefined;
  return { ...call, orgKey: true, scope: { orgId: org.orgId, named: c.req.query("project_id") ?? fromBody } };
}

const api = new Hono<AppEnv>()
  .route("/", health)
  .get(
    "/openapi.json",
    describeService({ summary: "This document, generated from the routes themselves", auth: "none" }),
    async (c) => c.json(await openApiDocument(app, c.env.PUBLIC_URL || new URL(c.req.url).origin)),
  )
  .route("/orgs", orgs)
  .route("/projects", projects)
  .route("/keys", keys)
  .route("/me", me)
  .route("/capsules", capsules)
  .route("/fleet", fleetDevice)
  .route("/fleet/devices", devices)
  .route("/fleet/summary", summary)
  .route("/fleet/commands", commands)
  .route("/logs", logs)
  .route("/sessions", sessions)
  .route("/sessions", artifacts)
  .route("/downloads", downloads)
  .route("/stats", stats)
  .route("/alert-rules", alertRules)
  .route("/alerts", alertsList)
  .route("/metrics", metrics)
  .route("/audit", audit)
  .route("/auth", auth)
  .route("/people", people)
  .route("/invitations", invitations);

app.route("/api/v1", api);
// Grafana's Loki data source appends /loki/api/v1/… to its URL (docs/grafana.md).
app.route("/loki/api/v1", loki);
app.route("/v1", otlp);

app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404));

app.onError((err, c) => {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.details), err.status, err.headers);
  }
  if (err instanceof HTTPException) {
    // Hono's own failures (for example a body it could not parse) are client errors.
    const status = err.status >= 400 && err.status < 500 ? err.status : 400;
    return c.json(errorBody(status === 413 ? "payload_too_large" : "bad_request", err.message), status);
  }
  console.error(`${c.req.method} ${c.req.path} failed`, err);
  return c.json(errorBody("internal", "internal error"), 500);
});

/** The API's routes as types, for the dashboard's typed client (web/src/api.ts, Hono's hc). */
export type ApiType = typeof api;
