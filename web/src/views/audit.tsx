// Audit (admin keys only): the org's audit log, newest first, filtered by action, actor or
// target, a page at a time, and exported as NDJSON or CSV with the same filters. Devices show
// by name (the project's, when the view is given it, and any the events themselves name), with
// their ids on hover and copy.
import { useState } from "preact/hooks";
import { api, describe, ok } from "../api";
import { useDeviceNames } from "./names";
import { Empty, Failure, Named, When } from "./parts";
import { Table } from "./table";
import { usePoll } from "./use-poll";

interface AuditEvent {
  id: string;
  at: string;
  actor: { kind: string; id: string; label: string; role?: string };
  action: string;
  target: { kind: string; id: string; label?: string };
  project_id?: string;
  summary: Record<string, unknown>;
  ip?: string;
  request_id: string;
}
interface AuditPage {
  events: AuditEvent[];
  next_cursor: string | null;
}

const NOUNS = ["", "org", "key", "project", "capsule", "device", "command", "file", "alert_rule"];

/** A device id's name, if one is known (else the id). */
type NameOf = (id: string) => string;

export function Audit(props: { projectId?: string }) {
  return props.projectId ? <WithProjectNames projectId={props.projectId} /> : <AuditLog name={(id) => id} />;
}

function WithProjectNames(props: { projectId: string }) {
  const names = useDeviceNames(props.projectId);
  return <AuditLog name={(id) => names.name(id)} />;
}

function AuditLog(props: { name: NameOf }) {
  const [filters, setFilters] = useState({ action: "", actor: "", target: "" });
  const [older, setOlder] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const query = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== ""));
  const { data, error } = usePoll(
    async () => (await ok(await api.audit.$get({ query: { ...query, limit: "50" } }))) as AuditPage,
    [JSON.stringify(query)],
    15_000,
  );
  const events = [...(data?.events ?? []), ...older];
  const next = older.length > 0 ? cursor : (data?.next_cursor ?? null);
  // The names the events give devices (a registration's or a rename's label), beside the project's.
  const labels = new Map<string, string>();
  for (const e of events)
    if (e.target.kind === "device" && e.target.label && e.target.label !== e.target.id)
      labels.set(e.target.id, e.target.label);
  const name: NameOf = (id) => {
    const known = props.name(id);
    return known !== id ? known : (labels.get(id) ?? id);
  };

  const set = (field: keyof typeof filters, value: string) => {
    setFilters((f) => ({ ...f, [field]: value.trim() }));
    setOlder([]);
    setCursor(null);
  };
  const more = async () => {
    try {
      const page = (await ok(await api.audit.$get({ query: { ...query, limit: "50", cursor: next! } }))) as AuditPage;
      setOlder((o) => [...o, ...page.events]);
      setCursor(page.next_cursor);
    } catch (err) {
      setFailure(describe(err));
    }
  };
  // The log is an org's own record, bounded by its retention: fetched with the key and saved from memory.
  const exportAs = async (format: "ndjson" | "csv") => {
    try {
      const res = await api.audit.export.$get({ query: { ...query, format } });
      if (!res.ok) await ok(res);
      const a = document.createElement("a");
      a.href = URL.createObjectURL(await res.blob());
      a.download = `fleetbeat-audit.${format}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      URL.revokeObjectURL(a.href);
    } catch (err) {
      setFailure(describe(err));
    }
  };

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form aria-label="Audit filters" class="filters" onSubmit={(e) => e.preventDefault()}>
        <label class="field">
          <span>Action</span>
          <select value={filters.action} onChange={(e) => set("action", e.currentTarget.value)}>
            {NOUNS.map((n) => (
              <option value={n}>{n === "" ? "any" : n.replace("_", " ")}</option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Actor id</span>
          <input
            value={filters.actor}
            onChange={(e) => set("actor", e.currentTarget.value)}
            placeholder="key_…, dev_…, admin"
          />
        </label>
        <label class="field">
          <span>Target id</span>
          <input
            value={filters.target}
            onChange={(e) => set("target", e.currentTarget.value)}
            placeholder="dev_…, cmd_…"
          />
        </label>
        <span class="spacer" />
        <button type="button" onClick={() => void exportAs("ndjson")}>
          Export NDJSON
        </button>
        <button type="button" onClick={() => void exportAs("csv")}>
          Export CSV
        </button>
      </form>
      <Failure error={error ?? failure} />
      {data && events.length === 0 ? (
        <Empty title="No events match">
          {query.action || query.actor || query.target
            ? "Clear a filter to see more."
            : "What people, keys and devices change shows here."}
        </Empty>
      ) : null}
      {events.length > 0 ? (
        <Table
          label="Audit events"
          rows={events}
          rowKey={(e) => e.id}
          columns={[
            { key: "at", label: "When", cell: (e) => <When at={e.at} />, sort: (e) => Date.parse(e.at) },
            {
              key: "who",
              label: "Who",
              cell: (e) => (
                <span title={`id ${e.actor.id}`}>
                  {e.actor.kind === "device" ? name(e.actor.id) : e.actor.label}{" "}
                  <small class="muted">({e.actor.role ? `${e.actor.kind}, ${e.actor.role}` : e.actor.kind})</small>
                </span>
              ),
              sort: (e) => e.actor.label.toLowerCase(),
            },
            { key: "action", label: "Action", cell: (e) => <code>{e.action}</code>, sort: (e) => e.action },
            {
              key: "target",
              label: "Target",
              cell: (e) => <Target target={e.target} name={name} />,
              sort: (e) => (e.target.label ?? e.target.id).toLowerCase(),
            },
            { key: "change", label: "Change", cell: (e) => <span class="wrap">{changeOf(e.summary, name)}</span> },
            { key: "from", label: "From", cell: (e) => <span title={`request ${e.request_id}`}>{e.ip ?? "—"}</span> },
          ]}
        />
      ) : null}
      {next ? (
        <p>
          <button type="button" onClick={() => void more()}>
            Older events
          </button>
        </p>
      ) : null}
    </section>
  );
}

/**
 * What an event changed: by its label, linked where the dashboard has a page for it (a device, an alert
 * rule), its id on hover and copy.
 */
function Target(props: { target: AuditEvent["target"]; name: NameOf }) {
  const t = props.target;
  const label = t.kind === "device" && (!t.label || t.label === t.id) ? props.name(t.id) : (t.label ?? t.id);
  const href =
    t.kind === "device"
      ? `#/devices/${encodeURIComponent(t.id)}`
      : t.kind === "alert_rule"
        ? `#/alerts/${encodeURIComponent(t.id)}`
        : undefined;
  return (
    <span>
      <span class="muted">{t.kind.replace("_", " ")} </span>
      <Named name={label} id={t.id} href={href} />
    </span>
  );
}

/** A summary in words: "name: picker 7, role: operator"; a device id by its name. */
const changeOf = (summary: Record<string, unknown>, name: NameOf) =>
  Object.entries(summary)
    .map(
      ([k, v]) =>
        `${k.replace(/_/g, " ")}: ${k === "device_id" && typeof v === "string" ? name(v) : typeof v === "string" ? v : JSON.stringify(v)}`,
    )
    .join(", ");
