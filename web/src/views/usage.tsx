// Usage: this month's counters in human units (GiB, 1.2k) beside today's and the tier's limits,
// with the share of each limit used; lines per bucket today, stacked by level; lines per day
// this month (the days the daily job wrote, and today's live count from /stats/usage); lines
// per month; the week's top devices (by name, linked) and modules (linked to their lines); and
// API latency percentiles.
import { useState } from "preact/hooks";
import { api, ok } from "../api";
import { bytes, count, share, when } from "../format";
import { TimeChart } from "./chart";
import { Empty, Failure, Ranking } from "./parts";
import { Table } from "./table";
import { usePoll } from "./use-poll";

/** The counters of GET /stats/usage, in the order shown; `bytes` ones read as KiB, MiB, GiB. */
const COUNTERS = [
  ["logs", "Log lines"],
  ["log_bytes", "Log bytes"],
  ["error_lines", "Error lines"],
  ["sessions", "Sessions"],
  ["heartbeats", "Heartbeats"],
  ["device_messages_in", "Device messages in"],
  ["device_messages_out", "Device messages out"],
  ["api_calls", "API calls"],
  ["commands", "Commands"],
  ["artifact_bytes", "File bytes uploaded"],
  ["storage_bytes", "Storage"],
  ["devices", "Devices"],
  ["active_devices", "Active devices"],
] as const;
type Counter = (typeof COUNTERS)[number][0];
/** Counters that are a level now, not a sum over the month: no "today" figure. */
const LEVELS = new Set<Counter>(["storage_bytes", "devices", "active_devices"]);
const human = (key: string, n: number | null | undefined) => (key.endsWith("_bytes") ? bytes(n) : count(n));

type Figures = Partial<Record<Counter, number>>;
type UsageAnswer = Figures & {
  month: string;
  tier: string;
  resets_at?: string;
  limits: Partial<Record<Counter, number | null>>;
  today?: Figures & { day: string };
};
type Ranked = { lines: number; errors: number };
interface Overview {
  top_devices: { by_lines: (Ranked & { device_id: string; name: string | null })[] };
  top_modules: { by_lines: (Ranked & { module: string })[] };
  error_rate: number;
}
interface Month {
  month: string;
  logs: number;
  log_bytes: number;
  peak_storage_bytes: number;
  exceeded_limits: string[];
  overage_charge: { currency: string; cents: number };
}
interface Day {
  date: string;
  logs: number;
  error_lines: number;
}
interface ApiRoute {
  route: string;
  count: number;
  errors: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}
type Points = { t: string; value: number }[];

const BUCKETS = [
  ["1m", "1 min"],
  ["5m", "5 min"],
  ["15m", "15 min"],
  ["60m", "1 h"],
] as const;
type Bucket = (typeof BUCKETS)[number][0];
const BUCKET_MS: Record<Bucket, number> = { "1m": 60_000, "5m": 300_000, "15m": 900_000, "60m": 3_600_000 };
const LEVEL_SERIES = [
  ["logs_debug", "DEBUG", "--level-debug"],
  ["logs_info", "INFO", "--level-info"],
  ["logs_warn", "WARN", "--level-warn"],
  ["logs_error", "ERROR", "--level-error"],
  ["logs_fatal", "FATAL", "--level-fatal"],
] as const;
const DAY_MS = 86_400_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(n >= 10_000 ? 0 : 1)} s` : `${Math.round(n)} ms`);

export function Usage(props: { projectId: string }) {
  const project_id = props.projectId;
  const { data, error } = usePoll(
    async () => (await ok(await api.stats.usage.$get({ query: { project_id } }))) as UsageAnswer,
    [project_id],
    30_000,
  );
  const [bucket, setBucket] = useState<Bucket>("15m");

  // Today since the viewer's midnight, per level: one read per level, summed into stacked bars.
  const { data: today } = usePoll(
    async () => {
      const midnight = new Date();
      midnight.setHours(0, 0, 0, 0);
      const from = midnight.toISOString();
      const to = new Date().toISOString();
      const levels = await Promise.all(
        LEVEL_SERIES.map(
          async ([metric]) =>
            (
              (await ok(
                await api.stats.timeseries.$get({ query: { project_id, metric, interval: bucket, from, to } }),
              )) as { points: Points }
            ).points,
        ),
      );
      // One empty bucket past the last, so the last bar (drawn from its time onwards) shows in full.
      const times = levels[0]!.map((p) => Date.parse(p.t));
      return {
        times: [...times, (times.at(-1) ?? Date.now()) + BUCKET_MS[bucket]],
        levels: levels.map((ps) => [...ps.map((p) => p.value), null]),
      };
    },
    [project_id, bucket],
    60_000,
  );

  // This month's days as the daily job wrote them (up to yesterday, UTC), then today's live figures.
  const { data: days } = usePoll(
    async () => {
      const now = Date.now();
      const first = `${utcDay(now).slice(0, 7)}-01`;
      const yesterday = utcDay(now - DAY_MS);
      if (yesterday < first) return [] as Day[];
      return (
        (await ok(await api.stats.daily.$get({ query: { project_id, from: first, to: yesterday } }))) as { days: Day[] }
      ).days;
    },
    [project_id],
    300_000,
  );
  const { data: months } = usePoll(
    async () => ((await ok(await api.stats.monthly.$get({ query: { project_id } }))) as { months: Month[] }).months,
    [project_id],
    300_000,
  );
  const { data: overview } = usePoll(
    async () => (await ok(await api.stats.overview.$get({ query: { project_id, days: "7" } }))) as Overview,
    [project_id],
    60_000,
  );
  const { data: apiStats } = usePoll(
    async () =>
      ((await ok(await api.stats.api.$get({ query: { project_id, days: "1" } }))) as { routes: ApiRoute[] }).routes,
    [project_id],
    60_000,
  );

  const perDay = data && days ? monthByDay(data, days) : null;
  const perMonth =
    data && months
      ? [
          ...months.filter((m) => m.month !== data.month).map((m) => ({ month: m.month, logs: m.logs })),
          { month: data.month, logs: data.logs ?? 0 },
        ]
      : null;

  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <Failure error={error} />
      {data && (
        <>
          <p class="muted">
            {monthName(data.month)}, {data.tier} tier
            {data.resets_at ? <> · the counters start again {when(data.resets_at)}</> : null}
          </p>
          <div class="table-wrap">
            <table class="usage-counters" aria-label="This month">
              <thead>
                <tr>
                  <th scope="col">Counter</th>
                  <th scope="col" class="num">
                    This month
                  </th>
                  <th scope="col" class="num today">
                    Today
                  </th>
                  <th scope="col" class="num">
                    Limit
                  </th>
                  <th scope="col">Of the limit</th>
                </tr>
              </thead>
              <tbody>
                {COUNTERS.map(([key, label]) => {
                  const used = Number(data[key] ?? 0);
                  const limit = data.limits[key];
                  return (
                    <tr data-counter={key}>
                      <th scope="row">{label}</th>
                      <td data-label="This month" class="num" title={used.toLocaleString()}>
                        {human(key, used)}
                      </td>
                      <td data-label="Today" class="num today">
                        {LEVELS.has(key) || !data.today ? (
                          <span class="muted">—</span>
                        ) : (
                          human(key, data.today[key] ?? 0)
                        )}
                      </td>
                      <td data-label="Limit" class="num" title={limit ? limit.toLocaleString() : undefined}>
                        {limit === null || limit === undefined ? <span class="muted">none</span> : human(key, limit)}
                      </td>
                      <td data-label="Of the limit">
                        {limit ? <Share used={used} limit={limit} /> : <span class="muted">—</span>}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}

      <h2>Lines</h2>
      <div class="filters">
        <label class="field">
          <span>Bars of</span>
          <select value={bucket} onChange={(e) => setBucket(e.currentTarget.value as Bucket)}>
            {BUCKETS.map(([b, label]) => (
              <option value={b}>{label}</option>
            ))}
          </select>
        </label>
      </div>
      <div class="charts usage-charts">
        {today && (
          <TimeChart
            title={`Lines per ${BUCKETS.find(([b]) => b === bucket)![1]} today, by level`}
            times={today.times}
            series={LEVEL_SERIES.map(([, label, color], i) => ({ label, color, values: today.levels[i]! }))}
            unit="lines"
            kind="bars"
            stacked
            step={BUCKET_MS[bucket]}
            height={240}
          />
        )}
        {perDay && (
          <TimeChart
            title="Lines per day this month (UTC days)"
            times={perDay.times}
            series={[
              { label: "ERROR and FATAL", color: "--level-error", values: perDay.errors },
              { label: "Other lines", color: "--chart-1", values: perDay.others },
            ]}
            unit="lines"
            kind="bars"
            stacked
            step={DAY_MS}
            height={240}
          />
        )}
        {perMonth && perMonth.length > 1 && (
          <TimeChart
            title="Lines per month (this one so far)"
            times={[...perMonth.map((m) => Date.parse(`${m.month}-01T00:00:00Z`)), nextMonth(data!.month)]}
            series={[{ label: "Lines", values: [...perMonth.map((m) => m.logs), null] }]}
            unit="lines"
            kind="bars"
            height={240}
          />
        )}
      </div>

      {overview && (
        <>
          <h2>This week</h2>
          <p>
            Error rate <strong>{(overview.error_rate * 100).toFixed(2)}%</strong>{" "}
            <span class="muted">(ERROR and FATAL lines of all lines)</span>
          </p>
          <div class="grid rankings">
            <div>
              <h3 id="top-devices-title">Top devices</h3>
              <Ranking
                label="Top devices"
                column="Device"
                rows={overview.top_devices.by_lines.map((d) => ({
                  ...d,
                  name: d.name ?? d.device_id,
                  id: d.device_id,
                  href: `#/devices/${encodeURIComponent(d.device_id)}`,
                }))}
              />
            </div>
            <div>
              <h3 id="top-modules-title">Top modules</h3>
              <Ranking
                label="Top modules"
                column="Module"
                rows={overview.top_modules.by_lines.map((m) => ({
                  ...m,
                  name: m.module,
                  href: `#/logs?module=${encodeURIComponent(m.module)}`,
                }))}
              />
            </div>
          </div>
        </>
      )}

      {months && months.length > 0 && (
        <>
          <h2>Closed months</h2>
          <Table
            label="Closed months"
            rows={months}
            rowKey={(m) => m.month}
            initial={{ key: "month", desc: true }}
            columns={[
              { key: "month", label: "Month", cell: (m) => monthName(m.month), sort: (m) => m.month },
              { key: "logs", label: "Lines", numeric: true, cell: (m) => count(m.logs), sort: (m) => m.logs },
              {
                key: "bytes",
                label: "Log bytes",
                numeric: true,
                cell: (m) => bytes(m.log_bytes),
                sort: (m) => m.log_bytes,
              },
              {
                key: "storage",
                label: "Peak storage",
                numeric: true,
                cell: (m) => bytes(m.peak_storage_bytes),
                sort: (m) => m.peak_storage_bytes,
              },
              {
                key: "over",
                label: "Over limits",
                cell: (m) =>
                  m.exceeded_limits.length ? (
                    <span>
                      {m.exceeded_limits.map((l) => (
                        <span class="badge status failed">{labelOf(l)}</span>
                      ))}
                    </span>
                  ) : (
                    <span class="muted">none</span>
                  ),
              },
              {
                key: "overage",
                label: "Overage",
                numeric: true,
                cell: (m) =>
                  m.overage_charge.cents ? (
                    `${(m.overage_charge.cents / 100).toFixed(2)} ${m.overage_charge.currency}`
                  ) : (
                    <span class="muted">none</span>
                  ),
                sort: (m) => m.overage_charge.cents,
              },
            ]}
          />
        </>
      )}

      {apiStats && (
        <>
          <h2>API, last 24 hours</h2>
          {apiStats.length === 0 ? (
            <Empty title="No API calls in the last 24 hours" />
          ) : (
            <Table
              label="API latency"
              rows={apiStats}
              rowKey={(r) => r.route}
              initial={{ key: "count", desc: true }}
              columns={[
                {
                  key: "route",
                  label: "Route",
                  cell: (r) => <code class="wrap">{r.route}</code>,
                  sort: (r) => r.route,
                },
                { key: "count", label: "Calls", numeric: true, cell: (r) => count(r.count), sort: (r) => r.count },
                {
                  key: "errors",
                  label: "Errors",
                  numeric: true,
                  cell: (r) => <span class={r.errors ? "bad-count" : undefined}>{count(r.errors)}</span>,
                  sort: (r) => r.errors,
                },
                { key: "p50", label: "p50", numeric: true, cell: (r) => ms(r.p50_ms), sort: (r) => r.p50_ms },
                { key: "p95", label: "p95", numeric: true, cell: (r) => ms(r.p95_ms), sort: (r) => r.p95_ms },
                { key: "p99", label: "p99", numeric: true, cell: (r) => ms(r.p99_ms), sort: (r) => r.p99_ms },
              ]}
            />
          )}
        </>
      )}
    </section>
  );
}

/** How much of a limit is used: a bar (amber from 80%, red at 100%) and the share in words. */
function Share(props: { used: number; limit: number }) {
  const p = (props.used / props.limit) * 100;
  const level = p >= 100 ? "over" : p >= 80 ? "near" : "";
  return (
    <span class={`share ${level}`}>
      <span class="bar" aria-hidden="true">
        <span style={{ width: `${Math.min(100, Math.max(p > 0 ? 2 : 0, p))}%` }} />
      </span>
      <span class="pct">{share(props.used, props.limit)}</span>
    </span>
  );
}

/**
 * The days of this month (UTC) up to today: the daily rows where they exist, today's live figures, nothing on
 * days not written.
 */
function monthByDay(usage: UsageAnswer, rows: Day[]) {
  const today = usage.today?.day ?? utcDay(Date.now());
  const byDate = new Map(rows.map((d) => [d.date, d]));
  const times: number[] = [];
  const errors: (number | null)[] = [];
  const others: (number | null)[] = [];
  for (let t = Date.parse(`${today.slice(0, 7)}-01T00:00:00Z`); utcDay(t) <= today; t += DAY_MS) {
    const date = utcDay(t);
    const row =
      date === today ? { logs: usage.today?.logs ?? 0, error_lines: usage.today?.error_lines ?? 0 } : byDate.get(date);
    times.push(t);
    errors.push(row ? row.error_lines : null);
    others.push(row ? Math.max(0, row.logs - row.error_lines) : null);
  }
  // Tomorrow, empty: today's bar (drawn from midnight onwards) shows in full.
  times.push(times.at(-1)! + DAY_MS);
  errors.push(null);
  others.push(null);
  return { times, errors, others };
}

/** The start of the month after `m` ("2025-03" → 1 April 2025, UTC), in ms. */
const nextMonth = (m: string) => {
  const [y, n] = m.split("-").map(Number);
  return Date.UTC(y!, n!, 1);
};
/** "2025-03" → "March 2025". */
const monthName = (m: string) =>
  new Date(`${m}-01T12:00:00Z`).toLocaleDateString(undefined, { month: "long", year: "numeric", timeZone: "UTC" });
/** A counter's name as the counters table shows it. */
const labelOf = (key: string) => COUNTERS.find(([k]) => k === key)?.[1] ?? key.replace(/_/g, " ");
