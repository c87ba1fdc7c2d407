// GET /stats/api: request counts, errors and latency percentiles per hour and per route, from
// the hourly histograms the ProjectHubs keep (src/services/api-analytics.ts records them).
import type { ApiRecord } from "../contract/api-records";
import { type Histogram, merge, quantile } from "../contract/latency-histogram";
import type { Db } from "../db/client";
import type { StatsScope } from "../db/repos/stats";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { iso } from "../lib/time";
import { orgHub, projectHub } from "../stubs/project-hub";
import { flushApiCalls } from "./api-analytics";
import { projectIdsOf } from "./stats-scope";

const HOUR_MS = 3_600_000;

/** Counts, errors and latency percentiles of a set of API records merged together. */
function summarise(records: ApiRecord[]) {
  const hist: Histogram = {};
  let count = 0;
  let clientErrors = 0;
  let serverErrors = 0;
  for (const r of records) {
    merge(hist, r.hist);
    count += r.count;
    if (r.status_class === "4xx") clientErrors += r.count;
    if (r.status_class === "5xx") serverErrors += r.count;
  }
  const ms = (p: number) => {
    const q = quantile(hist, p);
    return q === null ? null : Math.round(q * 10) / 10;
  };
  return {
    count,
    errors: clientErrors + serverErrors,
    client_errors: clientErrors,
    server_errors: serverErrors,
    p50_ms: ms(0.5),
    p95_ms: ms(0.95),
    p99_ms: ms(0.99),
  };
}

/**
 * GET /stats/api: per hour of the last `days` days, and per route over them, request counts,
 * errors and latency p50/p95/p99. An org's answer merges its projects' and its own.
 */
export async function apiStats(env: Env, db: Db, scope: StatsScope, days: number, now: number) {
  await flushApiCalls(env);
  const toHour = Math.floor(now / HOUR_MS);
  const fromHour = toHour - days * 24 + 1;
  const hubs =
    "projectId" in scope
      ? [projectHub(env, scope.projectId)]
      : [orgHub(env, scope.orgId), ...(await projectIdsOf(db, scope.orgId)).map((id) => projectHub(env, id))];
  const records = (await mapLimit(hubs, FAN_OUT, (hub) => hub.apiHours(fromHour, toHour))).flat();
  const group = (key: (r: ApiRecord) => string | number) => {
    const groups = new Map<string | number, ApiRecord[]>();
    for (const r of records) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
    return groups;
  };
  return {
    ...("projectId" in scope ? { project_id: scope.projectId } : { org_id: scope.orgId }),
    from: iso(fromHour * HOUR_MS),
    hours: [...group((r) => r.hour)]
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([hour, rs]) => ({ hour: iso(Number(hour) * HOUR_MS), ...summarise(rs) })),
    routes: [...group((r) => r.route)]
      .map(([route, rs]) => ({ route, ...summarise(rs) }))
      .sort((a, b) => b.count - a.count),
  };
}
