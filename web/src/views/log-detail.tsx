// One log line, opened beside the list: its message whole, its device and session by name
// (linked), module, logger, thread and process, its context as a table, and what to do next:
// show the lines around it, narrow the view to its device, session or module, copy it.
import type { LogView } from "../../../src/contract/log-view";
import { exactly } from "../format";
import { Named } from "./parts";

export function LineDetail(props: {
  line: LogView;
  deviceName: string;
  sessionName: string | null;
  onAround: () => void;
  onNarrow: (to: { device_id?: string; session_id?: string; module?: string }) => void;
  onClose: () => void;
}) {
  const l = props.line;
  const context = Object.entries(l.context ?? {});
  return (
    <aside class="line-detail" aria-label="The whole line">
      <p>
        <span class={`badge lvl ${l.level.toLowerCase()}`}>{l.level}</span>{" "}
        <time dateTime={l.timestamp}>{exactly(l.timestamp)}</time>
      </p>
      <p class="message">{l.message}</p>
      <dl class="details">
        <dt>Device</dt>
        <dd>
          <Named name={props.deviceName} id={l.device_id} href={`#/devices/${encodeURIComponent(l.device_id)}`} />
        </dd>
        <dt>Session</dt>
        <dd>
          {l.session_id ? (
            <Named name={props.sessionName} id={l.session_id} href={`#/sessions/${encodeURIComponent(l.session_id)}`} />
          ) : (
            "none"
          )}
        </dd>
        <dt>Module</dt>
        <dd>{l.module}</dd>
        {l.logger ? (
          <>
            <dt>Logger</dt>
            <dd>{l.logger}</dd>
          </>
        ) : null}
        {l.thread_id ? (
          <>
            <dt>Thread</dt>
            <dd>{l.thread_id}</dd>
          </>
        ) : null}
        {l.process_id ? (
          <>
            <dt>Process</dt>
            <dd>{l.process_id}</dd>
          </>
        ) : null}
      </dl>
      {context.length > 0 ? (
        <table aria-label="Context">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            {context.map(([k, v]) => (
              <tr>
                <td class="mono">{k}</td>
                <td class="mono wrap">{String(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <div class="actions">
        <button type="button" class="primary" onClick={props.onAround}>
          Show lines around this one
        </button>
        <button type="button" onClick={() => props.onNarrow({ device_id: l.device_id })}>
          Only this device
        </button>
        {l.session_id ? (
          <button type="button" onClick={() => props.onNarrow({ session_id: l.session_id! })}>
            Only this session
          </button>
        ) : null}
        <button type="button" onClick={() => props.onNarrow({ module: l.module })}>
          Only this module
        </button>
        <button type="button" onClick={() => void navigator.clipboard?.writeText(JSON.stringify(l))}>
          Copy
        </button>
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </aside>
  );
}
