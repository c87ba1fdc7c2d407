// Sessions: the project's runs with status, duration and line counts; each links to its files.
import { useEffect, useState } from "preact/hooks";
import { api, describe, download, ok, oneTimeUrl } from "../api";
import { AnyOf, Failure } from "./parts";
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

const STATUSES = ["active", "completed", "failed", "aborted"] as const;

export function Sessions(props: { projectId: string }) {
  const [device, setDevice] = useState("");
  const [status, setStatus] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const { data, error } = usePoll(
    async () => {
      const query: Record<string, string> = { project_id: props.projectId, limit: "100" };
      if (device) query.device_id = device;
      if (status) query.status = status;
      if (from) query.from = new Date(`${from}T00:00:00Z`).toISOString();
      if (to) query.to = new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000).toISOString();
      return ((await ok(await api.sessions.$get({ query }))) as { sessions: Session[] }).sessions;
    },
    [props.projectId, device, status, from, to],
  );
  return (
    <section aria-labelledby="sessions-title">
      <h1 id="sessions-title">Sessions</h1>
      <div class="filters">
        <label>
          Device <input value={device} placeholder="device id" onChange={(e) => setDevice(e.currentTarget.value.trim())} />
        </label>
        <AnyOf label="Status" value={status} options={STATUSES} onChange={setStatus} />
        <label>
          Started from <input type="date" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          to <input type="date" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
      </div>
      <Failure error={error} />
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
                  <a href={`#/sessions/${encodeURIComponent(s.session_id)}`} aria-label={`Files of ${s.session_id}`}>
                    {s.session_id}
                  </a>{" "}
                  <a href={`#/logs?session_id=${encodeURIComponent(s.session_id)}`} class="note">
                    logs
                  </a>
                </td>
                <td>
                  <a href={`#/devices/${encodeURIComponent(s.device_id)}`}>{s.device_id}</a>
                </td>
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

/** Raster images preview inline; SVG and HTML never do (they could run script). */
const PREVIEWABLE = /^image\/(png|jpeg|gif|webp|avif|bmp)$/;

/** A session's files, by folder, with downloads, image previews and the whole session as one zip. */
export function SessionFiles(props: { projectId: string; sessionId: string }) {
  const [failure, setFailure] = useState<string | null>(null);
  const { data, error } = usePoll(
    async () =>
      ((await ok(await api.sessions[":session_id"].files.$get({ param: { session_id: props.sessionId }, query: { project_id: props.projectId, limit: "1000" } }))) as {
        files: FileRow[];
      }).files,
    [props.projectId, props.sessionId],
    30_000,
  );
  const base = `/sessions/${encodeURIComponent(props.sessionId)}`;
  const fileHref = (f: FileRow) => `${base}/files/download?project_id=${props.projectId}&path=${encodeURIComponent(f.path)}`;
  const get = (href: string) => download(href).catch((err) => setFailure(describe(err)));
  return (
    <section aria-labelledby="files-title">
      <h1 id="files-title">Files of session {props.sessionId}</h1>
      <p>
        <a href="#/sessions">All sessions</a>{" "}
        <button type="button" onClick={() => get(`${base}/bundle?project_id=${props.projectId}`)}>
          Download the session (zip)
        </button>
      </p>
      <Failure error={error ?? failure} />
      {data && data.length === 0 && <p>This session has no files.</p>}
      {data && data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Path</th>
              <th scope="col">Size</th>
              <th scope="col">Type</th>
              <th scope="col">Uploaded</th>
              <th scope="col">Download</th>
            </tr>
          </thead>
          <tbody>
            {folders(data).map(([folder, files]) => (
              <>
                {folder && (
                  <tr class="folder-row">
                    <th scope="rowgroup" colSpan={5}>
                      {folder}/
                    </th>
                  </tr>
                )}
                {files.map((f) => (
                  <tr>
                    <td class={folder ? "in-folder" : undefined}>
                      {f.path.slice(folder ? folder.length + 1 : 0)}
                      {PREVIEWABLE.test(f.content_type) && <Preview href={fileHref(f)} alt={f.path} />}
                    </td>
                    <td>{f.size.toLocaleString()} bytes</td>
                    <td>{f.content_type}</td>
                    <td>{new Date(f.uploaded_at).toLocaleString()}</td>
                    <td>
                      <button type="button" onClick={() => get(fileHref(f))} aria-label={`Download ${f.path}`}>
                        Download
                      </button>
                    </td>
                  </tr>
                ))}
              </>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Files grouped by folder, folders in order, files at the top level first. */
function folders(files: FileRow[]): [string, FileRow[]][] {
  const by = new Map<string, FileRow[]>();
  for (const f of files) {
    const folder = f.path.includes("/") ? f.path.slice(0, f.path.lastIndexOf("/")) : "";
    by.set(folder, [...(by.get(folder) ?? []), f]);
  }
  return [...by].sort(([a], [b]) => (a === b ? 0 : a < b ? -1 : 1));
}

function Preview(props: { href: string; alt: string }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    oneTimeUrl(props.href).then(setSrc, () => setSrc(null));
  }, [props.href]);
  return src ? <img class="preview" src={src} alt={props.alt} /> : null;
}
