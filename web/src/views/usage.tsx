// Usage: this month's counters beside the tier's limits, lines per 5 minutes today, lines per
// day this month, the top devices and modules of the week, and API latency percentiles.
import { useState } from "preact/hooks";
import { api, ok } from "../api";
import { Chart } from "./chart";
import { Failure, Ranking } from "./parts";
import { usePoll } from "./use-poll";

const COUNTERS = [
  ["logs", "Log lines"],
  ["log_bytes", "Log bytes"],
  ["sessions", "Sessions"],
  ["heartbeats", "Heartbeats"],
  ["device_messages_in", "Device messages in"],
  ["device_messages_out", "Device messages out"],
  ["api_calls", "API calls"],
  ["commands", "Commands"],
  ["artifact_bytes", "File bytes uploaded"],
  ["storage_bytes", "Storage bytes"],
  ["devices", "Devices"],
  ["active_devices", "Active devices"],
] as const;

type UsageAnswer = Record<string, unknown> & { month: string; tier: string; limits: Record<string, number | null> };
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
const BUCKETS = ["1m", "5m", "15m", "60m"] as const;

interface ApiRoute {
  route: string;
  count: number;
  errors: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

const points = (ps: { t: string; value: number }[]) => ps.map((p) => ({ t: Date.parse(p.t), v: p.value }));

export function Usage(props: { projectId: string }) {
  const project_id = props.projectId;
  const { data, error } = usePoll(async () => (await ok(await api.stats.usage.$get({ query: { project_id } }))) as UsageAnswer, [project_id], 30_000);
  const [bucket, setBucket] = useState<(typeof BUCKETS)[number]>("5m");
  const { data: recent } = usePoll(
    async () => ((await ok(await api.stats.timeseries.$get({ query: { project_id, metric: "logs", interval: bucket } }))) as { points: { t: string; value: number }[] }).points,
    [project_id, bucket],
    60_000,
  );
  const { data: months } = usePoll(async () => ((await ok(await api.stats.monthly.$get({ query: { project_id } }))) as { months: Month[] }).months, [project_id], 300_000);
  const { data: daily } = usePoll(
    async () => ((await ok(await api.stats.timeseries.$get({ query: { project_id, metric: "logs", interval: "1d" } }))) as { points: { t: string; value: number }[] }).points,
    [project_id],
    300_000,
  );
  const { data: overview } = usePoll(async () => (await ok(await api.stats.overview.$get({ query: { project_id, days: "7" } }))) as Overview, [project_id], 60_000);
  const { data: apiStats } = usePoll(async () => ((await ok(await api.stats.api.$get({ query: { project_id, days: "1" } }))) as { routes: ApiRoute[] }).routes, [project_id], 60_000);
  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <Failure error={error} />
      {data && (
        <>
          <p>
            {data.month}, {data.tier} tier
          </p>
          <table class="usage">
            <thead>
              <tr>
                <th scope="col">Counter</th>
                <th scope="col">Used</th>
                <th scope="col">Limit</th>
              </tr>
            </thead>
            <tbody>
              {COUNTERS.map(([key, label]) => (
                <tr data-counter={key}>
                  <th scope="row">{label}</th>
                  <td>{Number(data[key] ?? 0).toLocaleString()}</td>
                  <td>{data.limits[key] === null || data.limits[key] === undefined ? "—" : data.limits[key]!.toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <label>
        Bucket{" "}
        <select value={bucket} onChange={(e) => setBucket(e.currentTarget.value as (typeof BUCKETS)[number])}>
          {BUCKETS.map((b) => (
            <option value={b}>{b}</option>
          ))}
        </select>
      </label>
      <div class="charts">
        {recent && <Chart name={`lines per ${bucket} bucket`} points={points(recent)} span="the last 60 buckets" />}
        {daily && <Chart name="lines per day" points={points(daily)} span="the last 60 days" />}
        {months && months.length > 0 && <Chart name="lines per month" points={months.map((m) => ({ t: Date.parse(`${m.month}-01`), v: m.logs }))} span="the closed months" />}
      </div>
      {overview && (
        <>
          <h2>This week</h2>
          <p>Error rate {(overview.error_rate * 100).toFixed(2)}%</p>
          <div class="charts">
            <Ranking label="Top devices" column="Device" rows={overview.top_devices.by_lines.map((d) => ({ ...d, name: d.name ?? d.device_id }))} />
            <Ranking label="Top modules" column="Module" rows={overview.top_modules.by_lines.map((m) => ({ ...m, name: m.module }))} />
          </div>
        </>
      )}
      {months && months.length > 0 && (
        <>
          <h2>Closed months</h2>
          <table aria-label="Closed months">
            <thead>
              <tr>
                <th scope="col">Month</th>
                <th scope="col">Lines</th>
                <th scope="col">Log bytes</th>
                <th scope="col">Peak storage</th>
                <th scope="col">Over limits</th>
                <th scope="col">Overage</th>
              </tr>
            </thead>
            <tbody>
              {months.map((m) => (
                <tr>
                  <td>{m.month}</td>
                  <td>{m.logs.toLocaleString()}</td>
                  <td>{m.log_bytes.toLocaleString()}</td>
                  <td>{m.peak_storage_bytes.toLocaleString()}</td>
                  <td>{m.exceeded_limits.join(", ") || "none"}</td>
                  <td>
                    {(m.overage_charge.cents / 100).toFixed(2)} {m.overage_charge.currency}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {apiStats && (
        <>
          <h2>API, last 24 hours</h2>
          <table aria-label="API latency">
            <thead>
              <tr>
                <th scope="col">Route</th>
                <th scope="col">Calls</th>
                <th scope="col">Errors</th>
                <th scope="col">p50</th>
                <th scope="col">p95</th>
                <th scope="col">p99</th>
              </tr>
            </thead>
            <tbody>
              {apiStats.map((r) => (
                <tr>
                  <td>{r.route}</td>
                  <td>{r.count.toLocaleString()}</td>
                  <td>{r.errors.toLocaleString()}</td>
                  <td>{r.p50_ms} ms</td>
                  <td>{r.p95_ms} ms</td>
                  <td>{r.p99_ms} ms</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
