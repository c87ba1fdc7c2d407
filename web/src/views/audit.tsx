// Audit (admin keys only): the org's audit log, newest first, filtered by action, actor or
// target, a page at a time, and exported as NDJSON or CSV with the same filters.
import { useState } from "preact/hooks";
import { api, describe, ok } from "../api";
import { Failure } from "./parts";
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

export function Audit() {
  const [filters, setFilters] = useState({ action: "", actor: "", target: "" });
  const [older, setOlder] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const query = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== ""));
  const { data, error } = usePoll(async () => (await ok(await api.audit.$get({ query: { ...query, limit: "50" } }))) as AuditPage, [JSON.stringify(query)], 15_000);
  const events = [...(data?.events ?? []), ...older];
  const next = older.length > 0 ? cursor : (data?.next_cursor ?? null);

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
    <section>
      <h1>Audit log</h1>
      <form aria-label="Audit filters" class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Action{" "}
          <select value={filters.action} onChange={(e) => set("action", e.currentTarget.value)}>
            {NOUNS.map((n) => (
              <option value={n}>{n === "" ? "any" : n}</option>
            ))}
          </select>
        </label>
        <label>
          Actor id <input value={filters.actor} onChange={(e) => set("actor", e.currentTarget.value)} placeholder="key_…, dev_…, admin" />
        </label>
        <label>
          Target id <input value={filters.target} onChange={(e) => set("target", e.currentTarget.value)} placeholder="dev_…, cmd_…" />
        </label>
        <button type="button" onClick={() => void exportAs("ndjson")}>
          Export NDJSON
        </button>
        <button type="button" onClick={() => void exportAs("csv")}>
          Export CSV
        </button>
      </form>
      <Failure error={error ?? failure} />
      <table aria-label="Audit events">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Change</th>
            <th scope="col">From</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id}>
              <td>{new Date(e.at).toLocaleString()}</td>
              <td title={e.actor.id}>
                {e.actor.label} <small>({e.actor.role ? `${e.actor.kind}, ${e.actor.role}` : e.actor.kind})</small>
              </td>
              <td>{e.action}</td>
              <td title={e.target.id}>{e.target.label ?? e.target.id}</td>
              <td class="wrap">{changeOf(e.summary)}</td>
              <td title={`request ${e.request_id}`}>{e.ip ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && events.length === 0 ? <p>No events match.</p> : null}
      {next ? (
        <button type="button" onClick={() => void more()}>
          Older events
        </button>
      ) : null}
    </section>
  );
}

/** A summary in words: "name: picker 7, role: operator". */
const changeOf = (summary: Record<string, unknown>) =>
  Object.entries(summary)
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(", ");
