// /loki/api/v1: a Loki-compatible read API, so Grafana's own Loki data source (pointed at
// fleetbeat with an org key and X-Scope-OrgID: <project id>) shows and live-tails fleet logs.
// Answers are in Loki's shapes; errors carry Loki's `message` (what Grafana shows) next to the
// contract's `error: {code, message}`. LogQL is parsed with Grafana's grammar
// (src/contract/logql-parse.ts); what runs is in docs/grafana.md.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../app-env";
import { lokiOrgKey, scopeProject } from "../auth/loki";
import { ApiError, errorBody } from "../contract/errors";
import {
  isHealthCheckQuery,
  LokiDetectedFieldsParams,
  LokiLabelParams,
  LokiQueryParams,
  LokiTailParams,
  LokiVolumeParams,
  metricStepUs,
} from "../contract/logql";
import { parseLogQuery, parseQuery } from "../contract/logql-parse";
import {
  LokiDetectedFieldValuesParams,
  LokiDetectedLabelsParams,
  LokiPatternsParams,
  LokiStatsParams,
} from "../contract/loki-index-params";
import { parseOrThrow } from "../contract/validation";
import { lokiLabelNames, lokiLabelValues, lokiQuery, lokiSeries, openLokiTail } from "../services/loki";
import { lokiDetectedFields, lokiDetectedFieldValues, lokiVolume, metricResult } from "../services/loki-index";
import { defaultStepUs, lokiMetric } from "../services/loki-metrics";
import { lokiDetectedLabels, lokiIndexStats } from "../services/loki-streams";

const HOUR_US = 3_600_000_000;
/** Loki's defaults: queries look back an hour, label lookups six. */
const QUERY_SINCE_US = HOUR_US;
const LABELS_SINCE_US = 6 * HOUR_US;
/** An instant log query reads the hour before its time. */
const INSTANT_WINDOW_US = HOUR_US;
/**
 * The Loki version status/buildinfo reports: Grafana's Loki data source and Logs Drilldown turn on
 * what newer Loki versions have (index/volume, detected_fields) by the version they read there.
 */
const LOKI_VERSION = "3.4.0";

const nowUs = () => Date.now() * 1000;
/** A selector for every line of the project, for the endpoints where Grafana leaves `{}` out. */
const ALL_LINES = "{}";

/** [from, to) in µs from Loki's start, end and since. */
function rangeOf(p: { start?: number; end?: number; since?: number }, defaultSince: number) {
  const to = p.end ?? nowUs();
  const from = p.start ?? Math.max(0, to - (p.since ?? defaultSince));
  if (to < from) throw new ApiError("bad_request", "end timestamp must not be before start time");
  return { from, to };
}

const success = (data: unknown, warning?: string) => ({
  status: "success",
  data,
  ...(warning ? { warnings: [warning] } : {}),
});

export const loki = new Hono<AppEnv>()
  // Loki answers its build info without a tenant; it names no data.
  .get("/status/buildinfo", (c) =>
    c.json({
      version: LOKI_VERSION,
      revision: "fleetbeat",
      branch: "",
      buildUser: "",
      buildDate: "",
      goVersion: "",
    }),
  )
  .use(lokiOrgKey)
  .get("/labels", async (c) => {
    await scopeProject(c);
    parseOrThrow(LokiLabelParams, c.req.query(), "query");
    return c.json(success(lokiLabelNames()));
  })
  .get("/label/:name/values", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiLabelParams, c.req.query(), "query");
    const selector = p.query ? parseLogQuery(p.query) : null;
    return c.json(
      success(
        await lokiLabelValues(c.env, c.var.db, project, c.req.param("name"), rangeOf(p, LABELS_SINCE_US), selector),
      ),
    );
  })
  .get("/series", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiLabelParams, c.req.query(), "query");
    const selectors = [...(c.req.queries("match[]") ?? []), ...(c.req.queries("match") ?? [])];
    if (selectors.length === 0) throw new ApiError("bad_request", "match[] (a stream selector) is required");
    if (selectors.length > 10) throw new ApiError("bad_request", "at most 10 match[] selectors");
    const queries = selectors.map(parseLogQuery);
    return c.json(
      success(await lokiSeries(c.env, c.var.db, c.var.org.orgId, project, queries, rangeOf(p, LABELS_SINCE_US))),
    );
  })
  .get("/query_range", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiQueryParams, c.req.query(), "query");
    const q = parseQuery(p.query);
    const range = rangeOf(p, QUERY_SINCE_US);
    if (q.kind === "metric") {
      const step = metricStepUs(p.step) ?? defaultStepUs(range.from, range.to);
      const grid = { start: range.from, end: range.to, step };
      const answer = await lokiMetric(c.env, c.var.db, c.var.org.orgId, project, q.metric, grid);
      return c.json(success(metricResult(answer.series, false), answer.warning));
    }
    const answer = await lokiQuery(c.env, c.var.db, c.var.org.orgId, project, q.log, {
      ...range,
      limit: p.limit,
      direction: p.direction,
    });
    return c.json(success({ resultType: "streams", result: answer.streams }, answer.warning));
  })
  .get("/query", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiQueryParams, c.req.query(), "query");
    const at = p.time ?? nowUs();
    // Grafana's "Save & test" runs this metric query and expects the vector 2.
    if (isHealthCheckQuery(p.query)) {
      return c.json(success({ resultType: "vector", result: [{ metric: {}, value: [at / 1e6, "2"] }] }));
    }
    const q = parseQuery(p.query);
    if (q.kind === "metric") {
      const answer = await lokiMetric(c.env, c.var.db, c.var.org.orgId, project, q.metric, {
        start: at,
        end: at,
        step: 1,
      });
      return c.json(success(metricResult(answer.series, true), answer.warning));
    }
    const range = { from: Math.max(0, at - INSTANT_WINDOW_US), to: at + 1 };
    const answer = await lokiQuery(c.env, c.var.db, c.var.org.orgId, project, q.log, {
      ...range,
      limit: p.limit,
      direction: p.direction,
    });
    return c.json(success({ resultType: "streams", result: answer.streams }, answer.warning));
  })
  .get("/index/volume", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiVolumeParams, c.req.query(), "query");
    const answer = await lokiVolume(c.env, c.var.db, c.var.org.orgId, project, parseLogQuery(p.query), {
      ...rangeOf(p, QUERY_SINCE_US),
      limit: p.limit,
      targetLabels: p.targetLabels,
      aggregateBy: p.aggregateBy,
    });
    return c.json(success(answer.result, answer.warning));
  })
  .get("/index/volume_range", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiVolumeParams, c.req.query(), "query");
    const range = rangeOf(p, QUERY_SINCE_US);
    const answer = await lokiVolume(c.env, c.var.db, c.var.org.orgId, project, parseLogQuery(p.query), {
      ...range,
      step: p.step ?? defaultStepUs(range.from, range.to),
      limit: p.limit,
      targetLabels: p.targetLabels,
      aggregateBy: p.aggregateBy,
    });
    return c.json(success(answer.result, answer.warning));
  })
  .get("/detected_fields", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiDetectedFieldsParams, c.req.query(), "query");
    const range = rangeOf(p, QUERY_SINCE_US);
    // Loki answers this one bare, not in {status, data}.
    return c.json(
      await lokiDetectedFields(c.env, c.var.db, c.var.org.orgId, project, parseLogQuery(p.query), {
        ...range,
        lineLimit: p.line_limit,
        limit: p.limit,
      }),
    );
  })
  .get("/detected_field/:name/values", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiDetectedFieldValuesParams, c.req.query(), "query");
    const range = rangeOf(p, QUERY_SINCE_US);
    // Bare, as detected_fields: {"values": […], "limit": n}.
    return c.json(
      await lokiDetectedFieldValues(
        c.env,
        c.var.db,
        c.var.org.orgId,
        project,
        parseLogQuery(p.query ?? ALL_LINES),
        c.req.param("name"),
        { ...range, lineLimit: p.line_limit, limit: p.limit },
      ),
    );
  })
  .get("/index/stats", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiStatsParams, c.req.query(), "query");
    // Bare: {"streams", "chunks", "entries", "bytes"}.
    return c.json(
      await lokiIndexStats(
        c.env,
        c.var.db,
        c.var.org.orgId,
        project,
        parseLogQuery(p.query),
        rangeOf(p, QUERY_SINCE_US),
      ),
    );
  })
  .get("/detected_labels", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiDetectedLabelsParams, c.req.query(), "query");
    // Bare: {"detectedLabels": [{"label", "cardinality"}]}.
    return c.json(
      await lokiDetectedLabels(
        c.env,
        c.var.db,
        c.var.org.orgId,
        project,
        parseLogQuery(p.query ?? ALL_LINES),
        rangeOf(p, QUERY_SINCE_US),
      ),
    );
  })
  // fleetbeat mines no patterns. Loki without a pattern store answers an empty list (its
  // PatternsHandler), which Logs Drilldown shows as no patterns; a 404 would be an error toast.
  .get("/patterns", async (c) => {
    await scopeProject(c);
    const p = parseOrThrow(LokiPatternsParams, c.req.query(), "query");
    if (p.query !== undefined) parseLogQuery(p.query);
    rangeOf(p, QUERY_SINCE_US);
    return c.json(success([]));
  })
  .get("/tail", async (c) => {
    const project = await scopeProject(c);
    const p = parseOrThrow(LokiTailParams, c.req.query(), "query");
    const q = parseLogQuery(p.query);
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ApiError("bad_request", "connect with a WebSocket (Upgrade: websocket)");
    }
    const start = p.start ?? nowUs() - HOUR_US;
    return openLokiTail(c.env, c.var.db, { orgId: c.var.org.orgId, keyId: c.var.org.keyId }, project, q, {
      start,
      limit: p.limit,
    });
  });

// Loki's error shape as Grafana reads it (`message`), with the contract's `error` beside it.
loki.onError((err, c) => {
  let e: ApiError;
  if (err instanceof ApiError) e = err;
  else if (err instanceof HTTPException && err.status >= 400 && err.status < 500)
    e = new ApiError("bad_request", err.message);
  else {
    console.error(`${c.req.method} ${c.req.path} failed`, err);
    e = new ApiError("internal", "internal error");
  }
  return c.json({ status: "error", message: e.message, ...errorBody(e.code, e.message, e.details) }, e.status);
});
