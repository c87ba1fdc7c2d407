// Fleet: the project's devices as cards (or a list), by environment tab, status, type and
// text; statuses refresh every 10 s without a reload.
import { useState } from "preact/hooks";
import { api, ok } from "../api";
import { AnyOf, type Device, Failure } from "./parts";
import { usePoll } from "./use-poll";

const ENVIRONMENTS = ["production", "testing", "development"] as const;
const STATUSES = ["online", "offline", "maintenance", "error"] as const;

export function Fleet(props: { projectId: string }) {
  const [environment, setEnvironment] = useState<(typeof ENVIRONMENTS)[number]>("production");
  const [status, setStatus] = useState("");
  const [type, setType] = useState("");
  const [q, setQ] = useState("");
  const [layout, setLayout] = useState<"grid" | "list">("grid");
  const { data, error } = usePoll(
    async () => {
      const query: Record<string, string> = { project_id: props.projectId, environment, limit: "200" };
      if (status) query.status = status;
      if (type) query.type = type;
      if (q) query.q = q;
      return ((await ok(await api.fleet.devices.$get({ query }))) as { devices: Device[] }).devices;
    },
    [props.projectId, environment, status, type, q],
  );
  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">Fleet</h1>
      <div
        role="tablist"
        aria-label="Environment"
        class="tabs"
        onKeyDown={(e) => {
          // Arrow keys move between tabs, as ARIA's tab pattern has it.
          const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
          if (!step) return;
          const next = ENVIRONMENTS[(ENVIRONMENTS.indexOf(environment) + step + ENVIRONMENTS.length) % ENVIRONMENTS.length]!;
          setEnvironment(next);
          (e.currentTarget.querySelector(`[data-env="${next}"]`) as HTMLElement | null)?.focus();
        }}
      >
        {ENVIRONMENTS.map((e) => (
          <button type="button" role="tab" data-env={e} aria-selected={environment === e} tabIndex={environment === e ? 0 : -1} onClick={() => setEnvironment(e)}>
            {e}
          </button>
        ))}
      </div>
      <div class="filters">
        <AnyOf label="Status" value={status} options={STATUSES} onChange={setStatus} />
        <label>
          Type <input value={type} onChange={(e) => setType(e.currentTarget.value)} />
        </label>
        <label>
          Search <input type="search" value={q} onChange={(e) => setQ(e.currentTarget.value)} />
        </label>
        <button type="button" onClick={() => setLayout(layout === "grid" ? "list" : "grid")}>
          {layout === "grid" ? "Show as list" : "Show as grid"}
        </button>
      </div>
      <Failure error={error} />
      {data && data.length === 0 && <p>No devices here yet.</p>}
      <ul class={layout === "grid" ? "cards" : "rows"} aria-label="Devices">
        {data?.map((d) => (
          <li class="device" data-status={d.status}>
            <a href={`#/devices/${encodeURIComponent(d.id)}`}>
              <strong>{d.name ?? d.dsn ?? d.id}</strong>
            </a>
            <span class={`status ${d.status}`}>{d.status}</span>
            <span>{d.device_type}</span>
            <span>last seen {d.last_seen_at ? new Date(d.last_seen_at).toLocaleString() : "never"}</span>
            <span>
              {d.metrics?.battery_level !== undefined ? `battery ${d.metrics.battery_level}%` : d.metrics?.cpu_usage !== undefined ? `CPU ${d.metrics.cpu_usage}%` : ""}
            </span>
            {d.current_session_id && <a href={`#/sessions/${encodeURIComponent(d.current_session_id)}`}>session {d.current_session_id}</a>}
          </li>
        ))}
      </ul>
    </section>
  );
}
