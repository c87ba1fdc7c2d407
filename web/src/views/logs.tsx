// Logs: the project's live tail over the WebSocket (a single-use ticket first), starting from
// the last 100 lines of the filter, with older ones read as you scroll up. Level, text,
// device, session and module filters go to the server as filter frames; pause and resume,
// auto-scroll, level colours, reconnection after a drop that says so. Every frame is
// acknowledged, as the contract asks; lines the stream drops because the view fell behind
// are read back from the logs, and a notice says how many. The list is virtualised (only the
// rows in view are in the page, at a fixed height), so MAX_KEPT lines stay smooth.
import { useEffect, useRef, useState } from "preact/hooks";
import type { LogView } from "../../../src/contract/log-view";
import { api, describe, download, ok } from "../api";

/** A line as GET /logs and the live tail send it (the contract's type). */
type Line = LogView;

/** The text filters, as the tail's filter frame and GET /logs name them. */
interface Scope {
  device_id: string;
  session_id: string;
  module: string;
}

const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;
const MAX_KEPT = 100_000;
/** Each row's height in px (one line, cut with an ellipsis; the whole line opens below the list). */
const ROW_H = 20;
/** Rows drawn above and below the visible ones. */
const OVERSCAN = 20;
const RECONNECT_MS = 2_000;

export function Logs(props: { projectId: string; initial?: Partial<Scope> }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [held, setHeld] = useState<Line[]>([]);
  const [paused, setPaused] = useState(false);
  const [follow, setFollow] = useState(true);
  const [levels, setLevels] = useState<string[]>([...LEVELS]);
  const [q, setQ] = useState("");
  const [scope, setScope] = useState<Scope>({ device_id: "", session_id: "", module: "", ...props.initial });
  /** A time range (datetime-local text): history and exports keep to it; live lines only come without an end. */
  const [range, setRange] = useState({ from: "", to: "" });
  const [open, setOpen] = useState<string | null>(null);
  const [state, setState] = useState("connecting");
  const [notice, setNotice] = useState<string | null>(null);
  const socket = useRef<WebSocket | null>(null);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const filterRef = useRef({ levels, q, scope, range });
  filterRef.current = { levels, q, scope, range };
  const list = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(600);
  /** Where older lines continue (GET /logs's cursor, newest first), and whether a read is under way. */
  const older = useRef<{ cursor: string | null; loading: boolean }>({ cursor: null, loading: false });
  /**
   * Lines the stream dropped, to read back from the logs: from the last live line before the
   * drop was told (its timestamp), whether a read is under way, how many were dropped in all,
   * and the ids read back, which the stream may still bring (they are not shown twice). A new
   * scope starts a new one.
   */
  const gap = useRef<{ from: string | null; reading: boolean; dropped: number; readBack: Set<string> }>({ from: null, reading: false, dropped: 0, readBack: new Set() });
  /** The timestamp of the last live line, where a drop told next starts (the lines dropped came after it). */
  const lastLive = useRef<string | null>(null);

  const given = (): Partial<Scope> => Object.fromEntries(Object.entries(filterRef.current.scope).filter(([, v]) => v)) as Partial<Scope>;
  /** The range as GET /logs takes it (ISO 8601), when one is set. */
  const within = (): { from?: string; to?: string } => {
    const r = filterRef.current.range;
    return { ...(r.from ? { from: new Date(r.from).toISOString() } : {}), ...(r.to ? { to: new Date(r.to).toISOString() } : {}) };
  };
  const filterFrame = () => ({ type: "filter", level: filterRef.current.levels, ...given(), ...(filterRef.current.q ? { q: filterRef.current.q } : {}) });

  /** A page of GET /logs for the current filter, newest first; `page.from` narrows the range's start. */
  const history = async (page: { limit: string; cursor?: string; from?: string }) => {
    const range = within();
    const from = page.from && (!range.from || Date.parse(page.from) > Date.parse(range.from)) ? page.from : range.from;
    const query: Record<string, string> = { project_id: props.projectId, ...given(), ...range, ...page, ...(from ? { from } : {}) };
    if (filterRef.current.levels.length > 0) query.level = filterRef.current.levels.join(",");
    return (await ok(await api.logs.$get({ query }))) as { logs: Line[]; next_cursor: string | null };
  };

  /** The last 100 lines of the filter, oldest first, before the live ones. */
  const loadRecent = async () => {
    const { logs, next_cursor } = await history({ limit: "100" });
    older.current = { cursor: next_cursor, loading: false };
    const recent = [...logs].reverse();
    setLines((current) => {
      const seen = new Set(recent.map((l) => l.id));
      return [...recent, ...current.filter((l) => !seen.has(l.id))].slice(-MAX_KEPT);
    });
  };

  useEffect(() => {
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const connect = async (again: boolean) => {
      try {
        const args = { query: { project_id: props.projectId } };
        const { ticket } = (await ok(await api.logs.stream.ticket.$post(args))) as { ticket: string };
        const url = api.logs.stream.$url({ query: { ticket, project_id: props.projectId } });
        url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
        const ws = new WebSocket(url);
        socket.current = ws;
        const opened = new Date().toISOString();
        ws.onopen = () => {
          setState("live");
          ws.send(JSON.stringify(filterFrame()));
          loadRecent().catch((err) => setNotice(describe(err)));
          if (again) setNotice("Reconnected: the last 100 lines were read again. If more were sent while the connection was down, search the logs for that time.");
        };
        ws.onmessage = (event) => {
          const frame = JSON.parse(String(event.data)) as { type: string; seq?: number; logs?: Line[]; count?: number; error?: { message: string } };
          if (frame.seq !== undefined) ws.send(JSON.stringify({ type: "ack", seq: frame.seq }));
          if (frame.type === "logs" && frame.logs && !filterRef.current.range.to) {
            const readIds = gap.current.readBack;
            const add = readIds.size > 0 ? frame.logs.filter((l) => !readIds.has(l.id)) : frame.logs;
            if (frame.logs.length > 0) lastLive.current = frame.logs[frame.logs.length - 1]!.timestamp;
            if (pausedRef.current) setHeld((h) => [...h, ...add].slice(-MAX_KEPT));
            else setLines((l) => [...l, ...add].slice(-MAX_KEPT));
          } else if (frame.type === "dropped" && frame.count && !filterRef.current.range.to) {
            gap.current.dropped += frame.count;
            gap.current.from ??= lastLive.current ?? opened;
            setNotice(`${gap.current.dropped.toLocaleString()} lines came faster than the view took them; reading them back from the logs.`);
            void readBack();
          } else if (frame.type === "error" && frame.error) {
            setNotice(frame.error.message);
          }
        };
        ws.onclose = (event) => {
          if (closed) return;
          setState(event.code === 4001 ? "closed" : "reconnecting");
          if (event.code !== 4001) timer = setTimeout(() => void connect(true), RECONNECT_MS);
          else setNotice(event.reason || "The stream was closed.");
        };
      } catch (err) {
        setState("reconnecting");
        setNotice(describe(err));
        if (!closed) timer = setTimeout(() => void connect(true), RECONNECT_MS);
      }
    };
    void connect(false);
    return () => {
      closed = true;
      clearTimeout(timer);
      socket.current?.close();
    };
  }, [props.projectId]);

  useEffect(() => {
    if (socket.current?.readyState !== WebSocket.OPEN) return;
    socket.current.send(JSON.stringify(filterFrame()));
  }, [levels, q, scope]);
  useEffect(() => {
    // A new device, session or module scope starts from its own recent lines.
    if (socket.current?.readyState !== WebSocket.OPEN) return;
    setLines([]);
    // A read-back under way was for the lines of before: it is dropped.
    gap.current = { from: null, reading: false, dropped: 0, readBack: new Set() };
    loadRecent().catch((err) => setNotice(describe(err)));
  }, [scope, range]);

  /**
   * Lines the stream dropped (the view fell behind, or they were lost on their way), read
   * back: every line of the filter from where the drop started to now that the view does not
   * hold, put in place by time. Drops told during a read are read by the next one.
   */
  const readBack = async () => {
    const g = gap.current;
    if (g.reading || g.from === null) return;
    const from = g.from;
    g.from = null;
    g.reading = true;
    try {
      const read: Line[] = [];
      let cursor: string | undefined;
      do {
        const page = await history({ limit: "1000", from, ...(cursor ? { cursor } : {}) });
        read.push(...page.logs);
        cursor = page.next_cursor ?? undefined;
      } while (cursor && read.length < MAX_KEPT);
      if (gap.current !== g) return;
      // The stream may still bring some of these: it leaves them out.
      for (const l of read) g.readBack.add(l.id);
      const put = (current: Line[]) => {
        const have = new Set(current.map((l) => l.id));
        const missing = read.filter((l) => !have.has(l.id));
        return missing.length === 0 ? current : [...current, ...missing].sort((a, b) => a.timestamp_us - b.timestamp_us).slice(-MAX_KEPT);
      };
      if (pausedRef.current) setHeld(put);
      else setLines(put);
      setNotice(`${g.dropped.toLocaleString()} lines came faster than the view took them; they were read back from the logs.`);
    } catch (err) {
      if (gap.current === g) setNotice(`${g.dropped.toLocaleString()} lines came faster than the view took them, and reading them back failed (${describe(err)}). Search the logs to see them.`);
    } finally {
      g.reading = false;
    }
    if (g.from !== null) await readBack();
  };

  /** Older lines, when the view is scrolled to its top: prepended, with the view kept where it was. */
  const loadOlder = async () => {
    const o = older.current;
    if (!o.cursor || o.loading) return;
    o.loading = true;
    try {
      const { logs, next_cursor } = await history({ limit: "200", cursor: o.cursor });
      older.current = { cursor: next_cursor, loading: false };
      if (logs.length === 0) return;
      setLines((current) => [...[...logs].reverse(), ...current].slice(0, MAX_KEPT));
      if (list.current) list.current.scrollTop += logs.length * ROW_H;
    } catch (err) {
      older.current.loading = false;
      setNotice(describe(err));
    }
  };

  useEffect(() => {
    if (follow && list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [lines, follow]);
  useEffect(() => {
    const measure = () => list.current && setViewHeight(list.current.clientHeight);
    measure();
    addEventListener("resize", measure);
    return () => removeEventListener("resize", measure);
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(lines.length, Math.ceil((scrollTop + viewHeight) / ROW_H) + OVERSCAN);
  const chosen = open === null ? undefined : lines.find((l) => l.id === open);

  const resume = () => {
    setPaused(false);
    // A line read back while paused may be shown already.
    setLines((l) => {
      const have = new Set(l.map((x) => x.id));
      return [...l, ...held.filter((x) => !have.has(x.id))].slice(-MAX_KEPT);
    });
    setHeld([]);
  };

  return (
    <section aria-labelledby="logs-title">
      <h1 id="logs-title">Logs</h1>
      <div class="filters">
        <fieldset>
          <legend>Levels</legend>
          {LEVELS.map((l) => (
            <label>
              <input
                type="checkbox"
                checked={levels.includes(l)}
                onChange={(e) => setLevels(e.currentTarget.checked ? [...levels, l] : levels.filter((x) => x !== l))}
              />{" "}
              {l}
            </label>
          ))}
        </fieldset>
        <label>
          Text <input type="search" value={q} onChange={(e) => setQ(e.currentTarget.value)} />
        </label>
        <label>
          From <input type="datetime-local" value={range.from} onChange={(e) => setRange({ ...range, from: e.currentTarget.value })} />
        </label>
        <label>
          To <input type="datetime-local" value={range.to} onChange={(e) => setRange({ ...range, to: e.currentTarget.value })} />
        </label>
        {(["device_id", "session_id", "module"] as const).map((k) => (
          <label>
            {k === "device_id" ? "Device" : k === "session_id" ? "Session" : "Module"}{" "}
            <input value={scope[k]} onChange={(e) => setScope({ ...scope, [k]: e.currentTarget.value.trim() })} />
          </label>
        ))}
        <button type="button" onClick={() => (paused ? resume() : setPaused(true))}>
          {paused ? `Resume (${held.length} held)` : "Pause"}
        </button>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Auto-scroll
        </label>
        <button type="button" onClick={() => setLines([])}>
          Clear
        </button>
        {(["csv", "ndjson"] as const).map((format) => (
          <button
            type="button"
            onClick={() => {
              const query = new URLSearchParams({ project_id: props.projectId, format, ...given(), ...within() });
              if (levels.length > 0) query.set("level", levels.join(","));
              if (q) query.set("q", q);
              download(`/logs/export?${query}`).catch((err) => setNotice(describe(err)));
            }}
          >
            Export {format.toUpperCase()}
          </button>
        ))}
        <span class="state" role="status">
          {state}
        </span>
      </div>
      {notice && (
        <p role="alert" class="notice">
          {notice}
        </p>
      )}
      <div
        class="log"
        ref={list}
        onScroll={(e) => {
          const el = e.currentTarget;
          setScrollTop(el.scrollTop);
          if (el.scrollTop < ROW_H * 5) void loadOlder();
        }}
      >
        <ol aria-label="Live lines" class="rows-window" style={{ height: `${lines.length * ROW_H}px` }}>
          {lines.slice(first, last).map((l, k) => (
            <li key={l.id} class={`level-${l.level.toLowerCase()}`} style={{ top: `${(first + k) * ROW_H}px` }}>
              <button type="button" class="row" aria-expanded={open === l.id} onClick={() => setOpen(open === l.id ? null : l.id)}>
                <time>{l.timestamp}</time> <span class="lvl">{l.level}</span> <span class="mod">{l.module}</span> <span class="dev">{l.device_id}</span>{" "}
                <span class="msg">{l.message}</span>
              </button>
            </li>
          ))}
        </ol>
      </div>
      <p class="note">
        {lines.length.toLocaleString()} lines{older.current.cursor ? "; scroll up for older ones" : ""}.{" "}
        {older.current.cursor && (
          <button type="button" onClick={() => void loadOlder()}>
            Load older lines
          </button>
        )}
      </p>
      {chosen && (
        <div class="context" aria-label="The whole line">
          <pre>{JSON.stringify(chosen, null, 2)}</pre>
          <button type="button" onClick={() => void navigator.clipboard.writeText(JSON.stringify(chosen))}>
            Copy
          </button>
          <button type="button" onClick={() => setOpen(null)}>
            Close
          </button>
        </div>
      )}
    </section>
  );
}
