// Sessions: the project's runs by name, with their device, status, start, duration and line
// counts, filtered by device (by name), status and start date, a page at a time; each links to
// its page (#/sessions/<id>), which shows the session (device, status, times, counts, links to
// its lines and device) and its files, with previews, downloads and the whole session as a zip.
// The filters live in the URL (#/sessions?device_id=…&status=…), so a device's page links here.
import { useEffect, useState } from "preact/hooks";
import { api, describe, download, ok, oneTimeUrl } from "../api";
import { bytes, count, duration } from "../format";
import { useHashParam, writeHashQuery } from "./hash-query";
import { useDeviceNames } from "./names";
import { Ago, AnyOf, CopyId, deviceName, Empty, Failure, Named, Status, When } from "./parts";
import { Table } from "./table";
import { usePoll } from "./use-poll";

/** A session as GET /sessions and GET /sessions/:id answer it. */
interface Session {
  session_id: string;
  name: string;
  project_id?: string;
  device_id: string;
  status: string;
  started_at: string;
  completed_at: string | null;
  duration_seconds: number;
  total_logs: number;
  error_count: number;
  warning_count: number;
}
interface SessionPage {
  sessions: Session[];
  next_cursor: string | null;
}

const STATUSES = ["active", "completed", "failed", "aborted", "timed_out"] as const;
/** This view's path in the URL's hash. */
const VIEW = "#/sessions";
const PAGE = "100";

/** How long a session ran (or has run so far, while active). */
const lasted = (s: Session) =>
  duration(
    (s.status === "active"
      ? Math.max(s.duration_seconds, (Date.now() - Date.parse(s.started_at)) / 1000)
      : s.duration_seconds) * 1000,
  );

/** "1 error", "12 errors". */
const counted = (n: number, what: string) => `${count(n)} ${what}${n === 1 ? "" : "s"}`;

const sessionHref = (id: string) => `#/sessions/${encodeURIComponent(id)}`;
const deviceHref = (id: string) => `#/devices/${encodeURIComponent(id)}`;
const logsHref = (id: string) => `#/logs?session_id=${encodeURIComponent(id)}`;

export function Sessions(props: { projectId: string }) {
  const [device, setDevice] = useHashParam(VIEW, "device_id");
  const [status, setStatus] = useHashParam(VIEW, "status");
  const [from, setFrom] = useHashParam(VIEW, "from");
  const [to, setTo] = useHashParam(VIEW, "to");
  const [older, setOlder] = useState<Session[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const names = useDeviceNames(props.projectId);

  useEffect(() => {
    writeHashQuery(VIEW, { device_id: device, status, from, to });
    setOlder([]);
    setCursor(null);
  }, [device, status, from, to]);

  const query: Record<string, string> = { project_id: props.projectId, limit: PAGE };
  if (device) query.device_id = device;
  if (status) query.status = status;
  // The dates are the viewer's days: from the start of `from` to the end of `to`, local time.
  if (from) query.from = new Date(`${from}T00:00:00`).toISOString();
  if (to) query.to = new Date(new Date(`${to}T00:00:00`).getTime() + 86_400_000).toISOString();
  const { data, error } = usePoll(
    async () => (await ok(await api.sessions.$get({ query }))) as SessionPage,
    [JSON.stringify(query)],
  );
  const sessions = [...(data?.sessions ?? []), ...older];
  const next = older.length > 0 ? cursor : (data?.next_cursor ?? null);
  const more = async () => {
    try {
      const page = (await ok(await api.sessions.$get({ query: { ...query, cursor: next! } }))) as SessionPage;
      setOlder((o) => [...o, ...page.sessions]);
      setCursor(page.next_cursor);
      setFailure(null);
    } catch (err) {
      setFailure(describe(err));
    }
  };

  const devices = [...names.devices].sort((a, b) =>
    deviceName(a).localeCompare(deviceName(b), undefined, { numeric: true }),
  );
  const deviceOptions = devices.map((d) => ({ value: d.id, label: deviceName(d) }));
  // A device asked for by a link that the list does not have (yet): still a choice, by what we know of it.
  if (device && !devices.some((d) => d.id === device)) deviceOptions.push({ value: device, label: names.name(device) });
  const filtered = Boolean(device || status || from || to);

  return (
    <section aria-labelledby="sessions-title">
      <h1 id="sessions-title">Sessions</h1>
      <div class="filters">
        <AnyOf label="Device" value={device} options={deviceOptions} onChange={setDevice} />
        <AnyOf label="Status" value={status} options={STATUSES} onChange={setStatus} />
        <label class="field">
          <span>Started from</span>
          <input type="date" value={from} max={to || undefined} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>to</span>
          <input type="date" value={to} min={from || undefined} onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
        {filtered ? (
          <button
            type="button"
            onClick={() => {
              setDevice("");
              setStatus("");
              setFrom("");
              setTo("");
            }}
          >
            Clear filters
          </button>
        ) : null}
      </div>
      <Failure error={error ?? failure} />
      {data && sessions.length === 0 ? (
        <Empty title={filtered ? "No session matches these filters" : "No sessions yet"}>
          {filtered
            ? "Clear a filter to see more."
            : "A device opens one with POST /sessions, or by naming a new session_id in its logs."}
        </Empty>
      ) : null}
      {sessions.length > 0 ? (
        <Table
          label="Sessions"
          rows={sessions}
          rowKey={(s) => s.session_id}
          initial={{ key: "started", desc: true }}
          columns={[
            {
              key: "name",
              label: "Session",
              cell: (s) => (
                <span class="session-cell">
                  <Named name={s.name} id={s.session_id} href={sessionHref(s.session_id)} />{" "}
                  <a href={logsHref(s.session_id)} class="muted" title={`Logs of ${s.name}`}>
                    logs
                  </a>
                </span>
              ),
              sort: (s) => s.name.toLowerCase(),
            },
            {
              key: "device",
              label: "Device",
              cell: (s) => <Named name={names.name(s.device_id)} id={s.device_id} href={deviceHref(s.device_id)} />,
              sort: (s) => names.name(s.device_id).toLowerCase(),
            },
            { key: "status", label: "Status", cell: (s) => <Status value={s.status} />, sort: (s) => s.status },
            {
              key: "started",
              label: "Started",
              cell: (s) => <When at={s.started_at} />,
              sort: (s) => Date.parse(s.started_at),
            },
            {
              key: "duration",
              label: "Duration",
              numeric: true,
              cell: (s) => lasted(s),
              sort: (s) => s.duration_seconds,
            },
            {
              key: "lines",
              label: "Lines",
              numeric: true,
              cell: (s) => count(s.total_logs),
              sort: (s) => s.total_logs,
            },
            {
              key: "errors",
              label: "Errors",
              numeric: true,
              cell: (s) => <span class={s.error_count ? "bad-count" : undefined}>{count(s.error_count)}</span>,
              sort: (s) => s.error_count,
            },
            {
              key: "warnings",
              label: "Warnings",
              numeric: true,
              cell: (s) => <span class={s.warning_count ? "warn-count" : undefined}>{count(s.warning_count)}</span>,
              sort: (s) => s.warning_count,
            },
          ]}
        />
      ) : null}
      {next ? (
        <p>
          <button type="button" onClick={() => void more()}>
            Older sessions
          </button>
        </p>
      ) : null}
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

/**
 * A session: what it is (device, status, times, counts, links), then its files by folder, with downloads,
 * image previews and the whole session as one zip.
 */
export function SessionFiles(props: { projectId: string; sessionId: string }) {
  const [failure, setFailure] = useState<string | null>(null);
  const names = useDeviceNames(props.projectId);
  const param = { session_id: props.sessionId };
  const { data: session, error: sessionError } = usePoll(
    async () =>
      (
        (await ok(await api.sessions[":session_id"].$get({ param, query: { project_id: props.projectId } }))) as {
          session: Session;
        }
      ).session,
    [props.projectId, props.sessionId],
  );
  const { data, error } = usePoll(
    async () =>
      (
        (await ok(
          await api.sessions[":session_id"].files.$get({
            param,
            query: { project_id: props.projectId, limit: "1000" },
          }),
        )) as { files: FileRow[] }
      ).files,
    [props.projectId, props.sessionId],
    30_000,
  );
  const base = `/sessions/${encodeURIComponent(props.sessionId)}`;
  const fileHref = (f: FileRow) =>
    `${base}/files/download?project_id=${props.projectId}&path=${encodeURIComponent(f.path)}`;
  const get = (href: string) => download(href).catch((err) => setFailure(describe(err)));
  const device = session ? names.name(session.device_id) : null;
  const total = (data ?? []).reduce((n, f) => n + f.size, 0);

  return (
    <section aria-labelledby="session-title">
      <p class="crumbs">
        <a href="#/sessions">All sessions</a> /
      </p>
      <div class="title-row">
        <h1 id="session-title">
          <span title={`id ${props.sessionId}`}>{session?.name ?? props.sessionId}</span>{" "}
          {session ? <Status value={session.status} /> : null}
        </h1>
        <CopyId id={props.sessionId} />
      </div>
      <Failure error={sessionError ?? error ?? failure} />
      <nav class="links" aria-label="About this session">
        <a href={logsHref(props.sessionId)}>Logs of this session</a>
        {session ? (
          <>
            <a href={deviceHref(session.device_id)}>Device {device}</a>
            <a href={`#/sessions?device_id=${encodeURIComponent(session.device_id)}`}>Other sessions of {device}</a>
          </>
        ) : null}
        <button type="button" onClick={() => void get(`${base}/bundle?project_id=${props.projectId}`)}>
          Download the session (zip)
        </button>
      </nav>
      {session ? (
        <div class="card">
          <dl class="details">
            <dt>Device</dt>
            <dd>
              <Named name={device} id={session.device_id} href={deviceHref(session.device_id)} />
            </dd>
            <dt>Started</dt>
            <dd>
              <When at={session.started_at} />{" "}
              <span class="muted">
                (<Ago at={session.started_at} />)
              </span>
            </dd>
            <dt>Ended</dt>
            <dd>
              {session.completed_at ? <When at={session.completed_at} /> : <span class="muted">still running</span>}
            </dd>
            <dt>Duration</dt>
            <dd>
              {lasted(session)}
              {session.status === "active" ? <span class="muted"> so far</span> : null}
            </dd>
            <dt>Lines</dt>
            <dd>
              {count(session.total_logs)} <span class="muted">·</span>{" "}
              <span class={session.error_count ? "bad-count" : undefined}>{counted(session.error_count, "error")}</span>{" "}
              <span class="muted">·</span>{" "}
              <span class={session.warning_count ? "warn-count" : undefined}>
                {counted(session.warning_count, "warning")}
              </span>
            </dd>
            <dt>Files</dt>
            <dd>{data ? `${count(data.length)} (${bytes(total)})` : "…"}</dd>
          </dl>
        </div>
      ) : null}

      <h2 id="files-title">Files</h2>
      {data && data.length === 0 ? (
        <Empty title="This session has no files">
          A device uploads them with PUT /sessions/:id/artifacts/&lt;path&gt;.
        </Empty>
      ) : null}
      {data && data.length > 0 ? (
        <div class="table-wrap">
          <table class="table" aria-labelledby="files-title">
            <thead>
              <tr>
                <th scope="col">Path</th>
                <th scope="col" class="num">
                  Size
                </th>
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
                      <td data-label="Path" class={folder ? "in-folder wrap" : "wrap"}>
                        <span>
                          {f.path.slice(folder ? folder.length + 1 : 0)}
                          {PREVIEWABLE.test(f.content_type) && <Preview href={fileHref(f)} alt={f.path} />}
                        </span>
                      </td>
                      <td data-label="Size" class="num" title={`${f.size.toLocaleString()} bytes`}>
                        {bytes(f.size)}
                      </td>
                      <td data-label="Type">{f.content_type}</td>
                      <td data-label="Uploaded">
                        <When at={f.uploaded_at} />
                      </td>
                      <td data-label="Download">
                        <button type="button" onClick={() => void get(fileHref(f))} aria-label={`Download ${f.path}`}>
                          Download
                        </button>
                      </td>
                    </tr>
                  ))}
                </>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
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
