// A small device agent for fleetbeat: registration, heartbeats, crash-safe log shipping and
// commands over HTTPS (or the device socket). Runs wherever fetch does (Node 18+, Deno, Bun, a Worker).
//
//   const agent = new FleetbeatAgent({ backendUrl, deviceKey, spool: new FileSpool(fs, "/var/lib/fleetbeat") });
//   agent.log("ERROR", "arm", "gripper stalled", { context: { joint: 3 } });
//   await agent.flush();           // or agent.start(): sends as the send policy says, and heartbeats
import type { AckStatus } from "../src/contract/commands";
import { ERROR_STATUS, type ErrorCode } from "../src/contract/errors.ts";
import { type Level, levelNumber } from "../src/contract/levels.ts";
import type { LOG_UPLOAD } from "../src/contract/limits";
import type { ReportedStatus } from "../src/contract/presence";
// With its extension: Node runs this file as it is (agent/README.md), and resolves no other way.
import { Backoff, type BackoffOptions, serverDelayMs } from "./backoff.ts";
import { type SendMode, type SendPolicyOptions, SendScheduler, type ServerHint } from "./send-policy.ts";
import type { DeviceSocket, SocketAnswer } from "./socket.ts";
import { jsonBytes, type Spool, type SpoolLine } from "./spool.ts";

/**
 * Answers that say the batch itself is wrong, or (409) that its session belongs to another
 * device: sending it again would not help. A 413 is first split into halves.
 */
const REFUSED = new Set([400, 409, 413, 415]);

/** The server's log_upload when the agent is not given the registration's (src/contract/limits.ts). */
const SERVER_LIMITS: typeof LOG_UPLOAD = { max_lines: 5000, max_bytes: 5 * 1024 * 1024 };
/** Room under max_bytes for what a batch holds besides its lines: its batch_id and session_id. */
const ENVELOPE_BYTES = 4 * 1024;
/**
 * Batches larger than this go by HTTP even when the socket is open: a WebSocket message is at most 1 MiB on
 * Workers.
 */
const SOCKET_BATCH_BYTES = 900 * 1024;

/** What the agent needs of the device socket (agent/socket.ts); tests hand it one of their own. */
export type AgentSocket = Pick<DeviceSocket, "open" | "request" | "onPush">;

/** A heartbeat's answer; `live` and `send_interval_s` only from a server that sends them. */
export interface HeartbeatAnswer {
  server_time: string;
  pending_commands: number;
  live?: boolean;
  send_interval_s?: number;
}

/** What the server answered for one batch, by HTTP or over the socket. */
interface Answer {
  status: number;
  body: any;
  /** How long the server asked the agent to wait (Retry-After, a quota's resets_at). */
  delayMs?: number;
}

export interface Registration {
  device_id: string;
  device_key: string;
  project_id: string;
  heartbeat_interval_ms: number;
  log_upload: { max_lines: number; max_bytes: number };
}

export interface AgentOptions {
  /** The server's origin, e.g. https://fleet.example.com (the capsule's backend_url). */
  backendUrl: string;
  deviceKey: string;
  spool: Spool;
  /** Lines per batch (1000 by default); a segment is sealed when it has this many. */
  batchLines?: number;
  /** Bytes of a batch's lines as JSON; a segment is sealed before a line would take it past
   *  this. By default log_upload.max_bytes less a few KiB for the rest of the batch. */
  batchBytes?: number;
  /** The registration's log_upload: batches stay within it. Without it, the server's defaults. */
  logUpload?: Registration["log_upload"];
  /** The session lines are logged in from the start; startSession and endSession change it. */
  sessionId?: string;
  /** Gzip batches sent by HTTP (true by default). */
  gzip?: boolean;
  /** How long to wait after a failed delivery; `false` retries at every flush (tests). */
  backoff?: BackoffOptions | false;
  /** The device socket: while it is open, batches and heartbeats go over it. */
  socket?: AgentSocket;
  fetch?: (request: Request) => Promise<Response>;
  /** When lines are sent (agent/send-policy.ts): every 60 s, sooner when it matters. */
  send?: SendPolicyOptions;
  /** The clock the send policy reads (tests). */
  clock?: () => number;
  /**
   * Called for a batch that is dropped: the backend called it malformed (400, 415), or its
   * session belongs to another device of the project (409), or it is one line too large to
   * send (413). `batchId` is the id it was sent under (a derived one for part of a segment).
   */
  onRejectedBatch?: (batchId: string, status: number, body: unknown) => void;
}

export interface FlushResult {
  sent: number;
  accepted: number;
  duplicates: number;
  /** Lines the backend rejected one by one (bad level, timestamp, …). */
  rejected: number;
  /** True when a batch could not be delivered now (network, 5xx, 429, 401/403): it stays spooled. */
  pending: boolean;
  /**
   * When pending: the time (ms since the epoch) before which no flush sends, after the server's Retry-After
   * or our backoff.
   */
  retryAt?: number;
  /** When pending: what the last attempt met, e.g. "429 quota_exceeded" or "network: fetch failed". */
  reason?: string;
  /** Lines the spool had to drop while over its bound, reported now as a WARN line of their own. */
  dropped?: number;
}

/** Trades a capsule's registration token for the device's id and key. */
export async function register(
  backendUrl: string,
  body: {
    dsn: string;
    registration_token: string;
    name?: string;
    device_type?: string;
    environment?: string;
    device_info?: Record<string, unknown>;
  },
  fetcher: (request: Request) => Promise<Response> = (r) => fetch(r),
): Promise<Registration> {
  const res = await fetcher(
    new Request(`${backendUrl}/api/v1/fleet/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  const json: any = await res.json();
  if (res.status !== 201)
    throw new Error(`registration failed (${res.status}): ${json?.error?.message ?? "unknown error"}`);
  return json;
}

export class FleetbeatAgent {
  private readonly batchLines: number;
  private readonly batchBytes: number;
  private readonly fetcher: (request: Request) => Promise<Response>;
  private flushing: Promise<FlushResult> | null = null;
  private readonly backoff: Backoff | null;
  private lastFailure = "";
  private timers: ReturnType<typeof setInterval>[] = [];
  private readonly policy: SendScheduler;
  private readonly clock: () => number;
  /** The send loop of startSending(): its timer, when that fires, and who hears each result. */
  private sender: {
    timer: ReturnType<typeof setTimeout> | null;
    at: number;
    onFlush?: (result: FlushResult) => void;
  } | null = null;
  sessionId: string | undefined;
  /** Lines below this level are not spooled (a `log-level` command changes it). */
  minLevel: Level = "DEBUG";

  constructor(private readonly options: AgentOptions) {
    const server = options.logUpload;
    const roomFor = (limits: Registration["log_upload"]) => limits.max_bytes - ENVELOPE_BYTES;
    this.batchLines = Math.min(options.batchLines ?? 1000, server?.max_lines ?? Infinity);
    this.batchBytes = Math.min(
      options.batchBytes ?? roomFor(server ?? SERVER_LIMITS),
      server ? roomFor(server) : Infinity,
    );
    this.fetcher = options.fetch ?? ((r) => fetch(r));
    this.sessionId = options.sessionId;
    this.backoff = options.backoff === false ? null : new Backoff(options.backoff);
    this.clock = options.clock ?? Date.now;
    this.policy = new SendScheduler(options.send);
    // Lines a previous process left in the spool (a crash, an outage) go at once.
    const spool = options.spool;
    const left = spool.openCount() + spool.sealed().length;
    if (left > 0) this.policy.logged(this.clock(), spool.openBytes(), true, left);
    options.socket?.onPush((frame) => {
      if (frame.type === "command") this.commandReceived(frame.command.id);
      else this.heard(frame);
    });
  }

  /**
   * Spools one line at once, in the current session (it survives a crash from here on). Seals
   * the open segment first if the line would take it past batchBytes, and after if it is full.
   */
  log(
    level: Level,
    module: string,
    message: string,
    extra: Partial<Omit<SpoolLine, "level" | "module" | "message" | "session_id">> = {},
  ): void {
    if (levelNumber(level) < levelNumber(this.minLevel)) return;
    const spool = this.options.spool;
    const line: SpoolLine = { timestamp_us: extra.timestamp_us ?? Date.now() * 1000, level, module, message, ...extra };
    if (this.sessionId) line.session_id = this.sessionId;
    const bytes = jsonBytes(line);
    if (spool.openCount() > 0 && spool.openBytes() + bytes > this.batchBytes) spool.seal();
    spool.append(line);
    if (spool.openCount() >= this.batchLines) spool.seal();
    const urgent = level === "ERROR" || level === "FATAL";
    const now = this.clock();
    this.policy.logged(now, bytes, urgent);
    // The loop's timer moves only sooner: for an error, a first line, or a spool full enough to go.
    if (urgent || this.sender?.timer === null || this.policy.due(now)) this.wake();
  }

  /** When the send policy would send next (ms since the epoch), or null while nothing waits. */
  nextSendAt(now = this.clock()): number | null {
    return this.policy.nextSendAt(now);
  }

  /** How long a line may wait now, and why: live, a command, the server's pace, or the agent's own. */
  pace(now = this.clock()): { intervalMs: number; mode: SendMode } {
    return this.policy.pace(now);
  }

  /** A command arrived (pushed, or listed by commands()): lines go every second until it is acknowledged. */
  private commandReceived(commandId: string): void {
    this.policy.commandReceived(commandId);
    this.wake(true);
  }

  /** Takes what the server said about watching this device (a heartbeat's or a batch's answer, a pushed frame). */
  private heard(hint: ServerHint): void {
    if (this.policy.heard(hint)) this.wake(true);
  }

  /**
   * Sends every spooled line, oldest segment first, each under its own batch_id. A segment
   * leaves the spool only after the backend answered for all of it, so a crash anywhere means
   * a resend that the backend recognises as a duplicate. One flush runs at a time.
   */
  flush(opts: { force?: boolean } = {}): Promise<FlushResult> {
    if (this.flushing) return this.flushing;
    this.policy.sendStarted(this.clock());
    this.flushing = this.sendAll(opts.force ?? false)
      .then(
        (result) => {
          this.policy.sendFinished(this.clock(), result);
          return result;
        },
        (err) => {
          this.policy.sendFinished(this.clock(), { pending: true });
          throw err;
        },
      )
      .finally(() => {
        this.flushing = null;
        this.wake(true);
      });
    return this.flushing;
  }

  private async sendAll(force: boolean): Promise<FlushResult> {
    const spool = this.options.spool;
    const result: FlushResult = { sent: 0, accepted: 0, duplicates: 0, rejected: 0, pending: false };
    if (this.backoff && !force && !this.backoff.ready()) {
      spool.seal();
      return { ...result, pending: spool.sealed().length > 0, retryAt: this.backoff.retryAt, reason: this.lastFailure };
    }
    if (!(await this.sendSealed(result))) return result;
    // The server is reachable again: now say what the outage cost, if anything.
    if (this.reportDropped(result) && !(await this.sendSealed(result))) return result;
    this.backoff?.succeeded();
    return result;
  }

  /** Sends the sealed segments, oldest first; false when one could not go (it and the rest stay). */
  private async sendSealed(result: FlushResult): Promise<boolean> {
    const spool = this.options.spool;
    spool.seal();
    for (const batchId of spool.sealed()) {
      if (!(await this.sendSegment(batchId, spool.read(batchId), result))) {
        result.pending = true;
        result.reason = this.lastFailure;
        result.retryAt = this.backoff?.retryAt;
        return false;
      }
      spool.remove(batchId);
    }
    return true;
  }

  /**
   * Lines the spool dropped to stay within its bound are not lost silently: a WARN line says
   * how many, sent with the next flush that can reach the server. It is spooled before the
   * count is cleared, so a crash in between reports the drop twice rather than never.
   */
  private reportDropped(result: FlushResult): boolean {
    const spool = this.options.spool;
    const dropped = spool.dropped();
    if (dropped === 0) return false;
    const sessionId = this.sessionId;
    this.sessionId = undefined;
    this.log(
      "WARN",
      "fleetbeat-agent",
      `dropped ${dropped} lines: the spool passed its bound while the server could not be reached`,
      {
        context: { dropped_lines: dropped },
      },
    );
    this.sessionId = sessionId;
    spool.forgetDropped(dropped);
    result.dropped = dropped;
    return true;
  }

  /**
   * Sends a segment's lines, one batch per session they were logged in. A segment of one
   * session goes under its own id; otherwise each session's lines go under `<id>.s<n>`, in the
   * order the sessions first appear, so a resend derives the same ids. False: keep it for later.
   */
  private async sendSegment(batchId: string, lines: SpoolLine[], result: FlushResult): Promise<boolean> {
    const bySession = new Map<string | undefined, SpoolLine[]>();
    for (const { session_id, ...line } of lines) {
      const group = bySession.get(session_id) ?? [];
      group.push(line);
      bySession.set(session_id, group);
    }
    let n = 0;
    for (const [sessionId, group] of bySession) {
      const id = bySession.size === 1 ? batchId : `${batchId}.s${n++}`;
      if (!(await this.sendBatch(id, sessionId, group, result))) return false;
    }
    return true;
  }

  /**
   * Sends one batch. A batch the backend finds too large goes again as two halves, `<id>.0`
   * and `<id>.1` (and so on down), until only a line too large on its own is left to drop.
   * False: keep it for later (network, 5xx, 429, a refused key).
   */
  private async sendBatch(
    batchId: string,
    sessionId: string | undefined,
    logs: SpoolLine[],
    result: FlushResult,
  ): Promise<boolean> {
    const batch = { batch_id: batchId, ...(sessionId ? { session_id: sessionId } : {}), logs };
    let answer: Answer;
    try {
      answer = await this.deliver(batch);
    } catch (err) {
      this.failed(`network: ${(err as Error).message}`);
      return false;
    }
    const { status, body } = answer;
    const ok = status >= 200 && status < 300;
    if (!ok && !REFUSED.has(status)) {
      this.failed(`${status} ${body?.error?.code ?? ""}`.trim(), answer.delayMs);
      return false;
    }
    if (status === 413 && logs.length > 1) {
      const half = Math.ceil(logs.length / 2);
      return (
        (await this.sendBatch(`${batchId}.0`, sessionId, logs.slice(0, half), result)) &&
        (await this.sendBatch(`${batchId}.1`, sessionId, logs.slice(half), result))
      );
    }
    if (ok) {
      this.heard(body ?? {});
      result.sent += logs.length;
      result.accepted += body.accepted;
      result.rejected += body.rejected.length;
      if (body.duplicate) result.duplicates++;
    } else {
      this.options.onRejectedBatch?.(batchId, status, body);
    }
    return true;
  }

  private failed(reason: string, serverDelay?: number): void {
    this.lastFailure = reason;
    this.backoff?.failed(serverDelay);
  }

  /**
   * One batch to the server: over the device socket while it is open and the batch fits a message, else by
   * HTTP (gzipped).
   */
  private async deliver(batch: { batch_id: string; session_id?: string; logs: SpoolLine[] }): Promise<Answer> {
    const json = JSON.stringify(batch);
    const socket = this.options.socket;
    // Up to 3 bytes per UTF-16 unit: the byte count is taken only when the length alone cannot settle it.
    if (
      socket?.open &&
      (json.length * 3 < SOCKET_BATCH_BYTES || new TextEncoder().encode(json).length < SOCKET_BATCH_BYTES)
    ) {
      try {
        return answerOf(await socket.request({ type: "logs", ...batch }));
      } catch {
        // The socket closed under the batch: HTTP takes it, under the same batch_id.
      }
    }
    const gzip = this.options.gzip ?? true;
    const res = await this.fetcher(
      new Request(`${this.options.backendUrl}/api/v1/logs/ingest`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${this.options.deviceKey}`,
          "content-type": "application/json",
          ...(gzip ? { "content-encoding": "gzip" } : {}),
        },
        body: gzip ? await gzipped(json) : json,
      }),
    );
    const body = await res.json().catch(() => null);
    return { status: res.status, body, delayMs: serverDelayMs(res.headers.get("retry-after"), body) };
  }

  /**
   * One heartbeat, over the socket while it is open, else by HTTP. Its answer may change the send pace (live,
   * send_interval_s).
   */
  async heartbeat(body: { status?: ReportedStatus; metrics?: Record<string, number> } = {}): Promise<HeartbeatAnswer> {
    const beat = { ...body, ...(this.sessionId ? { session_id: this.sessionId } : {}) };
    let answer: HeartbeatAnswer | undefined;
    if (this.options.socket?.open) {
      const frame = await this.options.socket.request({ type: "heartbeat", ...beat }).catch(() => null);
      if (frame?.type === "ack") answer = frame as unknown as HeartbeatAnswer;
    }
    if (!answer) {
      const res = await this.call("POST", "/fleet/heartbeat", beat);
      if (!res.ok) throw new Error(`heartbeat failed (${res.status})`);
      answer = (await res.json()) as HeartbeatAnswer;
    }
    this.heard(answer);
    return answer;
  }

  async startSession(sessionId: string, name = sessionId) {
    const res = await this.call("POST", "/sessions", { session_id: sessionId, name });
    if (res.status !== 201 && res.status !== 200) throw new Error(`session failed (${res.status})`);
    this.sessionId = sessionId;
  }

  async endSession(status: "completed" | "failed" | "aborted") {
    if (!this.sessionId) return;
    await this.flush();
    const res = await this.call("PATCH", `/sessions/${encodeURIComponent(this.sessionId)}`, { status });
    if (!res.ok) throw new Error(`ending the session failed (${res.status})`);
    this.sessionId = undefined;
  }

  /** Commands queued for this device; the backend marks them delivered. */
  async commands(deviceId: string): Promise<{ id: string; command: string; params: unknown }[]> {
    const res = await this.call("GET", `/fleet/devices/${deviceId}/commands`);
    if (!res.ok) throw new Error(`command poll failed (${res.status})`);
    const commands: { id: string; command: string; params: unknown }[] = ((await res.json()) as any).commands;
    for (const c of commands) this.commandReceived(c.id);
    return commands;
  }

  /** Acknowledges a command; from then the send pace slows down again, after a few seconds (commandLingerMs). */
  async ack(deviceId: string, commandId: string, status: AckStatus, result?: Record<string, unknown>) {
    try {
      if (this.options.socket?.open) {
        const answer = await this.options.socket
          .request({ type: "command_ack", command_id: commandId, status, ...(result ? { result } : {}) })
          .catch(() => null);
        if (answer?.type === "ack" || (answer?.type === "error" && answer.error.code === "conflict")) return;
      }
      const res = await this.call("POST", `/fleet/devices/${deviceId}/commands/${commandId}/ack`, {
        status,
        ...(result ? { result } : {}),
      });
      if (!res.ok && res.status !== 409) throw new Error(`ack failed (${res.status})`);
    } finally {
      // Answered, or tried: what the command logged goes now.
      this.policy.commandAnswered(commandId, this.clock());
      this.wake(true);
    }
  }

  /**
   * Heartbeats every `heartbeatMs` and sends as the send policy says (startSending) until stop().
   * `flushMs` instead flushes on a fixed timer, as the agent did before the policy. Errors wait for the next try.
   */
  start(opts: { flushMs?: number; heartbeatMs?: number } = {}): void {
    if (opts.flushMs === undefined) this.startSending();
    else this.timers.push(setInterval(() => void this.flush().catch(() => {}), opts.flushMs));
    this.timers.push(setInterval(() => void this.heartbeat().catch(() => {}), opts.heartbeatMs ?? 30_000));
  }

  /**
   * Sends whenever the send policy says, until stop(): a timer for the policy's next time, moved
   * sooner when a line, a command or the server calls for it. `onFlush` hears each result.
   */
  startSending(opts: { onFlush?: (result: FlushResult) => void } = {}): void {
    if (this.sender?.timer) clearTimeout(this.sender.timer);
    this.sender = { timer: null, at: Infinity, onFlush: opts.onFlush };
    this.wake(true);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.sender?.timer) clearTimeout(this.sender.timer);
    this.sender = null;
  }

  /**
   * Sets the send loop's timer for the policy's next time, if that is sooner than the one set (or `reset`:
   * whatever it is).
   */
  private wake(reset = false): void {
    const sender = this.sender;
    if (!sender || this.flushing) return; // a flush under way calls again when it ends
    const now = this.clock();
    const at = this.policy.nextSendAt(now) ?? Infinity;
    if (!reset && sender.timer !== null && at >= sender.at) return;
    if (sender.timer !== null) clearTimeout(sender.timer);
    sender.timer = null;
    sender.at = at;
    if (at === Infinity) return;
    sender.timer = setTimeout(
      () => {
        sender.timer = null;
        void this.flush().then(
          (result) => sender.onFlush?.(result),
          () => undefined,
        );
      },
      Math.max(0, at - now),
    );
  }

  private call(method: string, path: string, body?: unknown): Promise<Response> {
    return this.fetcher(
      new Request(`${this.options.backendUrl}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.options.deviceKey}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
  }
}

/** A socket's answer as the HTTP answer it stands for: an ack is a 200, an error frame its code's status. */
function answerOf(frame: SocketAnswer): Answer {
  if (frame.type === "ack") return { status: 200, body: frame };
  const body = { error: frame.error };
  return { status: ERROR_STATUS[frame.error.code as ErrorCode] ?? 500, body, delayMs: serverDelayMs(null, body) };
}

async function gzipped(text: string): Promise<ArrayBuffer> {
  return new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
}
