// Device: who it is and how it is now, links to its sessions, logs, alerts and files, its
// metric charts (percentages together, others each on their own; 1 h to 7 d), its last 50
// lines, and commands with their history. Operators send commands; admins also edit it (name,
// environment, maintenance) and decommission it.
import { useState } from "preact/hooks";
import { api, describe, type KeyRole, ok } from "../api";
import { duration, lineTime, metric, when } from "../format";
import { TimeChart } from "./chart";
import { DeviceEditor } from "./device-editor";
import { Ago, CopyId, type Device, deviceName, Empty, Failure, Named, Status } from "./parts";
import { useChanges, usePoll } from "./use-poll";

interface Point {
  t: string;
  metrics: Record<string, { avg: number; min: number; max: number }>;
}
interface Command {
  id: string;
  command: string;
  status: string;
  created_at: string;
  transitions: { status: string; at: string }[];
  result?: unknown;
  /** The key or person that sent it; null for commands from before senders were kept. */
  sent_by: { kind: string; id: string; label: string } | null;
}
interface Line {
  id: string;
  timestamp: string;
  level: string;
  module: string;
  message: string;
}
interface SessionInfo {
  session_id: string;
  name: string | null;
  status: string;
  started_at: string;
}

const RANGES = [
  { label: "1 h", ms: 3_600_000, interval: "1m" },
  { label: "6 h", ms: 6 * 3_600_000, interval: "5m" },
  { label: "24 h", ms: 24 * 3_600_000, interval: "15m" },
  { label: "7 d", ms: 7 * 24 * 3_600_000, interval: "1h" },
] as const;
/** Commands the demo fleet's simulated devices answer; any other text may be sent too. */
const KNOWN_COMMANDS = ["ping", "reboot", "identify", "set_log_level", "upload_logs"];

export function DeviceView(props: { deviceId: string; role: KeyRole }) {
  // Operators send commands; only admins edit and decommission.
  const operates = props.role !== "viewer";
  const admin = props.role === "admin";
  const param = { device_id: props.deviceId };
  const [failure, setFailure] = useState<string | null>(null);
  const [command, setCommand] = useState("");
  const [params, setParams] = useState("");
  const [range, setRange] = useState<(typeof RANGES)[number]>(RANGES[0]);
  const [editing, setEditing] = useState(false);
  const { version, change } = useChanges();
  const { data: device, error } = usePoll(
    async () => ((await ok(await api.fleet.devices[":device_id"].$get({ param }))) as { device: Device }).device,
    [props.deviceId, version],
  );
  const { data: points } = usePoll(
    async () => {
      const to = Date.now();
      const query = {
        from: new Date(to - range.ms).toISOString(),
        to: new Date(to).toISOString(),
        interval: range.interval,
      };
      return ((await ok(await api.fleet.devices[":device_id"].metrics.$get({ param, query }))) as { points: Point[] })
        .points;
    },
    [props.deviceId, range],
    60_000,
  );
  const { data: lines } = usePoll(
    async () =>
      ((await ok(await api.logs.$get({ query: { device_id: props.deviceId, limit: "50" } }))) as { logs: Line[] }).logs,
    [props.deviceId],
  );
  const { data: history } = usePoll(
    async () =>
      (
        (await ok(await api.fleet.devices[":device_id"].commands.history.$get({ param, query: { limit: "20" } }))) as {
          commands: Command[];
        }
      ).commands,
    [props.deviceId, version],
    3_000,
  );
  const sessionId = device?.current_session_id ?? null;
  const { data: session } = usePoll(
    async () =>
      sessionId
        ? (
            (await ok(await api.sessions[":session_id"].$get({ param: { session_id: sessionId }, query: {} }))) as {
              session: SessionInfo;
            }
          ).session
        : null,
    [sessionId],
    60_000,
  );
  const { data: firing } = usePoll(
    async () => {
      if (!device) return null;
      const { alerts } = (await ok(
        await api.alerts.$get({ query: { project_id: projectOf(device), state: "firing", limit: "200" } }),
      )) as { alerts: { id: string; device_id?: string | null; summary: string; started_at: string }[] };
      return alerts.filter((a) => a.device_id === props.deviceId);
    },
    [device?.id],
    30_000,
  );

  const send = async () => {
    try {
      const body: { device_id: string; command: string; params?: unknown } = {
        device_id: props.deviceId,
        command: command.trim(),
      };
      if (params.trim()) body.params = JSON.parse(params);
      await ok(await api.fleet.commands.$post({ json: body }));
      setCommand("");
      setParams("");
      setFailure(null);
      void change(async () => undefined);
    } catch (err) {
      setFailure(err instanceof SyntaxError ? `Params are not JSON: ${err.message}` : describe(err));
    }
  };

  // Percentages share one chart; every other metric has its own.
  const names = [...new Set((points ?? []).flatMap((p) => Object.keys(p.metrics)))].sort();
  const percent = names.filter((n) => metric(n).unit === "%");
  const others = names.filter((n) => metric(n).unit !== "%");
  const times = (points ?? []).map((p) => Date.parse(p.t));
  const now = Date.now();
  const window: [number, number] = [now - range.ms, now];
  const values = (n: string) => (points ?? []).map((p) => p.metrics[n]?.avg ?? null);
  const title = device ? deviceName(device) : props.deviceId;
  const id = encodeURIComponent(props.deviceId);

  return (
    <section aria-labelledby="device-title">
      <p class="crumbs">
        <a href="#/fleet">Fleet</a> /
      </p>
      <h1 id="device-title">
        {title} <CopyId id={props.deviceId} /> {device ? <Status value={device.status} /> : null}
      </h1>
      <Failure error={error ?? failure} />
      <nav class="links" aria-label="About this device">
        <a href={`#/logs?device_id=${id}`}>Logs</a>
        <a href={`#/sessions?device_id=${id}`}>Sessions and files</a>
        <a href={`#/alerts?device_id=${id}`}>Alerts{firing && firing.length > 0 ? ` (${firing.length} firing)` : ""}</a>
        {admin && device ? (
          <button type="button" onClick={() => setEditing(true)}>
            Edit device
          </button>
        ) : null}
      </nav>
      {device && (
        <div class="card">
          <dl class="details">
            <dt>Type</dt>
            <dd>{device.device_type}</dd>
            <dt>Environment</dt>
            <dd>{device.environment}</dd>
            <dt>Last seen</dt>
            <dd>
              <Ago at={device.last_seen_at} />
            </dd>
            <dt>Session</dt>
            <dd>
              {sessionId ? (
                <>
                  <Named
                    name={session?.name ?? "running"}
                    id={sessionId}
                    href={`#/sessions/${encodeURIComponent(sessionId)}`}
                  />
                  {session ? (
                    <span class="muted"> · for {duration(Date.now() - Date.parse(session.started_at))}</span>
                  ) : null}
                </>
              ) : (
                "none running"
              )}
            </dd>
            <dt>DSN</dt>
            <dd>{device.dsn ?? "—"}</dd>
            {device.changed_by ? (
              <>
                <dt>Changed</dt>
                <dd>
                  by {device.changed_by.label}, <Ago at={device.changed_by.at} />
                </dd>
              </>
            ) : null}
          </dl>
        </div>
      )}
      {firing && firing.length > 0 ? (
        <ul class="rows" aria-label="Firing alerts">
          {firing.map((a) => (
            <li>
              <Status value="firing" /> {a.summary} <span class="muted">since {when(a.started_at)}</span>
            </li>
          ))}
        </ul>
      ) : null}

      <h2>Metrics</h2>
      {/* biome-ignore lint/a11y/useSemanticElements: a row of toggle buttons, not a form section; a fieldset would bring a legend and a frame */}
      <div class="presets" role="group" aria-label="Metrics over">
        {RANGES.map((r) => (
          <button type="button" aria-pressed={range === r} onClick={() => setRange(r)}>
            {r.label}
          </button>
        ))}
      </div>
      {points && names.length === 0 ? (
        <Empty title="No heartbeat metrics in this range">The device sends them with its heartbeats.</Empty>
      ) : null}
      <div class="charts">
        {percent.length > 0 && (
          <TimeChart
            title={`${percent.map((n) => metric(n).label).join(", ")} (%), last ${range.label}`}
            times={times}
            unit="%"
            window={window}
            series={percent.map((n) => ({ label: metric(n).label, values: values(n) }))}
          />
        )}
        {others.map((n) => (
          <TimeChart
            title={`${metric(n).label}${metric(n).unit ? ` (${metric(n).unit})` : ""}, last ${range.label}`}
            times={times}
            unit={metric(n).unit}
            window={window}
            series={[{ label: metric(n).label, values: values(n) }]}
          />
        ))}
      </div>

      <h2>Commands</h2>
      {operates && (
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            if (command.trim()) void send();
          }}
        >
          <label class="field">
            <span>Command</span>
            <input
              value={command}
              list="known-commands"
              onInput={(e) => setCommand(e.currentTarget.value)}
              required
              placeholder="ping"
            />
            <datalist id="known-commands">
              {KNOWN_COMMANDS.map((c) => (
                <option value={c} />
              ))}
            </datalist>
          </label>
          <label class="field">
            <span>Params (JSON)</span>
            <input value={params} onInput={(e) => setParams(e.currentTarget.value)} placeholder='{"level": "DEBUG"}' />
          </label>
          <button type="submit">Send command</button>
        </form>
      )}
      {history && history.length === 0 ? <p class="muted">No commands sent yet.</p> : null}
      <ul class="rows" aria-label="Command history">
        {(history ?? []).map((c) => (
          <li>
            <strong class="mono">{c.command}</strong> <Status value={c.status} />
            <span class="note">{c.transitions.map((t) => `${t.status} ${when(t.at)}`).join(" → ")}</span>
            {c.sent_by && <span class="note">sent by {c.sent_by.label}</span>}
            {c.result !== undefined && c.result !== null ? (
              <code class="mono wrap">{JSON.stringify(c.result)}</code>
            ) : null}
          </li>
        ))}
      </ul>

      <h2>Last 50 lines</h2>
      <p>
        <a href={`#/logs?device_id=${id}`}>All of its lines in Logs</a>
      </p>
      {lines && lines.length === 0 ? <p class="muted">No lines yet.</p> : null}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling list must take focus to scroll by keyboard (axe: scrollable-region-focusable) */}
      <ol class="log short" aria-label="Last lines" tabIndex={0}>
        {(lines ?? []).map((l) => (
          <li class={`level-${l.level.toLowerCase()}`}>
            <time dateTime={l.timestamp}>{lineTime(l.timestamp)}</time> <span class="lvl">{l.level}</span>{" "}
            <span class="mod">{l.module}</span> <span class="msg">{l.message}</span>
          </li>
        ))}
      </ol>
      {editing && device ? (
        <DeviceEditor
          device={device}
          onClose={(changed) => {
            setEditing(false);
            if (changed === "decommissioned") location.hash = "#/fleet";
            else if (changed) void change(async () => undefined);
          }}
        />
      ) : null}
    </section>
  );
}

/** The device's project: GET /fleet/devices/:id answers it as project_id. */
const projectOf = (d: Device) => (d as Device & { project_id: string }).project_id;
