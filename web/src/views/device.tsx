// Device: its details, metric charts from its heartbeat history, its active session, its last
// 50 lines, and (admin keys only) commands with their history, and decommissioning.
import { useState } from "preact/hooks";
import { type KeyRole, api, describe, ok } from "../api";
import { Chart } from "./chart";
import { type Device, Failure } from "./parts";
import { usePoll } from "./use-poll";

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
  /** The key that sent it; null for commands from before senders were kept. */
  sent_by: { kind: string; id: string; label: string } | null;
}
interface Line {
  id: string;
  timestamp: string;
  level: string;
  module: string;
  message: string;
}

export function DeviceView(props: { deviceId: string; role: KeyRole }) {
  // Operators send commands; only admins decommission.
  const operates = props.role !== "viewer";
  const admin = props.role === "admin";
  const param = { device_id: props.deviceId };
  const [failure, setFailure] = useState<string | null>(null);
  const [command, setCommand] = useState("");
  const [params, setParams] = useState("");
  const { data: device, error } = usePoll(async () => ((await ok(await api.fleet.devices[":device_id"].$get({ param }))) as { device: Device }).device, [props.deviceId]);
  const { data: points } = usePoll(
    async () => ((await ok(await api.fleet.devices[":device_id"].metrics.$get({ param, query: {} }))) as { points: Point[] }).points,
    [props.deviceId],
    60_000,
  );
  const { data: lines } = usePoll(
    async () => ((await ok(await api.logs.$get({ query: { device_id: props.deviceId, limit: "50" } }))) as { logs: Line[] }).logs,
    [props.deviceId],
  );
  const { data: history } = usePoll(
    async () => ((await ok(await api.fleet.devices[":device_id"].commands.history.$get({ param, query: { limit: "20" } }))) as { commands: Command[] }).commands,
    [props.deviceId],
    5_000,
  );

  const send = async () => {
    try {
      const body: { device_id: string; command: string; params?: unknown } = { device_id: props.deviceId, command };
      if (params.trim()) body.params = JSON.parse(params);
      await ok(await api.fleet.commands.$post({ json: body }));
      setCommand("");
      setParams("");
      setFailure(null);
    } catch (err) {
      setFailure(err instanceof SyntaxError ? `Params are not JSON: ${err.message}` : describe(err));
    }
  };
  const decommission = async () => {
    if (!confirm(`Decommission ${device?.name ?? props.deviceId}? Its key stops working at once.`)) return;
    try {
      await ok(await api.fleet.devices[":device_id"].$delete({ param }));
      location.hash = "#/fleet";
    } catch (err) {
      setFailure(describe(err));
    }
  };

  const series = (name: string) => (points ?? []).filter((p) => p.metrics[name]).map((p) => ({ t: Date.parse(p.t), v: p.metrics[name]!.avg }));
  const names = [...new Set((points ?? []).flatMap((p) => Object.keys(p.metrics)))].sort();
  return (
    <section aria-labelledby="device-title">
      <h1 id="device-title">{device ? (device.name ?? device.dsn ?? device.id) : props.deviceId}</h1>
      <p>
        <a href="#/fleet">Fleet</a>
      </p>
      <Failure error={error ?? failure} />
      {device && (
        <dl class="details">
          <dt>Status</dt>
          <dd class={`status ${device.status}`}>{device.status}</dd>
          <dt>Type</dt>
          <dd>{device.device_type}</dd>
          <dt>Environment</dt>
          <dd>{device.environment}</dd>
          <dt>DSN</dt>
          <dd>{device.dsn ?? "—"}</dd>
          <dt>Last seen</dt>
          <dd>{device.last_seen_at ? new Date(device.last_seen_at).toLocaleString() : "never"}</dd>
          <dt>Session</dt>
          <dd>{device.current_session_id ? <a href={`#/sessions/${encodeURIComponent(device.current_session_id)}`}>{device.current_session_id}</a> : "none"}</dd>
          {device.changed_by ? (
            <>
              <dt>Changed</dt>
              <dd>
                by {device.changed_by.label}, {new Date(device.changed_by.at).toLocaleString()}
              </dd>
            </>
          ) : null}
        </dl>
      )}
      <h2>Metrics, last 24 hours</h2>
      {names.length === 0 && <p>No heartbeat metrics yet.</p>}
      <div class="charts">
        {names.map((n) => (
          <Chart name={n} points={series(n)} />
        ))}
      </div>
      <h2>Last 50 lines</h2>
      <ol class="log short" aria-label="Last lines">
        {(lines ?? []).map((l) => (
          <li class={`level-${l.level.toLowerCase()}`}>
            <time>{l.timestamp}</time> <span class="lvl">{l.level}</span> <span class="mod">{l.module}</span> <span class="msg">{l.message}</span>
          </li>
        ))}
      </ol>
      <h2>Commands</h2>
      {operates && (
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            if (command.trim()) void send();
          }}
        >
          <label>
            Command <input value={command} onInput={(e) => setCommand(e.currentTarget.value)} required />
          </label>
          <label>
            Params (JSON) <input value={params} onInput={(e) => setParams(e.currentTarget.value)} placeholder='{"delay_s": 5}' />
          </label>
          <button type="submit">Send command</button>
        </form>
      )}
      <ul class="rows" aria-label="Command history">
        {(history ?? []).map((c) => (
          <li>
            <strong>{c.command}</strong> <span class={`status ${c.status}`}>{c.status}</span>{" "}
            <span class="note">{c.transitions.map((t) => `${t.status} ${new Date(t.at).toLocaleTimeString()}`).join(" → ")}</span>
            {c.sent_by && <span class="note"> · sent by {c.sent_by.label}</span>}
          </li>
        ))}
      </ul>
      {admin && (
        <p>
          <button type="button" class="danger" onClick={() => void decommission()}>
            Decommission
          </button>
        </p>
      )}
    </section>
  );
}
