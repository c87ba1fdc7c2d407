// Fleet: a summary bar (online, offline, maintenance, error, alerting; each a filter) from
// GET /fleet/summary, environment tabs with their counts (opening on "All"), and the devices as
// a sortable table (or cards): name, status, last seen as "2 min ago" that ticks, battery and
// CPU sparklines of the last hour (carried in the list's answer, so no row calls anything),
// and the current session. Admins edit or decommission a device from its row. Refreshed every 10 s.
import { useState } from "preact/hooks";
import { api, type KeyRole, ok } from "../api";
import { count, metric } from "../format";
import { Sparkline } from "./chart";
import { DeviceEditor } from "./device-editor";
import { Ago, AnyOf, type Device, deviceName, Empty, Failure, Named, Status } from "./parts";
import { Table } from "./table";
import { useChanges, usePoll } from "./use-poll";

const ENVIRONMENTS = ["production", "testing", "development"] as const;
const STATUSES = ["online", "offline", "maintenance", "error"] as const;
const BUCKETS = [...STATUSES, "alerting"] as const;
type Bucket = (typeof BUCKETS)[number];
type Counts = Record<Bucket, number>;
interface Summary {
  counts: Counts;
  by_environment: Record<(typeof ENVIRONMENTS)[number], Counts>;
}

const devicesIn = (c: Counts | undefined) => (c ? c.online + c.offline + c.maintenance + c.error : 0);

export function Fleet(props: { projectId: string; role: KeyRole }) {
  const [environment, setEnvironment] = useState<"" | (typeof ENVIRONMENTS)[number]>("");
  const [bucket, setBucket] = useState<Bucket | "">("");
  const [type, setType] = useState("");
  const [q, setQ] = useState("");
  const [layout, setLayout] = useState<"table" | "cards">("table");
  const [editing, setEditing] = useState<Device | null>(null);
  const { version, change } = useChanges();
  const project_id = props.projectId;

  const { data: summary } = usePoll(
    async () =>
      (await ok(
        await api.fleet.summary.$get({ query: { project_id, ...(environment ? { environment } : {}) } }),
      )) as Summary,
    [project_id, environment, version],
  );
  const { data, error } = usePoll(async () => {
    const query: Record<string, string> = { project_id, limit: "200" };
    if (environment) query.environment = environment;
    if (bucket && bucket !== "alerting") query.status = bucket;
    if (type) query.type = type;
    if (q) query.q = q;
    return ((await ok(await api.fleet.devices.$get({ query }))) as { devices: Device[] }).devices;
  }, [project_id, environment, bucket, type, q, version]);
  // Which devices have a firing alert: one read of the project's firing alerts.
  const { data: alerting } = usePoll(async () => {
    const { alerts } = (await ok(await api.alerts.$get({ query: { project_id, state: "firing", limit: "200" } }))) as {
      alerts: { device_id?: string | null }[];
    };
    return new Set(alerts.map((a) => a.device_id).filter((id): id is string => !!id));
  }, [project_id, version]);
  const shown = bucket === "alerting" ? (data ?? []).filter((d) => alerting?.has(d.id)) : (data ?? []);
  const types = [...new Set((data ?? []).map((d) => d.device_type))].sort();
  const admin = props.role === "admin";

  const tabs = [
    { value: "" as const, label: "All", n: summary ? devicesIn(sumOf(summary.by_environment)) : undefined },
    ...ENVIRONMENTS.map((e) => ({ value: e, label: e, n: summary ? devicesIn(summary.by_environment[e]) : undefined })),
  ];

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
          // From the tab that has the focus, which need not be the selected one.
          const focused = (e.target as HTMLElement).dataset.env;
          const at = Math.max(
            0,
            tabs.findIndex((t) => (t.value || "all") === (focused ?? (environment || "all"))),
          );
          const next = tabs[(at + step + tabs.length) % tabs.length]!.value;
          setEnvironment(next);
          (e.currentTarget.querySelector(`[data-env="${next || "all"}"]`) as HTMLElement | null)?.focus();
        }}
      >
        {tabs.map((t) => (
          <button
            type="button"
            role="tab"
            data-env={t.value || "all"}
            aria-selected={environment === t.value}
            tabIndex={environment === t.value ? 0 : -1}
            onClick={() => setEnvironment(t.value)}
          >
            {t.label}
            {t.n !== undefined ? (
              // biome-ignore lint/a11y/useAriaPropsSupportedByRole: a screen reader says "3 devices", not "3"
              <span class="n" aria-label={`${t.n} devices`}>
                {count(t.n)}
              </span>
            ) : null}
          </button>
        ))}
      </div>
      <ul class="summary" aria-label="Summary">
        {BUCKETS.map((b) => (
          <li class={b}>
            <button type="button" aria-pressed={bucket === b} onClick={() => setBucket(bucket === b ? "" : b)}>
              <span class="n">{summary ? count(summary.counts[b]) : "…"}</span>
              <span>{b}</span>
            </button>
          </li>
        ))}
      </ul>
      <div class="filters">
        <AnyOf label="Status" value={bucket} options={BUCKETS} onChange={(v) => setBucket(v as Bucket | "")} />
        <AnyOf label="Type" value={type} options={types.length ? types : type ? [type] : []} onChange={setType} />
        <label class="field">
          <span>Search</span>
          <input type="search" value={q} placeholder="name or DSN" onInput={(e) => setQ(e.currentTarget.value)} />
        </label>
        <button type="button" onClick={() => setLayout(layout === "table" ? "cards" : "table")}>
          {layout === "table" ? "Show as cards" : "Show as table"}
        </button>
      </div>
      <Failure error={error} />
      {data && shown.length === 0 ? (
        <Empty
          title={
            data.length === 0 && !bucket && !q && !type ? "No devices here yet" : "No device matches these filters"
          }
        >
          {data.length === 0 && !bucket && !q && !type
            ? "Make a capsule in Access, and register a device with it (README, “A device's first minute”)."
            : "Clear a filter to see more."}
        </Empty>
      ) : layout === "cards" ? (
        <ul class="cards" aria-label="Devices">
          {shown.map((d) => (
            <li class="device" data-status={d.status}>
              <Named name={deviceName(d)} id={d.id} href={`#/devices/${encodeURIComponent(d.id)}`} />
              <span>
                <Status value={d.status} /> {alerting?.has(d.id) ? <Status value="firing" /> : null}
              </span>
              <span class="meta">
                <span>{d.device_type}</span>
                <span>{d.environment}</span>
                <span>
                  seen <Ago at={d.last_seen_at} />
                </span>
              </span>
              <Metrics device={d} />
            </li>
          ))}
        </ul>
      ) : (
        <Table
          label="Devices"
          rows={shown}
          rowKey={(d) => d.id}
          initial={{ key: "name" }}
          columns={[
            {
              key: "name",
              label: "Device",
              cell: (d) => <Named name={deviceName(d)} id={d.id} href={`#/devices/${encodeURIComponent(d.id)}`} />,
              sort: (d) => deviceName(d).toLowerCase(),
            },
            {
              key: "status",
              label: "Status",
              cell: (d) => (
                <span>
                  <Status value={d.status} /> {alerting?.has(d.id) ? <Status value="firing" /> : null}
                </span>
              ),
              sort: (d) => STATUSES.indexOf(d.status as (typeof STATUSES)[number]),
            },
            {
              key: "seen",
              label: "Last seen",
              cell: (d) => <Ago at={d.last_seen_at} />,
              sort: (d) => (d.last_seen_at ? -Date.parse(d.last_seen_at) : null),
            },
            {
              key: "battery",
              label: "Battery",
              cell: (d) => <Spark device={d} name="battery_level" />,
              sort: (d) => d.metrics?.battery_level ?? null,
              numeric: true,
            },
            {
              key: "cpu",
              label: "CPU",
              cell: (d) => <Spark device={d} name="cpu_usage" />,
              sort: (d) => d.metrics?.cpu_usage ?? null,
              numeric: true,
            },
            { key: "type", label: "Type", cell: (d) => d.device_type, sort: (d) => d.device_type, wide: true },
            { key: "env", label: "Environment", cell: (d) => d.environment, sort: (d) => d.environment, wide: true },
            {
              key: "session",
              label: "Session",
              cell: (d) =>
                d.current_session_id ? (
                  <a href={`#/sessions/${encodeURIComponent(d.current_session_id)}`}>running</a>
                ) : (
                  <span class="muted">none</span>
                ),
              sort: (d) => (d.current_session_id ? 0 : 1),
            },
            ...(admin
              ? [
                  {
                    key: "edit",
                    label: "Change",
                    cell: (d: Device) => (
                      <button type="button" onClick={() => setEditing(d)} aria-label={`Edit ${deviceName(d)}`}>
                        Edit
                      </button>
                    ),
                  },
                ]
              : []),
          ]}
        />
      )}
      {editing ? (
        <DeviceEditor
          device={editing}
          onClose={(changed) => {
            setEditing(null);
            if (changed) void change(async () => undefined);
          }}
        />
      ) : null}
    </section>
  );
}

/** Each environment's counts summed, for the "All" tab. */
function sumOf(by: Summary["by_environment"]): Counts {
  const all = { online: 0, offline: 0, maintenance: 0, error: 0, alerting: 0 };
  for (const c of Object.values(by)) for (const k of BUCKETS) all[k] += c[k];
  return all;
}

/** A metric's last hour as a sparkline with its latest value; the latest value alone when there is no hour yet. */
function Spark(props: { device: Device; name: string }) {
  const { label, unit } = metric(props.name);
  const line = props.device.sparklines?.[props.name];
  const latest = props.device.metrics?.[props.name];
  if (line?.some((v) => v !== null)) return <Sparkline label={label} values={line} unit={unit} />;
  return <span>{latest === undefined ? "—" : `${Math.round(latest)}${unit}`}</span>;
}

/** A card's battery and CPU. */
function Metrics(props: { device: Device }) {
  return (
    <span class="meta">
      <span>
        Battery <Spark device={props.device} name="battery_level" />
      </span>
      <span>
        CPU <Spark device={props.device} name="cpu_usage" />
      </span>
    </span>
  );
}
