// Sessions: the project's runs with status, duration and line counts; each links to its files.
import { api, ok } from "../api";
import { usePoll } from "./use-poll";

interface Session {
  session_id: string;
  device_id: string;
  status: string;
  started_at: string;
  completed_at: string | null;
  total_logs: number;
  error_count: number;
  warning_count: number;
}

const duration = (s: Session) => {
  const ms = (s.completed_at ? Date.parse(s.completed_at) : Date.now()) - Date.parse(s.started_at);
  const m = Math.floor(ms / 60_000);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
};

export function Sessions(props: { projectId: string }) {
  const { data, error } = usePoll(
    async () => ((await ok(await api.sessions.$get({ query: { project_id: props.projectId, limit: "100" } }))) as { sessions: Session[] }).sessions,
    [props.projectId],
  );
  return (
    <section aria-labelledby="sessions-title">
      <h1 id="sessions-title">Sessions</h1>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {data && data.length === 0 && <p>No sessions yet.</p>}
      {data && data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Session</th>
              <th scope="col">Device</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Lines</th>
              <th scope="col">Errors</th>
              <th scope="col">Warnings</th>
            </tr>
          </thead>
          <tbody>
            {data.map((s) => (
              <tr>
                <td>
                  <a href={`#/sessions/${encodeURIComponent(s.session_id)}`}>{s.session_id}</a>
                </td>
                <td>{s.device_id}</td>
                <td>
                  <span class={`status ${s.status}`}>{s.status}</span>
                </td>
                <td>{new Date(s.started_at).toLocaleString()}</td>
                <td>{duration(s)}</td>
                <td>{s.total_logs}</td>
                <td>{s.error_count}</td>
                <td>{s.warning_count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

interface FileRow {
  path: string;
  size: number;
  content_type: string;
  uploaded_at: string;
}

/** A session's files. Downloads need one-time links (POST /downloads/ticket), which are not built yet. */
export function SessionFiles(props: { projectId: string; sessionId: string }) {
  const { data, error } = usePoll(
    async () =>
      ((await ok(await api.sessions[":session_id"].files.$get({ param: { session_id: props.sessionId }, query: { project_id: props.projectId, limit: "1000" } }))) as {
        files: FileRow[];
      }).files,
    [props.projectId, props.sessionId],
    30_000,
  );
  return (
    <section aria-labelledby="files-title">
      <h1 id="files-title">Files of session {props.sessionId}</h1>
      <p>
        <a href="#/sessions">All sessions</a>
      </p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {data && data.length === 0 && <p>This session has no files.</p>}
      {data && data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Path</th>
              <th scope="col">Size</th>
              <th scope="col">Type</th>
              <th scope="col">Uploaded</th>
            </tr>
          </thead>
          <tbody>
            {data.map((f) => (
              <tr>
                <td>{f.path}</td>
                <td>{f.size.toLocaleString()} bytes</td>
                <td>{f.content_type}</td>
                <td>{new Date(f.uploaded_at).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="note">Downloading files and the session bundle from the browser needs one-time download links, which are not built yet.</p>
    </section>
  );
}
