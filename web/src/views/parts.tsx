// Small pieces the views share: a device as the API shows it, an error and an empty state in
// words, a status badge, a name that keeps its id on hover and copy, a "2 min ago" that ticks,
// a filter's "any or one of" choice, and a table of ranked devices or modules.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiFailure, describe } from "../api";
import { ago, count, exactly, friendly, when } from "../format";
import { Table } from "./table";

/** A device as GET /fleet/devices and /fleet/devices/:id answer it. */
export interface Device {
  id: string;
  name: string | null;
  dsn: string | null;
  device_type: string;
  environment: string;
  status: string;
  last_seen_at: string | null;
  last_heartbeat_at: string | null;
  metrics: Record<string, number> | null;
  current_session_id: string | null;
  /** The last hour of some metrics, oldest first (GET /fleet/devices only). */
  sparklines?: Partial<Record<string, (number | null)[]>>;
  /** Who last renamed, moved, paused or decommissioned it; null: nobody since it registered. */
  changed_by?: { kind: string; id: string; label: string; at: string } | null;
}

/** What a device is called: its name, else its DSN, else its id. */
export const deviceName = (d: Pick<Device, "id" | "name" | "dsn">) => d.name ?? d.dsn ?? d.id;

/** An error, shown in words (or nothing when there is none). */
export function Failure(props: { error: string | null | undefined }) {
  return props.error ? (
    <p role="alert" class="error">
      {props.error}
    </p>
  ) : null;
}

/** Nothing to show yet, and what would change that. */
export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{props.title}</p>
      {props.children ? <p>{props.children}</p> : null}
    </div>
  );
}

/** A status as a coloured badge (online, offline, firing, completed, timed_out…). */
export const Status = (props: { value: string }) => (
  <span class={`badge status ${props.value}`}>{props.value.replace("_", " ")}</span>
);

/**
 * An entity by its name, linked where it has a page; its id shows on hover (title) and a
 * click on the small copy button copies it.
 */
export function Named(props: { name: string | null | undefined; id: string; href?: string }) {
  const text = props.name || props.id;
  return (
    <span class="named">
      {props.href ? (
        <a href={props.href} title={`id ${props.id}`}>
          {text}
        </a>
      ) : (
        <span title={`id ${props.id}`}>{text}</span>
      )}
      <CopyId id={props.id} />
    </span>
  );
}

/** Copies text to the clipboard; `copied` is true for a moment after, for the button to say so. */
function useCopy(): [boolean, (text: string) => void] {
  const [copied, setCopied] = useState(false);
  const copy = (text: string) =>
    void navigator.clipboard?.writeText(text).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    });
  return [copied, copy];
}

/** A small button that copies an id. */
export function CopyId(props: { id: string }) {
  const [copied, copy] = useCopy();
  return (
    <button
      type="button"
      class="copy"
      title={`Copy id ${props.id}`}
      aria-label={copied ? "Copied" : `Copy id ${props.id}`}
      onClick={() => copy(props.id)}
    >
      {copied ? (
        "✓"
      ) : (
        <svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
          <rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5" />
          <path d="M3 11V3.5A1.5 1.5 0 0 1 4.5 2H11" fill="none" stroke="currentColor" stroke-width="1.5" />
        </svg>
      )}
    </button>
  );
}

/** Re-renders every `ms`, for times that read "2 min ago". */
function useTick(ms = 5_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** "2 min ago", ticking, with the exact time on hover. */
export function Ago(props: { at: string | null | undefined }) {
  const now = useTick();
  return props.at ? (
    <time dateTime={props.at} title={exactly(props.at)}>
      {ago(props.at, now)}
    </time>
  ) : (
    <span>never</span>
  );
}

/** A labelled select of `options`, with "any" (the empty value) first; options may carry their own labels. */
export function AnyOf(props: {
  label: string;
  value: string;
  options: readonly (string | { value: string; label: string })[];
  onChange: (value: string) => void;
}) {
  return (
    <label class="field">
      <span>{props.label}</span>
      <select value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">any</option>
        {props.options.map((o) =>
          typeof o === "string" ? (
            <option value={o}>{o.replace("_", " ")}</option>
          ) : (
            <option value={o.value}>{o.label}</option>
          ),
        )}
      </select>
    </label>
  );
}

/** Names with their lines and errors, as the overview ranks them; each may link to its lines. */
export function Ranking(props: {
  label: string;
  column: string;
  rows: { name: string; id?: string; href?: string; lines: number; errors: number }[];
}) {
  return (
    <Table
      label={props.label}
      rows={props.rows}
      rowKey={(r) => r.id ?? r.name}
      initial={{ key: "lines", desc: true }}
      empty={<p>Nothing this week yet.</p>}
      columns={[
        {
          key: "name",
          label: props.column,
          cell: (r) =>
            r.id ? <Named name={r.name} id={r.id} href={r.href} /> : r.href ? <a href={r.href}>{r.name}</a> : r.name,
          sort: (r) => r.name,
        },
        { key: "lines", label: "Lines", numeric: true, cell: (r) => count(r.lines), sort: (r) => r.lines },
        { key: "errors", label: "Errors", numeric: true, cell: (r) => count(r.errors), sort: (r) => r.errors },
      ]}
    />
  );
}

/** A moment as "14:03:07" (or "7 Dec, 14:03"), the exact time on hover. */
export const When = (props: { at: string | null | undefined }) =>
  props.at ? (
    <time dateTime={props.at} title={exactly(props.at)}>
      {when(props.at)}
    </time>
  ) : (
    <span class="muted">—</span>
  );

/** A failure in words: a 400's field problems as "Name: Required", anything else as the API said it. */
export function explain(err: unknown): string {
  if (err instanceof ApiFailure && err.details.length > 0) {
    const fields = err.details.map((d) => `${fieldName(d.path)}: ${friendly(d.message)}`);
    return `${fields.join("; ")} (${err.code})`;
  }
  return describe(err);
}
/** A problem's path as its field is called: "json.device_type" → "Device type". */
const fieldName = (path: string) => {
  const last =
    path
      .split(".")
      .filter((p) => p !== "json" && p !== "query")
      .join(" ") || path;
  const words = last.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** A button that copies `text`, saying so for a moment. */
export function CopyText(props: { text: string; label: string }) {
  const [copied, copy] = useCopy();
  return (
    <button type="button" aria-label={copied ? "Copied" : props.label} onClick={() => copy(props.text)}>
      {copied ? "Copied" : "Copy"}
    </button>
  );
}
