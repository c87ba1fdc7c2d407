// The stats API's reads: live usage from the ProjectHubs, and the written days and months
// from D1, for one project or summed over an org. Field names are the contract's.
import type { Tier } from "../contract/tiers";
import { usageLimits } from "../contract/tiers";
import { USAGE_FIELDS, type UsageCounters } from "../contract/usage";
import type { BucketMetric, BucketMinutes } from "../contract/buckets";
import { invalidField, notFound } from "../contract/errors";
import type { TIMESERIES_METRICS } from "../contract/stats";
import type { Db } from "../db/client";
import { countActiveDevices, countLiveDevices, deviceNames } from "../db/repos/devices";
import { listProjects } from "../db/repos/projects";
import { type DailyRow, type MonthlyRow, type StatsScope, projectDays } from "../db/repos/stats";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { iso, utcDay } from "../lib/time";
import type { Ranked } from "../contract/tallies";
import type { ApiRecord } from "../contract/api-records";
import { type Histogram, merge, quantile } from "../contract/latency-histogram";
import { flushApiCalls } from "./api-analytics";
import { orgHub, projectHub } from "../stubs/project-hub";
import { projectOfOrg } from "./tenancy";

type TimeseriesMetric = (typeof TIMESERIES_METRICS)[number];

/** The scope a stats query names, checked against the caller's org: another org's is 404. */
export async function statsScope(db: Db, callerOrgId: string, q: { project_id?: string; org_id?: string }): Promise<StatsScope> {
  if (q.project_id) return { projectId: (await projectOfOrg(db, callerOrgId, q.project_id)).id };
  if (q.org_id !== callerOrgId) throw notFound("org");
  return { orgId: callerOrgId };
}

const zero = (): UsageCounters => Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as UsageCounters;
const add = (a: UsageCounters, b: UsageCounters) => {
  for (const f of USAGE_FIELDS) a[f] += b[f];
  return a;
};

/** Every project id of the org, a page at a time. */
async function projectIdsOf(db: Db, orgId: string): Promise<string[]> {
  const ids: string[] = [];
  for (let afterId: string | undefined; ; ) {
    const page = await listProjects(db, orgId, { afterId, limit: 500 });
    ids.push(...page.map((p) => p.id));
    if (page.length < 500) return ids;
    afterId = page[page.length - 1]!.id;
  }
}

/** A device is active when its last heartbeat is this recent. */
const ACTIVE_MS = 5 * 60_000;

/** GET /stats/usage: this month's counters, today's and lifetime, with the tier's limit beside each. */
export async function liveUsage(env: Env, db: Db, scope: StatsScope, tier: Tier, now: number) {
  await flushApiCalls(env);
  const day = utcDay(now);
  const month = day.slice(0, 7);
  const projectIds = "projectId" in scope ? [scope.projectId] : await projectIdsOf(db, scope.orgId);
  const parts = await mapLimit(projectIds, FAN_OUT, async (id) => {
    const [usage, devices, active] = await Promise.all([
      projectHub(env, id).usage(month, day),
      countLiveDevices(db, id),
      countActiveDevices(db, id, now - ACTIVE_MS),
    ]);
    return { ...usage, devices, active_devices: active };
  });
  const sum = { month: zero(), today: zero(), lifetime: zero(), devices: 0, active_devices: 0, storage_bytes: 0 };
  if ("orgId" in scope) {
    // Calls that touched no project (GET /projects, /keys, /me) are the org's own.
    const own = await orgHub(env, scope.orgId).usage(month, day);
    add(sum.month, own.month);
    add(sum.today, own.today);
    add(sum.lifetime, own.lifetime);
  }
  for (const p of parts) {
    add(sum.month, p.month);
    add(sum.today, p.today);
    add(sum.lifetime, p.lifetime);
    sum.devices += p.devices;
    sum.active_devices += p.active_devices;
    sum.storage_bytes += p.storage_bytes;
  }
  const at = new Date(now);
  return {
    ...("projectId" in scope ? { project_id: scope.projectId } : { org_id: scope.orgId }),
    month,
    tier,
    resets_at: new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)).toISOString(),
    ...sum.month,
    // As the hourly job last counted it in R2 (artifacts and archived logs).
    storage_bytes: sum.storage_bytes,
    devices: sum.devices,
    active_devices: sum.active_devices,
    limits: usageLimits(tier),
    today: { day, ...sum.today },
    lifetime: sum.lifetime,
  };
}

/** A daily_stats row (or an org's sum of one day) as the contract names it. */
export function presentDay(d: {
  date: string;
  projectId?: string;
  logs: number;
  logBytes: number;
  sessions: number;
  heartbeats: number;
  deviceMessagesIn: number;
  deviceMessagesOut: number;
  apiCalls: number;
  commands: number;
  artifactBytes: number;
  storageBytes: number;
  devices: number;
  activeDevices: number;
  errorLines: number;
}) {
  return {
    date: d.date,
    ...(d.projectId ? { project_id: d.projectId } : {}),
    logs: d.logs,
    log_bytes: d.logBytes,
    sessions: d.sessions,
    heartbeats: d.heartbeats,
    device_messages_in: d.deviceMessagesIn,
    device_messages_out: d.deviceMessagesOut,
    api_calls: d.apiCalls,
    commands: d.commands,
    artifact_bytes: d.artifactBytes,
    storage_bytes: d.storageBytes,
    devices: d.devices,
    active_devices: d.activeDevices,
    error_lines: d.errorLines,
    error_rate: d.logs === 0 ? 0 : d.errorLines / d.logs,
  };
}

const presentMonthRow = (m: Omit<MonthlyRow, "orgId" | "createdAt" | "projectId"> & { projectId?: string }) => ({
  month: m.month,
  ...(m.projectId ? { project_id: m.projectId } : {}),
  logs: m.logs,
  log_bytes: m.logBytes,
  sessions: m.sessions,
  heartbeats: m.heartbeats,
  device_messages_in: m.deviceMessagesIn,
  device_messages_out: m.deviceMessagesOut,
  api_calls: m.apiCalls,
  commands: m.commands,
  artifact_bytes: m.artifactBytes,
  error_lines: m.errorLines,
  peak_storage_bytes: m.peakStorageBytes,
  tier: m.tier,
  exceeded_limits: m.exceededLimits,
  overage_charge: { currency: "USD", cents: m.overageCents },
});

/** Monthly rows as the contract names them; for an org, one row per month summed over its projects. */
export function presentMonths(rows: MonthlyRow[], scope: StatsScope) {
  if ("projectId" in scope) return rows.map(presentMonthRow);
  const byMonth = new Map<string, MonthlyRow>();
  for (const r of rows) {
    const m = byMonth.get(r.month);
    if (!m) {
      byMonth.set(r.month, { ...r, exceededLimits: [...r.exceededLimits] });
      continue;
    }
    for (const k of ["logs", "logBytes", "sessions", "heartbeats", "deviceMessagesIn", "deviceMessagesOut", "apiCalls", "commands", "artifactBytes", "errorLines", "peakStorageBytes", "overageCents"] as const) {
      m[k] += r[k];
    }
    m.exceededLimits = [...new Set([...m.exceededLimits, ...r.exceededLimits])];
  }
  return [...byMonth.values()].map(({ projectId: _p, ...m }) => presentMonthRow(m));
}

const STEP_MS = { "1m": 60_000, "5m": 300_000, "15m": 900_000, "60m": 3_600_000, "1d": 86_400_000 } as const;
type Interval = keyof typeof STEP_MS;
/** A series answers at most this many points (400 past it: ask for a shorter range or a wider interval). */
const MAX_POINTS = 1_500;
const DEFAULT_POINTS = 60;

const LEVEL_METRICS = ["logs_debug", "logs_info", "logs_warn", "logs_error", "logs_fatal"] as const;
const bucketMetricsOf = (metric: TimeseriesMetric): BucketMetric[] =>
  metric === "logs" ? [...LEVEL_METRICS] : metric === "errors" ? ["logs_error", "logs_fatal"] : [metric];
/** The daily_stats column of each metric a day row holds; per-level lines come from hourly buckets. */
const DAY_COLUMN: Partial<Record<TimeseriesMetric, keyof DailyRow>> = {
  logs: "logs",
  errors: "errorLines",
  heartbeats: "heartbeats",
  device_messages_in: "deviceMessagesIn",
  device_messages_out: "deviceMessagesOut",
  api_calls: "apiCalls",
};

/**
 * GET /stats/timeseries: one point per interval from `from` to `to` (aligned down to the
 * interval; both default to the last 60 intervals up to now), zero where nothing was counted.
 * Minute and hour intervals read the project's buckets (by event time for lines). `1d` reads
 * the daily rows (by day of receipt, only days the daily job has written), except per-level
 * lines, which sum the hourly buckets by UTC day.
 */
export async function timeseries(
  env: Env,
  db: Db,
  projectId: string,
  q: { metric: TimeseriesMetric; interval: Interval; from?: string; to?: string },
  now: number,
) {
  const step = STEP_MS[q.interval];
  const down = (ms: number) => ms - (ms % step);
  const to = q.to ? down(Date.parse(q.to) + step - 1) : down(now) + step;
  const from = q.from ? down(Date.parse(q.from)) : to - DEFAULT_POINTS * step;
  if ((to - from) / step > MAX_POINTS) {
    throw invalidField("query", "from", `at most ${MAX_POINTS} points at once: shorten the range or widen the interval`, "too_many_points");
  }
  const values = new Map<number, number>();
  const column = DAY_COLUMN[q.metric];
  if (q.interval === "1d" && column) {
    for (const d of await projectDays(db, projectId, utcDay(from), utcDay(to - 1))) values.set(Date.parse(d.date), d[column] as number);
  } else {
    const minutes = q.interval === "1d" ? 60 : (Number(q.interval.slice(0, -1)) as BucketMinutes);
    for (const b of await projectHub(env, projectId).series(minutes, bucketMetricsOf(q.metric), from, to)) {
      const at = down(b.start);
      values.set(at, (values.get(at) ?? 0) + b.n);
    }
  }
  const points = [];
  for (let t = from; t < to; t += step) points.push({ t: iso(t), value: values.get(t) ?? 0 });
  return { metric: q.metric, interval: q.interval, points };
}

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
  return { count, errors: clientErrors + serverErrors, client_errors: clientErrors, server_errors: serverErrors, p50_ms: ms(0.5), p95_ms: ms(0.95), p99_ms: ms(0.99) };
}

/**
 * GET /stats/api: per hour of the last `days` days, and per route over them, request counts,
 * errors and latency p50/p95/p99. An org's answer merges its projects' and its own.
 */
export async function apiStats(env: Env, db: Db, scope: StatsScope, days: number, now: number) {
  await flushApiCalls(env);
  const toHour = Math.floor(now / HOUR_MS);
  const fromHour = toHour - days * 24 + 1;
  const hubs = "projectId" in scope ? [projectHub(env, scope.projectId)] : [orgHub(env, scope.orgId), ...(await projectIdsOf(db, scope.orgId)).map((id) => projectHub(env, id))];
  const records = (await mapLimit(hubs, FAN_OUT, (hub) => hub.apiHours(fromHour, toHour))).flat();
  const group = (key: (r: ApiRecord) => string | number) => {
    const groups = new Map<string | number, ApiRecord[]>();
    for (const r of records) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
    return groups;
  };
  return {
    ...("projectId" in scope ? { project_id: scope.projectId } : { org_id: scope.orgId }),
    from: iso(fromHour * HOUR_MS),
    hours: [...group((r) => r.hour)].sort((a, b) => Number(a[0]) - Number(b[0])).map(([hour, rs]) => ({ hour: iso(Number(hour) * HOUR_MS), ...summarise(rs) })),
    routes: [...group((r) => r.route)].map(([route, rs]) => ({ route, ...summarise(rs) })).sort((a, b) => b.count - a.count),
  };
}

const TOP = 10;

/** Merges rankings from several projects: sums by key, then the top TOP by `by`. */
function mergeRanked(lists: Ranked[][], by: "lines" | "errors"): Ranked[] {
  const sums = new Map<string, Ranked>();
  for (const r of lists.flat()) {
    const s = sums.get(r.key) ?? { key: r.key, lines: 0, errors: 0 };
    s.lines += r.lines;
    s.errors += r.errors;
    sums.set(r.key, s);
  }
  return [...sums.values()].sort((a, b) => b[by] - a[by] || a.key.localeCompare(b.key)).slice(0, TOP);
}

/**
 * GET /stats/overview: the last `days` UTC days (today included) by day of receipt: totals,
 * error rate, and the top devices and modules by lines and by errors. An org merges each
 * project's top lists (so a module's rank across projects is from their tops).
 */
export async function overview(env: Env, db: Db, scope: StatsScope, orgId: string, days: number, now: number) {
  await flushApiCalls(env);
  const to = utcDay(now);
  const from = utcDay(now - (days - 1) * 86_400_000);
  const ids = "projectId" in scope ? [scope.projectId] : await projectIdsOf(db, scope.orgId);
  const parts = await mapLimit(ids, FAN_OUT, (id) => projectHub(env, id).overview(from, to, TOP));
  const totals = zero();
  for (const p of parts) add(totals, p.totals);
  const byLines = mergeRanked(parts.map((p) => p.devices_by_lines), "lines");
  const byErrors = mergeRanked(parts.map((p) => p.devices_by_errors), "errors");
  const names = await deviceNames(db, orgId, [...new Set([...byLines, ...byErrors].map((d) => d.key))]);
  const device = (d: Ranked) => ({ device_id: d.key, name: names.get(d.key) ?? null, lines: d.lines, errors: d.errors });
  const module = (m: Ranked) => ({ module: m.key, lines: m.lines, errors: m.errors });
  return {
    ...("projectId" in scope ? { project_id: scope.projectId } : { org_id: scope.orgId }),
    from,
    to,
    totals,
    error_rate: totals.logs === 0 ? 0 : totals.error_lines / totals.logs,
    top_devices: { by_lines: byLines.map(device), by_errors: byErrors.map(device) },
    top_modules: {
      by_lines: mergeRanked(parts.map((p) => p.modules_by_lines), "lines").map(module),
      by_errors: mergeRanked(parts.map((p) => p.modules_by_errors), "errors").map(module),
    },
  };
}

/**
 * GET /stats/errors: ERROR and FATAL lines over time (the `errors` series), and over the
 * range's UTC days, the modules with the most of them and the most repeated messages (grouped
 * by shape: numbers and long hex ids folded to `#`).
 */
export async function errorStats(
  env: Env,
  db: Db,
  projectId: string,
  q: { interval: Interval; from?: string; to?: string },
  now: number,
) {
  const series = await timeseries(env, db, projectId, { ...q, metric: "errors" }, now);
  const first = series.points[0]?.t ?? iso(now);
  const last = series.points.at(-1)?.t ?? iso(now);
  const tops = await projectHub(env, projectId).topErrors(first.slice(0, 10), last.slice(0, 10), TOP);
  return {
    project_id: projectId,
    interval: q.interval,
    points: series.points,
    total: series.points.reduce((n, p) => n + p.value, 0),
    top_modules: tops.modules.map((m) => ({ module: m.key, errors: m.errors })),
    top_messages: tops.messages.map((m) => ({ message: m.key, count: m.errors })),
  };
}
