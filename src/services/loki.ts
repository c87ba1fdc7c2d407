// The Loki-compatible read API's use cases: a LogQL query of the subset (src/contract/logql.ts)
// answered by the ordinary search (log-search.ts), label names and values, and the live tail
// bridged from the project's own tail socket (docs/logs.md, "Live tail").
//
// What the search can do itself is handed to it (one device, one session, one module, a set of
// levels, the devices the registry matchers leave); everything else (other matchers, line
// filters) is applied to each line here. So a page is read, filtered, and the next page read
// until `limit` lines pass, within a budget of lines read per request. What the query's regexes
// do is counted and bounded (REGEX_WORK: a 400 past it, per request, and per frame of a tail),
// and a long filtering run pauses now and then so that other requests share the isolate.
import { ApiError } from "../contract/errors";
import { LEVELS, levelNumber } from "../contract/levels";
import type { CountRequest } from "../contract/log-counts";
import type { LogView } from "../contract/log-view";
import {
  allowedLevels,
  DETECTED_LEVEL,
  DEVICE_LABELS,
  exactValue,
  type Labels,
  LOKI_LABELS,
  type LogQuery,
  type LokiLabel,
  matchesLabels,
  matchesLine,
  nanos,
  needsRegistry,
  type RegexBounds,
  RegexWork,
  type StreamLabels,
} from "../contract/logql";
import { runStages } from "../contract/logql-pipeline";
import type { LogSearch } from "../contract/logs";
import { TailFilter } from "../contract/tail-filter";
import { newTailTicket } from "../contract/tail-ticket";
import type { Db } from "../db/client";
import { type DeviceLabelRow, deviceLabelsOf, projectDeviceLabels } from "../db/repos/devices";
import { signingKey } from "../lib/config";
import { utcDay } from "../lib/time";
import { projectHub } from "../stubs/project-hub";
import { narrowTo, type Source, searchScope, searchStream } from "./log-search";
import { projectSessionIds } from "./session-records";

/** Lines read (before line filters) per request at most: a rare line filter over a long range answers what it found. */
export const MAX_SCANNED = 20_000;
/** A search page: the most GET /logs answers at once (and the recent lines a tail starts with). */
const PAGE_LINES = 1000;
/**
 * Lines a query reads from the shards at a step: small enough that every shard in use (64) is
 * asked for the whole step at once (FIRST_FETCH_ROWS, page-merge.ts), so a step costs one call
 * per shard however the lines are spread; a query that needs more lines takes more steps, and a
 * shard is asked again only when its rows run out.
 */
export const SCAN_STEP = 256;
/** The most devices a registry matcher (dsn, device_type, environment, a device_id regex) considers. */
const MAX_REGISTRY_DEVICES = 20_000;
/** The most values label/<name>/values answers. */
const MAX_VALUES = 1000;
/**
 * The regex work one request may do, and one frame of a tail: tests (a line or label value
 * through one regex) and the characters they read, weighted by regex size (RegexWork). An
 * ordinary regex reads a character in tens of ns, so the 20,000 lines a query reads fit; a
 * pattern that defeats re2js's DFA costs ~0.25 µs a weighted character on log text, and up to
 * ~6 µs on text made for it, so a request's worst is seconds, or tens of seconds at most,
 * shared with other requests through PAUSE_EVERY.
 */
export const REGEX_WORK: RegexBounds = { lines: 100_000, chars: 8 * 1024 * 1024 };
/**
 * Regex work after which a filtering run pauses for a macrotask, letting heartbeats and /health
 * through: at worst tens of ms of work, and at best a fraction of one.
 */
const PAUSE_EVERY: RegexBounds = { lines: 1000, chars: 16 * 1024 };

interface LokiStream {
  stream: Labels;
  values: [string, string][];
}

interface Range {
  from: number; // µs, inclusive
  to: number; // µs, exclusive
}

/** The registry labels of the devices a request meets, each read from D1 once. */
export class DeviceLabels {
  private readonly rows = new Map<string, DeviceLabelRow | null>();
  constructor(
    private readonly db: Db,
    private readonly projectId: string,
  ) {}

  add(rows: DeviceLabelRow[]) {
    for (const r of rows) this.rows.set(r.id, r);
  }

  async load(ids: Iterable<string>): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.rows.has(id));
    if (missing.length === 0) return;
    for (const id of missing) this.rows.set(id, null);
    this.add(await deviceLabelsOf(this.db, this.projectId, missing));
  }

  /** A line's stream labels. */
  of(line: Pick<LogView, "device_id" | "session_id" | "module" | "level">): StreamLabels {
    const device = this.rows.get(line.device_id);
    return {
      device_id: line.device_id,
      ...(device ? { dsn: device.dsn, device_type: device.deviceType, environment: device.environment } : {}),
      ...(line.session_id !== null ? { session_id: line.session_id } : {}),
      module: line.module,
      level: line.level,
    };
  }
}

const deviceOnly = (d: DeviceLabelRow): StreamLabels => ({
  device_id: d.id,
  dsn: d.dsn,
  device_type: d.deviceType,
  environment: d.environment,
});
const deviceMatchers = (q: LogQuery): LogQuery => ({
  matchers: q.matchers.filter((m) => DEVICE_LABELS.includes(m.label)),
  filters: [],
  stages: [],
});

/** Whether the search applies this matcher itself, so no line needs checking for it here. */
export const pushed = (q: LogQuery, label: LokiLabel) =>
  label === "level" ||
  DEVICE_LABELS.includes(label) ||
  ((label === "session_id" || label === "module") && exactValue(q, label) !== undefined);

export interface Passed {
  /** The stream's labels, with those the pipeline extracted. */
  labels: Labels;
  line: LogView;
  /** The line as the pipeline left it (line_format, decolorize). */
  text: string;
}

/**
 * The lines that pass the query, with their labels, up to `room` of them; `detectedLevel` gives
 * each line Loki 3's detected_level before the pipeline (metric queries group by it). The regex
 * work is counted in `work` (a 400 past its bounds); after each PAUSE_EVERY of it the run pauses,
 * since workerd serves nothing else while a request computes.
 */
export async function passing(
  q: LogQuery,
  lines: LogView[],
  labels: DeviceLabels,
  work: RegexWork,
  opts: { room?: number; detectedLevel?: boolean } = {},
): Promise<Passed[]> {
  const out: Passed[] = [];
  const room = opts.room ?? Infinity;
  let pauseAt = { lines: work.lines + PAUSE_EVERY.lines, chars: work.chars + PAUSE_EVERY.chars };
  for (const line of lines) {
    if (out.length >= room) break;
    const l: Labels = labels.of(line);
    if (opts.detectedLevel) l[DETECTED_LEVEL] = line.level.toLowerCase();
    if (matchesLabels(q, l, work) && matchesLine(q, line.message, work)) {
      const run =
        q.stages.length === 0 ? { line: line.message, labels: l } : runStages(q.stages, line.message, l, work);
      if (run) out.push({ labels: run.labels, line, text: run.line });
    }
    if (work.lines >= pauseAt.lines || work.chars >= pauseAt.chars) {
      pauseAt = { lines: work.lines + PAUSE_EVERY.lines, chars: work.chars + PAUSE_EVERY.chars };
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
  return out;
}

/** Lines streamed together, in the order given. */
function toStreams(lines: Passed[]): LokiStream[] {
  const streams = new Map<string, LokiStream>();
  for (const { labels, line, text } of lines) {
    const key = JSON.stringify(labels);
    let s = streams.get(key);
    if (!s) streams.set(key, (s = { stream: labels, values: [] }));
    s.values.push([nanos(line.timestamp_us), text]);
  }
  return [...streams.values()];
}

/**
 * Where a query's lines are: the shards to ask (narrowed to the devices its registry matchers leave) and what
 * the search filters itself.
 */
export interface LokiScope {
  sources: Source[];
  search: Pick<LogSearch, "project_id" | "device_id" | "session_id" | "module" | "level">;
}

/**
 * The scope of a query's selector; null when no line can match (no level left, no device, a device or session
 * of no project's).
 */
export async function lokiScope(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  q: LogQuery,
  labels: DeviceLabels,
  work: RegexWork,
): Promise<LokiScope | null> {
  const levels = allowedLevels(q);
  if (levels.length === 0) return null;
  let allowed: Set<string> | null = null;
  if (needsRegistry(q)) {
    const registry = await projectDeviceLabels(db, projectId, MAX_REGISTRY_DEVICES);
    labels.add(registry);
    const dq = deviceMatchers(q);
    allowed = new Set(registry.filter((d) => matchesLabels(dq, deviceOnly(d), work)).map((d) => d.id));
    if (allowed.size === 0) return null;
  }
  const deviceId = exactValue(q, "device_id");
  const sessionId = exactValue(q, "session_id");
  let sources: Source[];
  try {
    sources = await searchScope(env, db, orgId, { project_id: projectId, device_id: deviceId, session_id: sessionId });
  } catch (err) {
    // A device or session this project does not have: no lines, as Loki answers for any selector.
    if (err instanceof ApiError && err.code === "not_found") return null;
    throw err;
  }
  if (allowed) sources = narrowTo(sources, allowed);
  if (sources.length === 0) return null;
  return {
    sources,
    search: {
      project_id: projectId,
      device_id: deviceId,
      session_id: sessionId,
      module: exactValue(q, "module"),
      level: levels.length < LEVELS.length ? levels : undefined,
    },
  };
}

/** What the shards count for a selector's scope over [from, to): the filters they apply themselves. */
export function countFilter(scope: LokiScope, range: { from: number; to: number }): CountRequest["filter"] {
  return {
    from: range.from,
    to: range.to,
    levels: scope.search.level?.map(levelNumber),
    module: scope.search.module,
    session_id: scope.search.session_id,
  };
}

/** The index endpoints take a stream selector alone: they answer from counts, which know no line text. */
export function selectorOnly(q: LogQuery, endpoint: string): void {
  if (q.filters.length > 0 || q.stages.length > 0)
    throw new ApiError("bad_request", `${endpoint} takes a stream selector only, without line filters or stages`);
}

export interface QueryAnswer {
  streams: LokiStream[];
  /** Set when the budget of lines read ran out before `limit` lines passed the filters. */
  warning?: string;
}

/**
 * Runs a log query over [from, to): at most `limit` lines, newest first (backward) or oldest
 * first. Its regexes' work counts in `work`, the request's.
 */
export async function lokiQuery(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  q: LogQuery,
  p: Range & { limit: number; direction: "backward" | "forward" },
  work = new RegexWork(REGEX_WORK),
): Promise<QueryAnswer> {
  const labels = new DeviceLabels(db, projectId);
  if (p.from >= p.to) return { streams: [] };
  const scope = await lokiScope(env, db, orgId, projectId, q, labels, work);
  if (!scope) return { streams: [] };
  const { sources } = scope;
  const postFiltered = q.filters.length > 0 || q.stages.length > 0 || q.matchers.some((m) => !pushed(q, m.label));
  const search: Omit<LogSearch, "limit" | "cursor"> = {
    ...scope.search,
    from: p.from,
    to: p.to,
    order: p.direction === "backward" ? "desc" : "asc",
  };
  // One merge for the whole query: each shard is asked again only when its rows run out.
  const stream = searchStream(env, sources, search, undefined, postFiltered ? SCAN_STEP : Math.min(SCAN_STEP, p.limit));
  if (!stream) return { streams: [] };
  const found: Passed[] = [];
  let scanned = 0;
  for (;;) {
    const want = postFiltered ? SCAN_STEP : Math.min(SCAN_STEP, p.limit - found.length);
    const page = await stream.next(Math.min(want, MAX_SCANNED - scanned));
    scanned += page.rows.length;
    await labels.load(page.rows.map((l) => l.device_id));
    found.push(...(await passing(q, page.rows, labels, work, { room: p.limit - found.length })));
    if (found.length >= p.limit || (page.rows.length < want && !page.stop)) break;
    if (scanned >= MAX_SCANNED) {
      return {
        streams: toStreams(found),
        warning: `fleetbeat read ${scanned} lines for this query and stopped with ${found.length} matching: narrow the time range or add label matchers to see older matches`,
      };
    }
  }
  return { streams: toStreams(found) };
}

/** Distinct label sets of the streams a selector has in the range (for /series): read from its latest lines. */
export async function lokiSeries(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  queries: LogQuery[],
  range: Range,
): Promise<Labels[]> {
  const seen = new Map<string, Labels>();
  const work = new RegexWork(REGEX_WORK);
  for (const q of queries) {
    const { streams } = await lokiQuery(
      env,
      db,
      orgId,
      projectId,
      q,
      { ...range, limit: PAGE_LINES, direction: "backward" },
      work,
    );
    for (const s of streams) seen.set(JSON.stringify(s.stream), s.stream);
  }
  return [...seen.values()];
}

/** The label names; every stream has device_id, module and level, and the registry's labels. */
export const lokiLabelNames = (): string[] => [...LOKI_LABELS].sort();

/** The values a label has in the project (in the range, where that is known), narrowed by the selector's matchers. */
export async function lokiLabelValues(
  env: Env,
  db: Db,
  projectId: string,
  name: string,
  range: Range,
  q: LogQuery | null,
): Promise<string[]> {
  const label = (LOKI_LABELS as readonly string[]).includes(name) ? (name as LokiLabel) : null;
  if (!label) return [];
  const matchers = (q?.matchers ?? []).filter((m) => m.label === label);
  const work = new RegexWork(REGEX_WORK);
  const keep = (values: Iterable<string>) =>
    [...new Set(values)]
      .filter((v) => matchers.every((m) => m.test(v, work)))
      .sort()
      .slice(0, MAX_VALUES);
  if (label === "level") return LEVELS.filter((l) => matchers.every((m) => m.test(l)));
  if (DEVICE_LABELS.includes(label)) {
    const registry = await projectDeviceLabels(db, projectId, MAX_REGISTRY_DEVICES);
    const dq = q ? deviceMatchers(q) : { matchers: [], filters: [] };
    return keep(
      registry
        .map(deviceOnly)
        .filter((d) => matchesLabels(dq, d, work))
        .map((d) => d[label] ?? ""),
    );
  }
  if (label === "session_id") {
    return keep(
      await projectSessionIds(
        env,
        projectId,
        { from: Math.floor(range.from / 1000), to: Math.ceil(range.to / 1000) },
        MAX_VALUES,
      ),
    );
  }
  // Modules: the project's daily tallies of the range's days (counted by day of receipt).
  const fromDay = utcDay(range.from / 1000);
  const toDay = utcDay(Math.max(range.from, range.to - 1) / 1000);
  const overview = await projectHub(env, projectId).overview(fromDay, toDay, MAX_VALUES);
  return keep(overview.modules_by_lines.map((r) => r.key));
}

// The live tail.

/** Lines a viewer may have unacknowledged at the project; the bridge acknowledges each frame once it passed it on. */
const TAIL_WINDOW = 100;
/**
 * The close code of a tail whose query is refused after it opened (its regexes passed REGEX_WORK): the 400 a
 * query gets.
 */
const CLOSE_REFUSED = 4400;

/**
 * What the project's tail can filter itself: one device, session, module; the levels; a case-insensitive text
 * every |= line holds.
 */
function tailFilterOf(q: LogQuery): TailFilter {
  const levels = allowedLevels(q);
  const level = levels.length < LEVELS.length ? { level: levels } : {};
  // Only printable ASCII: a case-insensitive match of it holds wherever the exact text is.
  const text = q.filters.find(
    (f) => f.op === "|=" && f.values.length === 1 && f.value.trim() !== "" && /^[\x20-\x7e]*$/.test(f.value),
  );
  const wanted = {
    device_id: exactValue(q, "device_id"),
    session_id: exactValue(q, "session_id"),
    module: exactValue(q, "module"),
    q: text?.value,
    ...level,
  };
  // A value the tail's own filter would refuse (too long, not an id) is left to the bridge.
  const parsed = TailFilter.safeParse(Object.fromEntries(Object.entries(wanted).filter(([, v]) => v !== undefined)));
  return parsed.success ? parsed.data : level;
}

/** The Loki tail frame for some lines: one entry per stream. */
const tailFrame = (streams: LokiStream[]) => JSON.stringify({ streams, dropped_entries: null });

/**
 * Opens the Loki tail: a WebSocket whose first frame holds the latest `limit` lines since
 * `start` (oldest first), then each new line the query matches as the project's tail offers
 * it. The Worker holds both sockets: it opens the project's tail with a ticket it mints for
 * the caller's key (so revoking the key closes the tail), filters and relabels each frame,
 * and acknowledges it upstream once passed on.
 */
export async function openLokiTail(
  env: Env,
  db: Db,
  caller: { orgId: string; keyId: string },
  projectId: string,
  q: LogQuery,
  p: { start: number; limit: number },
): Promise<Response> {
  const hub = projectHub(env, projectId);
  const { secret } = await newTailTicket(projectId, signingKey(env));
  await hub.mintTicket(secret, caller);
  const url = new URL("https://project-hub/tail");
  url.search = new URLSearchParams({ ticket: secret, window: String(TAIL_WINDOW) }).toString();
  const res = await hub.fetch(
    new Request(url, {
      headers: { upgrade: "websocket", "x-tail-filter": encodeURIComponent(JSON.stringify(tailFilterOf(q))) },
    }),
  );
  const upstream = res.webSocket;
  if (!upstream)
    throw new ApiError(
      res.status === 429 ? "rate_limited" : "unauthorized",
      `the project's live tail refused the stream (${res.status})`,
    );
  upstream.accept();
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  server.accept();

  const labels = new DeviceLabels(db, projectId);
  const backfilled = new Set<string>();
  let closed = false;
  const closeBoth = (code: number, reason: string) => {
    if (closed) return;
    closed = true;
    // 1005 and 1006 are reported, never sent.
    const sendable = code === 1000 || (code >= 3000 && code <= 4999) ? code : 1011;
    for (const ws of [server, upstream]) {
      try {
        ws.close(sendable, reason.slice(0, 120));
      } catch {
        // already closed
      }
    }
  };

  // A query past its regex work ends the tail with the 400's message; anything else is ours.
  const stop = (what: string) => (err: unknown) => {
    if (err instanceof ApiError && err.code === "bad_request") return closeBoth(CLOSE_REFUSED, err.message);
    console.error(`loki tail ${what} failed`, err);
    closeBoth(1011, `${what} failed`);
  };

  // Frames are handled one after another (each may read the registry), the backfill first.
  let chain: Promise<void> = (async () => {
    const now = Date.now() * 1000;
    const { streams } = await lokiQuery(env, db, caller.orgId, projectId, q, {
      from: p.start,
      to: now + 1,
      limit: p.limit,
      direction: "backward",
    });
    for (const s of streams) s.values.reverse();
    // The backfill's lines may be offered live too, by the tail opened just before it.
    const recent = new Set(streams.flatMap((s) => s.values.map(([ts, line]) => `${ts}\u0000${line}`)));
    if (recent.size > 0 && !closed) server.send(tailFrame(streams));
    for (const key of recent) backfilled.add(key);
  })().catch(stop("backfill"));

  const relay = async (frame: { type?: string; seq?: number; logs?: LogView[] }) => {
    if (frame.type !== "logs" || !Array.isArray(frame.logs)) return;
    await labels.load(frame.logs.map((l) => l.device_id));
    const fresh =
      backfilled.size > 0
        ? frame.logs.filter((line) => !backfilled.has(`${nanos(line.timestamp_us)}\u0000${line.message}`))
        : frame.logs;
    // A tail has no end, so its regex work is bounded per frame (at most 500 lines) rather than in all.
    const passed = await passing(q, fresh, labels, new RegexWork(REGEX_WORK));
    if (passed.length > 0 && !closed) server.send(tailFrame(toStreams(passed)));
    if (typeof frame.seq === "number" && !closed) upstream.send(JSON.stringify({ type: "ack", seq: frame.seq }));
  };

  upstream.addEventListener("message", (e) => {
    let frame: { type?: string; seq?: number; logs?: LogView[] };
    try {
      frame = JSON.parse(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer));
    } catch {
      return;
    }
    chain = chain.then(() => relay(frame)).catch(stop("relay"));
  });
  upstream.addEventListener("close", (e) => closeBoth(e.code, e.reason));
  upstream.addEventListener("error", () => closeBoth(1011, "the project's tail failed"));
  // Loki's tail reads nothing from its client; a closing client closes the project's tail.
  server.addEventListener("close", (e) => closeBoth(e.code, e.reason));
  server.addEventListener("error", () => closeBoth(1011, "client error"));
  return new Response(null, { status: 101, webSocket: client });
}
