// Logs, with Grafana Explore's habits: a time range (presets from 5 min to 30 days, or From/To)
// over a log-volume histogram stacked by level (drag or click to zoom), level toggles, text,
// and device, session and module filters typed or picked from the project's known ones
// (GET /logs/facets), by name. While the range ends now, lines stream in over the WebSocket (a
// single-use ticket first) in time order; scrolling up pauses the stream and says how many lines
// wait. A line opens beside the list with its context, and "lines around this one".
//
// Every frame is acknowledged, as the contract asks; lines the stream drops because the view
// fell behind are read back from the logs, and a notice says how many. The list is virtualised
// (only the rows in view are in the page, at a fixed height), so MAX_KEPT lines stay smooth.
import { useEffect, useRef, useState } from "preact/hooks";
import type { LogView } from "../../../src/contract/log-view";
import { ApiFailure, api, describe, download, ok } from "../api";
import { count, lineTime } from "../format";
import { LineDetail } from "./log-detail";
import { mergeByTime } from "./log-merge";
import { bounds, type Range, RangePicker, Volume } from "./log-range";
import { useDeviceNames } from "./names";
import { usePoll } from "./use-poll";

/** A 404 for a device or session the filter names, in words: the text typed is not one the project knows. */
function unknownScope(err: unknown, scope: Scope): string | null {
  if (!(err instanceof ApiFailure) || err.status !== 404) return null;
  if (scope.session_id && /session/i.test(err.message))
    return `No session “${scope.session_id}” in this project: pick one from the list.`;
  if (scope.device_id && /device/i.test(err.message))
    return `No device “${scope.device_id}” in this project: pick one from the list.`;
  return null;
}

/** A line as GET /logs and the live tail send it (the contract's type). */
type Line = LogView;

/** The filters GET /logs, the export, the volume and the tail's filter frame share. */
interface Scope {
  device_id: string;
  session_id: string;
  module: string;
}
interface Facets {
  devices: { id: string; name: string | null; lines: number }[];
  modules: { name: string; lines: number }[];
  sessions: { id: string; name: string | null; lines: number }[];
}

const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;
const MAX_KEPT = 100_000;
/** A row's height in px: one line on a wide screen, two (the message under the rest) on a phone. */
const ROW_H = 20;
const ROW_H_NARROW = 40;
/** Rows drawn above and below the visible ones. */
const OVERSCAN = 20;
const RECONNECT_MS = 2_000;
/** Typing settles for this long before a text filter applies (Enter applies at once). */
const SETTLE_MS = 400;
/** Lines read on each side of a line for "lines around this one". */
const AROUND = 50;

export function Logs(props: { projectId: string; initial?: Partial<Scope> }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [held, setHeld] = useState<Line[]>([]);
  /** Why the stream waits: the Pause button, or a scroll away from the newest line. */
  const [paused, setPaused] = useState<"button" | "scroll" | null>(null);
  const [levels, setLevels] = useState<string[]>([...LEVELS]);
  const [scope, setScope] = useState<Scope & { q: string }>({
    device_id: "",
    session_id: "",
    module: "",
    q: "",
    ...props.initial,
  });
  /** What the text inputs hold, as typed (names for devices and sessions); they apply after SETTLE_MS. */
  const [typed, setTyped] = useState({
    q: "",
    device: props.initial?.device_id ?? "",
    session: props.initial?.session_id ?? "",
    module: props.initial?.module ?? "",
  });
  const touched = useRef(false);
  const [range, setRange] = useState<Range>({ kind: "last", ms: 3_600_000 });
  /** A line whose surroundings are shown (the range is around it). */
  const [around, setAround] = useState<Line | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [state, setState] = useState("connecting");
  const [notice, setNotice] = useState<string | null>(null);
  const [narrow, setNarrow] = useState(() => matchMedia("(max-width: 640px)").matches);
  const rowH = narrow ? ROW_H_NARROW : ROW_H;
  const socket = useRef<WebSocket | null>(null);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const live = bounds(range).to === null && !around;
  const filterRef = useRef({ levels, scope, range, live, around });
  filterRef.current = { levels, scope, range, live, around };
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
  const gap = useRef<{ from: string | null; reading: boolean; dropped: number; readBack: Set<string> }>({
    from: null,
    reading: false,
    dropped: 0,
    readBack: new Set(),
  });
  /** The timestamp of the last live line, where a drop told next starts (the lines dropped came after it). */
  const lastLive = useRef<string | null>(null);

  const names = useDeviceNames(props.projectId);
  const { data: facets } = usePoll(
    async () => {
      const { from, to } = bounds(range);
      const query = {
        project_id: props.projectId,
        from: new Date(from).toISOString(),
        to: new Date(to ?? Date.now()).toISOString(),
      };
      return (await ok(await api.logs.facets.$get({ query }))) as Facets;
    },
    [props.projectId, range],
    60_000,
  );
  const deviceNameOf = (id: string) => facets?.devices.find((d) => d.id === id)?.name ?? names.name(id);
  /** A session as the filter shows it: its name, with the id's start when two share a name. */
  const sessionLabel = (s: { id: string; name: string | null }) => {
    if (!s.name) return s.id;
    const twins = facets?.sessions.filter((x) => x.name === s.name).length ?? 1;
    return twins > 1 ? `${s.name} (${s.id.slice(0, 8)})` : s.name;
  };
  const sessionNameOf = (id: string | null) => {
    const s = id ? facets?.sessions.find((x) => x.id === id) : undefined;
    return s ? sessionLabel(s) : id;
  };

  /**
   * Typed text as ids: a device by its name, DSN or id among the project's devices; a session
   * by its label or id among those with lines in the range (or the one a link named). Text that
   * names none of them filters nothing and says so beside its input: no request is made for it.
   */
  const resolve = (t: typeof typed) => {
    const device = t.device.trim();
    const session = t.session.trim();
    const lower = device.toLowerCase();
    const deviceId = !device
      ? ""
      : (facets?.devices.find((d) => (d.name ?? "").toLowerCase() === lower || d.id === device)?.id ??
        names.devices.find((d) => [d.name, d.dsn, d.id].some((x) => (x ?? "").toLowerCase() === lower))?.id ??
        null);
    const sessionId = !session
      ? ""
      : (facets?.sessions.find((s) => sessionLabel(s) === session || s.id === session)?.id ??
        (session === filterRef.current.scope.session_id ? session : null));
    return {
      scope: { q: t.q.trim(), device_id: deviceId ?? "", session_id: sessionId ?? "", module: t.module.trim() },
      unknown: { device: deviceId === null ? device : null, session: sessionId === null ? session : null },
    };
  };
  const [unknown, setUnknown] = useState<{ device: string | null; session: string | null }>({
    device: null,
    session: null,
  });
  const applyTyped = (t = typed) => {
    const { scope: next, unknown: missing } = resolve(t);
    setUnknown(missing);
    // Against the scope as it is now (a settle timer set before an Enter must not apply it again).
    const now = filterRef.current.scope;
    if (
      next.q !== now.q ||
      next.device_id !== now.device_id ||
      next.session_id !== now.session_id ||
      next.module !== now.module
    ) {
      setAround(null);
      setScope(next);
    }
  };
  const type = (k: keyof typeof typed, v: string) => {
    touched.current = true;
    setTyped((t) => ({ ...t, [k]: v }));
  };
  // Typing settles, then applies: the inputs keep every keystroke, whatever streams in meanwhile.
  useEffect(() => {
    if (!touched.current) return;
    const timer = setTimeout(() => applyTyped(), SETTLE_MS);
    return () => clearTimeout(timer);
  }, [typed]);
  // Ids from a link (#/logs?device_id=…) read as names once the names are known.
  useEffect(() => {
    if (touched.current) return;
    setTyped((t) => ({
      ...t,
      device: scope.device_id ? deviceNameOf(scope.device_id) : t.device,
      session: scope.session_id ? (sessionNameOf(scope.session_id) ?? t.session) : t.session,
    }));
  }, [facets, names.devices.length]);

  const given = (): Partial<Scope> & { q?: string } =>
    Object.fromEntries(Object.entries(filterRef.current.scope).filter(([, v]) => v));
  /** The range as GET /logs takes it (ISO 8601). */
  const within = (): { from?: string; to?: string } => {
    const { from, to } = bounds(filterRef.current.range);
    return { from: new Date(from).toISOString(), ...(to !== null ? { to: new Date(to).toISOString() } : {}) };
  };
  const levelQuery = (): Record<string, string> =>
    filterRef.current.levels.length > 0 && filterRef.current.levels.length < LEVELS.length
      ? { level: filterRef.current.levels.join(",") }
      : {};
  const filterFrame = () => ({ type: "filter", level: filterRef.current.levels, ...given() });

  /** A page of GET /logs for the current filter; `page.from` narrows the range's start. */
  const history = async (page: {
    limit: string;
    cursor?: string;
    from?: string;
    to?: string;
    order?: "asc" | "desc";
  }) => {
    const range = within();
    const from = page.from && (!range.from || Date.parse(page.from) > Date.parse(range.from)) ? page.from : range.from;
    const query: Record<string, string> = {
      project_id: props.projectId,
      ...given(),
      ...range,
      ...levelQuery(),
      ...page,
      ...(from ? { from } : {}),
    };
    return (await ok(await api.logs.$get({ query }))) as { logs: Line[]; next_cursor: string | null };
  };

  /** The last 100 lines of the filter, oldest first, before the live ones; or the lines around one. */
  const loadRecent = async () => {
    const target = filterRef.current.around;
    if (target) {
      const at = new Date(target.timestamp_us / 1000).toISOString();
      const base = { project_id: props.projectId, device_id: target.device_id, ...levelQuery() };
      const [before, after] = await Promise.all([
        ok(await api.logs.$get({ query: { ...base, to: at, limit: String(AROUND), order: "desc" } })) as Promise<{
          logs: Line[];
        }>,
        ok(await api.logs.$get({ query: { ...base, from: at, limit: String(AROUND), order: "asc" } })) as Promise<{
          logs: Line[];
        }>,
      ]);
      older.current = { cursor: null, loading: false };
      const all = mergeByTime([], [...before.logs, ...after.logs, target], MAX_KEPT);
      setLines(all);
      // The line itself in the middle of the view.
      requestAnimationFrame(() => {
        const i = all.findIndex((l) => l.id === target.id);
        if (list.current && i >= 0) list.current.scrollTop = Math.max(0, i * rowH - list.current.clientHeight / 2);
      });
      return;
    }
    const { logs, next_cursor } = await history({ limit: "100" });
    older.current = { cursor: next_cursor, loading: false };
    setLines((current) => mergeByTime(current, logs, MAX_KEPT));
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
          if (again)
            setNotice(
              "Reconnected: the last 100 lines were read again. If more were sent while the connection was down, search the logs for that time.",
            );
        };
        ws.onmessage = (event) => {
          const frame = JSON.parse(String(event.data)) as {
            type: string;
            seq?: number;
            logs?: Line[];
            count?: number;
            error?: { message: string };
          };
          if (frame.seq !== undefined) ws.send(JSON.stringify({ type: "ack", seq: frame.seq }));
          if (frame.type === "logs" && frame.logs && filterRef.current.live) {
            const readIds = gap.current.readBack;
            const add = readIds.size > 0 ? frame.logs.filter((l) => !readIds.has(l.id)) : frame.logs;
            if (frame.logs.length > 0) lastLive.current = frame.logs[frame.logs.length - 1]!.timestamp;
            if (pausedRef.current) setHeld((h) => [...h, ...add].slice(-MAX_KEPT));
            else setLines((l) => mergeByTime(l, add, MAX_KEPT));
          } else if (frame.type === "dropped" && frame.count && filterRef.current.live) {
            gap.current.dropped += frame.count;
            gap.current.from ??= lastLive.current ?? opened;
            setNotice(
              `${gap.current.dropped.toLocaleString()} lines came faster than the view took them; reading them back from the logs.`,
            );
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
  }, [levels, scope]);
  useEffect(() => {
    // A new filter, range or line to look around starts from its own lines.
    if (socket.current?.readyState !== WebSocket.OPEN) return;
    setLines([]);
    setHeld([]);
    setPaused(null);
    setNotice(null);
    // A read-back under way was for the lines of before: it is dropped.
    gap.current = { from: null, reading: false, dropped: 0, readBack: new Set() };
    loadRecent().catch((err) => setNotice(unknownScope(err, filterRef.current.scope) ?? describe(err)));
  }, [scope, range, around, levels]);

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
      if (pausedRef.current) setHeld((h) => [...h, ...read]);
      else setLines((current) => mergeByTime(current, read, MAX_KEPT));
      setNotice(
        `${g.dropped.toLocaleString()} lines came faster than the view took them; they were read back from the logs.`,
      );
    } catch (err) {
      if (gap.current === g)
        setNotice(
          `${g.dropped.toLocaleString()} lines came faster than the view took them, and reading them back failed (${describe(err)}). Search the logs to see them.`,
        );
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
      setLines((current) => {
        const have = new Set(current.slice(0, logs.length * 2).map((l) => l.id));
        return [...[...logs].reverse().filter((l) => !have.has(l.id)), ...current].slice(0, MAX_KEPT);
      });
      if (list.current) list.current.scrollTop += logs.length * rowH;
    } catch (err) {
      older.current.loading = false;
      setNotice(describe(err));
    }
  };

  useEffect(() => {
    if (!paused && live && list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [lines, paused, live]);
  useEffect(() => {
    const measure = () => {
      if (list.current) setViewHeight(list.current.clientHeight);
      setNarrow(matchMedia("(max-width: 640px)").matches);
    };
    measure();
    addEventListener("resize", measure);
    return () => removeEventListener("resize", measure);
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / rowH) - OVERSCAN);
  const last = Math.min(lines.length, Math.ceil((scrollTop + viewHeight) / rowH) + OVERSCAN);
  const chosen = open === null ? undefined : lines.find((l) => l.id === open);

  const resume = () => {
    setPaused(null);
    // A line read back while paused may be shown already.
    setLines((l) => mergeByTime(l, held, MAX_KEPT));
    setHeld([]);
  };
  const narrowTo = (to: Partial<Scope>) => {
    const next = { ...scope, ...to };
    touched.current = false;
    setAround(null);
    setScope(next);
    setTyped((t) => ({
      ...t,
      device: next.device_id ? deviceNameOf(next.device_id) : "",
      session: next.session_id ? (sessionNameOf(next.session_id) ?? next.session_id) : "",
      module: next.module,
    }));
  };
  const volumeFilters: Record<string, string> = {
    ...Object.fromEntries(Object.entries(scope).filter(([, v]) => v)),
    ...(levels.length > 0 && levels.length < LEVELS.length ? { level: levels.join(",") } : {}),
  };

  return (
    <section aria-labelledby="logs-title">
      <h1 id="logs-title">Logs</h1>
      <RangePicker
        value={range}
        onChange={(r) => {
          setAround(null);
          setRange(r);
        }}
      />
      <Volume
        projectId={props.projectId}
        range={range}
        filters={volumeFilters}
        onZoom={(r) => (setAround(null), setRange(r))}
      />
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          applyTyped();
        }}
      >
        <fieldset class="levels">
          <legend>Levels</legend>
          {LEVELS.map((l) => (
            <label class={`level-${l.toLowerCase()}`}>
              <input
                type="checkbox"
                checked={levels.includes(l)}
                onChange={(e) =>
                  setLevels(
                    e.currentTarget.checked
                      ? LEVELS.filter((x) => x === l || levels.includes(x))
                      : levels.filter((x) => x !== l),
                  )
                }
              />{" "}
              <span class="lvl">{l}</span>
            </label>
          ))}
        </fieldset>
        <label class="field">
          <span>Text</span>
          <input
            type="search"
            value={typed.q}
            placeholder="words in the message"
            onInput={(e) => type("q", e.currentTarget.value)}
          />
        </label>
        <div class="field">
          <label for="log-device">Device</label>
          <input
            id="log-device"
            aria-describedby={unknown.device ? "log-device-unknown" : undefined}
            value={typed.device}
            list="log-devices"
            placeholder="any"
            aria-invalid={unknown.device ? true : undefined}
            onInput={(e) => type("device", e.currentTarget.value)}
            onChange={() => applyTyped()}
          />
          {unknown.device ? (
            <span class="error" id="log-device-unknown">
              No device called “{unknown.device}”
            </span>
          ) : null}
        </div>
        <datalist id="log-devices">
          {(facets?.devices ?? []).map((d) => (
            <option value={d.name ?? d.id}>{`${count(d.lines)} lines`}</option>
          ))}
        </datalist>
        <div class="field">
          <label for="log-session">Session</label>
          <input
            id="log-session"
            aria-describedby={unknown.session ? "log-session-unknown" : undefined}
            value={typed.session}
            list="log-sessions"
            placeholder="any"
            aria-invalid={unknown.session ? true : undefined}
            onInput={(e) => type("session", e.currentTarget.value)}
            onChange={() => applyTyped()}
          />
          {unknown.session ? (
            <span class="error" id="log-session-unknown">
              No session “{unknown.session}” with lines in this range
            </span>
          ) : null}
        </div>
        <datalist id="log-sessions">
          {(facets?.sessions ?? []).map((s) => (
            <option value={sessionLabel(s)}>{`${count(s.lines)} lines`}</option>
          ))}
        </datalist>
        <label class="field">
          <span>Module</span>
          <input
            value={typed.module}
            list="log-modules"
            placeholder="any"
            onInput={(e) => type("module", e.currentTarget.value)}
            onChange={() => applyTyped()}
          />
        </label>
        <datalist id="log-modules">
          {(facets?.modules ?? []).map((m) => (
            <option value={m.name}>{`${count(m.lines)} lines`}</option>
          ))}
        </datalist>
        <button type="submit" class="sr-only" tabIndex={-1}>
          Apply filters
        </button>
      </form>
      <div class="toolbar">
        <span class={`badge state ${state === "live" && live && !paused ? "online" : "offline"}`} role="status">
          {state === "live"
            ? live
              ? paused
                ? "live, paused"
                : "live"
              : around
                ? "lines around one"
                : "past range"
            : state}
        </span>
        {live ? (
          <button type="button" onClick={() => (paused ? resume() : setPaused("button"))}>
            {paused ? `Resume (${held.length} held)` : "Pause"}
          </button>
        ) : (
          <button type="button" onClick={() => (setAround(null), setRange({ kind: "last", ms: 3_600_000 }))}>
            Back to live
          </button>
        )}
        <button type="button" onClick={() => setLines([])}>
          Clear
        </button>
        <span class="spacer" />
        {(["csv", "ndjson"] as const).map((format) => (
          <button
            type="button"
            onClick={() => {
              const query = new URLSearchParams({
                project_id: props.projectId,
                format,
                ...given(),
                ...within(),
                ...levelQuery(),
              });
              download(`/logs/export?${query}`).catch((err) => setNotice(describe(err)));
            }}
          >
            Export {format.toUpperCase()}
          </button>
        ))}
      </div>
      {notice && (
        <p role="alert" class="notice">
          {notice}
        </p>
      )}
      <div class={`logs-body${chosen ? " with-detail" : ""}`}>
        <div>
          <div
            class={`log${narrow ? " narrow" : ""}`}
            ref={list}
            onScroll={(e) => {
              const el = e.currentTarget;
              setScrollTop(el.scrollTop);
              const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - rowH * 1.5;
              // Scrolling away from the newest line holds the stream; back at the bottom, it flows again.
              if (!atBottom && live && !pausedRef.current) setPaused("scroll");
              else if (atBottom && pausedRef.current === "scroll") resume();
              if (el.scrollTop < rowH * 5) void loadOlder();
            }}
          >
            <ol aria-label="Live lines" class="rows-window" style={{ height: `${lines.length * rowH}px` }}>
              {lines.slice(first, last).map((l, k) => (
                <li
                  key={l.id}
                  class={`level-${l.level.toLowerCase()}${around?.id === l.id ? " target" : ""}`}
                  style={{ top: `${(first + k) * rowH}px`, height: `${rowH}px` }}
                >
                  <button
                    type="button"
                    class="row"
                    aria-expanded={open === l.id}
                    onClick={() => setOpen(open === l.id ? null : l.id)}
                  >
                    <time dateTime={l.timestamp}>{lineTime(l.timestamp)}</time>{" "}
                    <span class="lvl">{l.level.padEnd(5)}</span> <span class="dev">{deviceNameOf(l.device_id)}</span>{" "}
                    <span class="mod">{l.module}</span> <span class="msg">{l.message}</span>
                  </button>
                </li>
              ))}
            </ol>
          </div>
          {paused && held.length > 0 ? (
            <button type="button" class="waiting primary" onClick={() => resume()}>
              ↓ {held.length.toLocaleString()} new {held.length === 1 ? "line waits" : "lines wait"}: show them
            </button>
          ) : null}
          <p class="note">
            {lines.length.toLocaleString()} lines{older.current.cursor ? "; scroll up for older ones" : ""}.{" "}
            {older.current.cursor && (
              <button type="button" onClick={() => void loadOlder()}>
                Load older lines
              </button>
            )}
          </p>
        </div>
        {chosen && (
          <LineDetail
            line={chosen}
            deviceName={deviceNameOf(chosen.device_id)}
            sessionName={sessionNameOf(chosen.session_id)}
            onAround={() => setAround(chosen)}
            onNarrow={(to) => narrowTo(to)}
            onClose={() => setOpen(null)}
          />
        )}
      </div>
    </section>
  );
}
