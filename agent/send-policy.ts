// When the agent sends its logs. Every request the server takes and every row it writes is
// billed (issue 21), so lines wait and go together: a line waits at most `intervalMs` (60 s),
// and 1,000 lines or 256 KiB waiting go at once. Some moments cannot wait, and then the agent
// sends every second: someone watches the device live (the server says so), a command is being
// answered, or an ERROR or FATAL line is waiting (that one goes at once). The server may ask for
// another pace (`send_interval_s`); the agent follows it, never slower than its own interval.
//
// Pure: every method takes the time, so tests drive it with a clock of their own.

export interface SendPolicyOptions {
  /**
   * The longest a line waits when nothing calls for sooner (60 s); the server's send_interval_s is followed
   * up to this.
   */
  intervalMs?: number;
  /** The pace while live, while a command is answered, and of error lines (1 s); nothing waits less on a timer. */
  fastMs?: number;
  /** Lines waiting, or bytes of them, that go at once. */
  maxLines?: number;
  maxBytes?: number;
  /** How long the pace stays fast after a command's acknowledgement: what the command set off shows soon. */
  commandLingerMs?: number;
}

/**
 * What a heartbeat answer, an ingest answer or a `live` frame says about this device (fields an older server
 * leaves out).
 */
export interface ServerHint {
  live?: unknown;
  send_interval_s?: unknown;
}

/** Why the pace is what it is now. */
export type SendMode = "live" | "command" | "server" | "own";

export const SEND_DEFAULTS: Required<SendPolicyOptions> = {
  intervalMs: 60_000,
  fastMs: 1000,
  maxLines: 1000,
  maxBytes: 256 * 1024,
  commandLingerMs: 10_000,
};

/** Answered command ids remembered, so a second delivery of one does not hold the pace fast. */
const ANSWERED_KEPT = 100;

interface Waiting {
  lines: number;
  bytes: number;
  /** When the oldest of them was logged. */
  oldestAt: number;
  /** When the first ERROR or FATAL line among them was logged. */
  urgentAt: number | null;
}

const none = (): Waiting => ({ lines: 0, bytes: 0, oldestAt: Infinity, urgentAt: null });

export class SendScheduler {
  private readonly options: Required<SendPolicyOptions>;
  private waiting = none();
  /** What the send under way took; it comes back to `waiting` if the send could not deliver it. */
  private inFlight: Waiting | null = null;
  private lastSendAt = -Infinity;
  /** After a failed send: when the backoff (or the server's Retry-After) lets the next one go. */
  private retryAt: number | null = null;
  private live = false;
  private serverIntervalMs: number | undefined;
  private readonly pendingCommands = new Set<string>();
  private readonly answered: string[] = [];
  private lingerUntil = -Infinity;

  constructor(options: SendPolicyOptions = {}) {
    const o = { ...SEND_DEFAULTS, ...options };
    this.options = { ...o, fastMs: Math.min(o.fastMs, o.intervalMs) };
  }

  /** `lines` lines of `bytes` were spooled at `now`; `urgent`: one of them is an ERROR or FATAL line. */
  logged(now: number, bytes: number, urgent: boolean, lines = 1): void {
    const w = this.waiting;
    w.lines += lines;
    w.bytes += bytes;
    w.oldestAt = Math.min(w.oldestAt, now);
    if (urgent) w.urgentAt ??= now;
  }

  /** A send begins: it takes everything waiting now. */
  sendStarted(now: number): void {
    this.inFlight = this.waiting;
    this.waiting = none();
    this.lastSendAt = now;
    this.retryAt = null;
  }

  /**
   * The send ended; when `pending`, what it took waits again, until `retryAt` (or a fast beat when the agent
   * does not back off).
   */
  sendFinished(now: number, result: { pending: boolean; retryAt?: number }): void {
    const sent = this.inFlight ?? none();
    this.inFlight = null;
    if (!result.pending) return;
    const w = this.waiting;
    const urgent = [w.urgentAt, sent.urgentAt].filter((t): t is number => t !== null);
    this.waiting = {
      lines: w.lines + sent.lines,
      bytes: w.bytes + sent.bytes,
      oldestAt: Math.min(w.oldestAt, sent.oldestAt),
      urgentAt: urgent.length ? Math.min(...urgent) : null,
    };
    this.retryAt = result.retryAt ?? now + this.options.fastMs;
  }

  /**
   * Takes what the server said. A field left out (an older server) means the agent's own
   * default: not live, its own interval. True when the pace changed.
   */
  heard(hint: ServerHint): boolean {
    const live = hint.live === true;
    const s = hint.send_interval_s;
    const intervalMs = typeof s === "number" && Number.isFinite(s) && s > 0 ? s * 1000 : undefined;
    const changed = live !== this.live || intervalMs !== this.serverIntervalMs;
    this.live = live;
    this.serverIntervalMs = intervalMs;
    return changed;
  }

  /** A command arrived; the pace is fast until it is answered (a command answered already is not taken again). */
  commandReceived(id: string): void {
    if (!this.answered.includes(id)) this.pendingCommands.add(id);
  }

  commandAnswered(id: string, now: number): void {
    this.pendingCommands.delete(id);
    this.answered.push(id);
    if (this.answered.length > ANSWERED_KEPT) this.answered.shift();
    this.lingerUntil = now + this.options.commandLingerMs;
  }

  /** The pace now: how long a line may wait, and why. */
  pace(now: number): { intervalMs: number; mode: SendMode } {
    const { fastMs, intervalMs } = this.options;
    if (this.live) return { intervalMs: fastMs, mode: "live" };
    if (this.pendingCommands.size > 0 || now < this.lingerUntil) return { intervalMs: fastMs, mode: "command" };
    if (this.serverIntervalMs !== undefined)
      return { intervalMs: Math.min(intervalMs, Math.max(fastMs, this.serverIntervalMs)), mode: "server" };
    return { intervalMs, mode: "own" };
  }

  /** When the next send is due (ms since the epoch); null while nothing waits. */
  nextSendAt(now: number): number | null {
    if (this.retryAt !== null) return this.retryAt;
    const w = this.waiting;
    if (w.lines === 0) return null;
    if (w.lines >= this.options.maxLines || w.bytes >= this.options.maxBytes) return now;
    const at = w.oldestAt + this.pace(now).intervalMs;
    // An error goes at once, but a storm of them at most once a fast beat.
    return w.urgentAt === null ? at : Math.min(at, Math.max(w.urgentAt, this.lastSendAt + this.options.fastMs));
  }

  due(now: number): boolean {
    const at = this.nextSendAt(now);
    return at !== null && at <= now;
  }
}
