// When an object sends what it owes onward (a DeviceHub to its project, a fan-in object to
// its project): one send at a time, counts at most once per interval (a second by default;
// a device's object waits longer, see delivery.ts), lines for the live tail at once. That is
// what keeps the project's object under its ~1,000 requests/s with 10,000 devices
// (docs/scale.md): however often a device is called, its counts reach onward once per
// interval at most; what is owed meanwhile waits, durable in the sender's outbox, and goes
// with the next send. Counts that find the last send an interval old go at once.
import { RETRY_MS, type Timers } from "./timers";

/** Counts go onward at most this often per sender. */
const COUNTS_EVERY_MS = 1000;
/** Lines a sender holds for the live tail beyond this are dropped (and the viewers told how many). */
export const TAIL_BUFFER_MAX = 20_000;
/** Counts owed by a request that ended early (a 4xx after authentication) go by the alarm, this much later. */
const OWED_GRACE_MS = 1000;

export interface Sender {
  /** Sends what is owed: the sealed counts only when `withCounts`. Throws when the receiver cannot be reached. */
  send(withCounts: boolean): Promise<void>;
  /** Whether counts wait in the outbox. */
  countsOwed(): boolean;
  /** Whether something must go at once, whatever the second (lines someone watches). */
  urgent(): boolean;
  /** When counts last went (ms), for a sender that keeps it across restarts; memory decides otherwise. */
  countsSentAt?(): number | undefined;
  /**
   * How late the alarm may send owed counts (ms; 0 by default): for a sender whose own traffic
   * sends them in time anyway (a device socket's heartbeats), so the alarm need not be moved
   * for them each interval and rides on the sender's other alarms (timers.ts).
   */
  countsSlackMs?(): number;
}

export class Coalesced {
  private running: Promise<void> | null = null;
  /** Sends asked for, and how many of those asks a finished send has covered. */
  private requested = 0;
  private delivered = 0;
  /** Asks not yet covered, in order: each is answered by the first send that started after it. */
  private waiting: { ask: number; covered: () => void }[] = [];
  /**
   * Counts may not go before this (ms): a second after the last went, or a retry's wait after a failure.
   * Memory only: after a restart, at once.
   */
  private countsNotBefore = 0;
  /** When the alarm should send what is still owed (memory only). */
  private owedAt: number | null = null;
  /** A flush asked for counts to go now, whatever the interval. */
  private forced = false;

  constructor(
    name: string,
    private readonly sender: Sender,
    timers: Timers,
    /** How often counts may go: a number, or read each time (a test may change it). */
    private readonly every: number | (() => number) = COUNTS_EVERY_MS,
  ) {
    timers.add({
      name,
      due: (now) => this.due(now),
      slack: () => this.sender.countsSlackMs?.() ?? 0,
      fire: () => this.kick(),
    });
  }

  private get everyMs(): number {
    return typeof this.every === "number" ? this.every : this.every();
  }

  /** Counts may not go before this (ms). */
  private notBefore(): number {
    if (this.forced) return 0;
    const sent = this.sender.countsSentAt?.();
    return sent === undefined ? this.countsNotBefore : Math.max(this.countsNotBefore, sent + this.everyMs);
  }

  /** Whether counts would go with a send starting now. */
  countsDue(now = Date.now()): boolean {
    return now >= this.notBefore() && this.sender.countsOwed();
  }

  private due(now: number): number | null {
    if (!this.sender.countsOwed()) return (this.owedAt = null);
    this.owedAt ??= now + OWED_GRACE_MS;
    return Math.max(this.owedAt, this.notBefore());
  }

  /**
   * Asks for a send when one is due now (lines someone watches, or counts whose second has
   * come) and resolves once a send that started after the ask is done. Asks made while a send
   * is under way share the next one. When nothing is due now it resolves at once: the counts
   * go when their turn comes, by the next ask or by the alarm. A failed send does not fail
   * the ask: the outbox keeps the counts and the alarm retries.
   */
  kick(now = Date.now()): Promise<void> {
    const countsDue = now >= this.notBefore() && this.sender.countsOwed();
    if (!countsDue && !this.sender.urgent()) return Promise.resolve();
    const ask = ++this.requested;
    const covered = new Promise<void>((resolve) => this.waiting.push({ ask, covered: resolve }));
    this.running ??= this.run();
    return covered;
  }

  /** Sends everything owed now, whatever the second, and waits for it (tests settle with it). */
  async flush(): Promise<void> {
    this.countsNotBefore = 0;
    this.forced = true;
    try {
      await this.kick();
      await this.settle();
    } finally {
      this.forced = false;
    }
  }

  /** Waits until no send is under way. */
  async settle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async run(): Promise<void> {
    try {
      while (this.delivered < this.requested) {
        // Taken before the send seals the outbox: every ask up to here has its counts in this send.
        const upTo = this.requested;
        const started = Date.now();
        const withCounts = started >= this.notBefore();
        this.forced = false;
        if (withCounts) this.countsNotBefore = started + this.everyMs;
        try {
          await this.sender.send(withCounts);
        } catch (err) {
          console.error("sending to the project failed; the alarm retries", err);
          this.countsNotBefore = Date.now() + RETRY_MS;
        }
        this.delivered = upTo;
        while (this.waiting.length > 0 && this.waiting[0]!.ask <= upTo) this.waiting.shift()!.covered();
      }
    } finally {
      this.running = null;
    }
  }
}
