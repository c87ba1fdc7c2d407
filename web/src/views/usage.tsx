// Usage: this month's counters beside the tier's limits.
import { api, ok } from "../api";
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

export function Usage(props: { projectId: string }) {
  const { data, error } = usePoll(async () => (await ok(await api.stats.usage.$get({ query: { project_id: props.projectId } }))) as UsageAnswer, [props.projectId], 30_000);
  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
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
    </section>
  );
}
