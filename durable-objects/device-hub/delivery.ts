// How a DeviceHub hands its project what it owes: the sealed usage outbox and, while anyone
// watches, the lines just accepted for the live tail. One delivery runs at a time and carries
// everything owed when it starts; what arrives meanwhile goes together in the next one. A
// failed delivery keeps the outbox for the alarm's retry. Counts of a request that ended early
// (a 4xx after authentication) travel by the alarm, OWED_DELIVERY_MS later.
import type { StoredLine } from "../../src/contract/log-line";
import type { QuotaState } from "../../src/contract/quota";
import { type LogView, presentLog } from "../../src/contract/log-view";
import { projectHub } from "../../src/stubs/project-hub";
import { RETRY_MS, type Timers } from "../timers";
import type { UsageOutbox } from "./outbox";

/** Lines waiting for the live tail beyond this are dropped (and the viewers told how many). */
const TAIL_BUFFER_MAX = 20_000;
const OWED_DELIVERY_MS = 1000;

export class ProjectDelivery {
  /** Accepted batches not yet handed to the tail (memory only; the hot store has them). */
  private pending: { firstId: number; sessionId: string | null; lines: StoredLine[] }[] = [];
  private pendingLines = 0;
  private dropped = 0;
  private running: Promise<void> | null = null;
  /** Deliveries asked for, and how many of those asks a finished delivery has covered. */
  private requested = 0;
  private delivered = 0;
  /** Asks not yet covered, in order: each is answered by the first delivery that started after it. */
  private waiting: { ask: number; covered: () => void }[] = [];
  /** Whether anyone watched the project's tail at the last delivery; unknown counts as yes. */
  private hasViewers = true;
  /** When the alarm should deliver what is still owed (memory only; after a restart, soon). */
  private owedAt: number | null = null;

  constructor(
    private readonly env: Env,
    private readonly outbox: UsageOutbox,
    private readonly identity: () => { deviceId: string; projectId: string } | undefined,
    timers: Timers,
    /** Hears what the project says of the monthly quota with each delivery. */
    private readonly onQuota: (state: QuotaState | undefined) => void,
  ) {
    timers.add({ name: "usage delivery", due: (now) => this.due(now), fire: () => this.kick() });
  }

  private due(now: number): number | null {
    if (!this.outbox.pending()) return (this.owedAt = null);
    return (this.owedAt ??= now + OWED_DELIVERY_MS);
  }

  /** Keeps a committed batch for the tail. */
  addLines(lines: StoredLine[], sessionId: string | null, firstId: number): void {
    this.pending.push({ firstId, sessionId, lines });
    this.pendingLines += lines.length;
    while (this.pendingLines > TAIL_BUFFER_MAX && this.pending.length > 1) {
      const oldest = this.pending.shift()!;
      this.pendingLines -= oldest.lines.length;
      this.dropped += oldest.lines.length;
    }
  }

  /**
   * Asks for a delivery of everything owed so far and resolves once one has carried it, so
   * a request that awaits it answers only when its counts and lines are at the project
   * (live usage, tail within milliseconds). Requests arriving while a delivery is under way
   * share the next one, and each answers as soon as that one is done, not when the run of
   * deliveries ends (under steady load it would not end, and every request would wait for
   * all the others). A failed delivery does not fail the request: the outbox keeps the
   * counts and the alarm retries.
   */
  kick(): Promise<void> {
    const ask = ++this.requested;
    const covered = new Promise<void>((resolve) => this.waiting.push({ ask, covered: resolve }));
    this.running ??= this.run();
    return covered;
  }

  private async run(): Promise<void> {
    try {
      while (this.delivered < this.requested) {
        // Taken before deliver() seals the outbox: every ask up to here has its counts in this delivery.
        const upTo = this.requested;
        try {
          await this.deliver();
        } catch (err) {
          console.error("delivery to the project failed; the alarm retries", err);
          this.owedAt = Date.now() + RETRY_MS;
        }
        this.delivered = upTo;
        while (this.waiting.length > 0 && this.waiting[0]!.ask <= upTo) this.waiting.shift()!.covered();
      }
    } finally {
      this.running = null;
    }
  }

  /** Waits until no delivery is under way. */
  async settle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Lines go only while someone watches; when the answer says a viewer has just appeared,
   * the lines held back follow at once, so a new viewer misses nothing accepted after it
   * connected.
   */
  private async deliver(): Promise<void> {
    const who = this.identity();
    if (!who) return;
    const { rows, buckets: bucketRows, tallies } = this.outbox.seal();
    const sendLines = this.hasViewers;
    const batches = this.pending;
    const lineCount = this.pendingLines;
    this.pending = [];
    this.pendingLines = 0;
    const dropped = this.dropped;
    if (rows.length === 0 && lineCount === 0 && dropped === 0) return;
    this.dropped = 0;
    const hub = projectHub(this.env, who.projectId);
    try {
      // Lines are presented only when they go: with nobody watching, that work is skipped.
      const { viewers, quota } = await hub.deliver(who.deviceId, rows, sendLines ? present(who.deviceId, batches) : [], sendLines ? dropped : 0, bucketRows, tallies);
      this.onQuota(quota);
      if (rows.length > 0) this.outbox.delivered(rows[rows.length - 1]!.seq);
      this.hasViewers = viewers > 0;
      if (!sendLines && viewers > 0 && lineCount > 0) await hub.deliver(who.deviceId, [], present(who.deviceId, batches), 0);
    } catch (err) {
      // The outbox rows stay for the retry; lines for the tail are gone, so viewers will be told.
      this.dropped += lineCount + dropped;
      throw err;
    }
  }
}

function present(deviceId: string, batches: { firstId: number; sessionId: string | null; lines: StoredLine[] }[]): LogView[] {
  return batches.flatMap((b) => b.lines.map((l, i) => presentLog(deviceId, { ...l, id: b.firstId + i, session_id: b.sessionId })));
}
