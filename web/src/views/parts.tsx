// Small pieces the views share: a device as the API shows it, an API error in words, a
// filter's "any or one of" choice, and a table of ranked devices or modules.

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
  /** Who last renamed, moved, paused or decommissioned it; null: nobody since it registered. */
  changed_by?: { kind: string; id: string; label: string; at: string } | null;
}

/** An error, shown in words (or nothing when there is none). */
export function Failure(props: { error: string | null | undefined }) {
  return props.error ? (
    <p role="alert" class="error">
      {props.error}
    </p>
  ) : null;
}

/** A labelled select of `options`, with "any" (the empty value) first. */
export function AnyOf(props: { label: string; value: string; options: readonly string[]; onChange: (value: string) => void }) {
  return (
    <label>
      {props.label}{" "}
      <select value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">any</option>
        {props.options.map((o) => (
          <option value={o}>{o}</option>
        ))}
      </select>
    </label>
  );
}

/** Names with their lines and errors, as the overview ranks them. */
export function Ranking(props: { label: string; column: string; rows: { name: string; lines: number; errors: number }[] }) {
  return (
    <table aria-label={props.label}>
      <thead>
        <tr>
          <th scope="col">{props.column}</th>
          <th scope="col">Lines</th>
          <th scope="col">Errors</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((r) => (
          <tr>
            <td>{r.name}</td>
            <td>{r.lines.toLocaleString()}</td>
            <td>{r.errors.toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
