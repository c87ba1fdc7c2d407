// How a DeviceHub hands its project what it owes: the sealed usage outbox and, while anyone
// watches, the lines just accepted for the live tail. One delivery runs at a time; it waits
// DELIVERY_GATHER_MS to gather what arrives meanwhile, and runs again if more came while it
// was under way. A failed delivery keeps the outbox for the alarm's retry.
import type { StoredLine } from "../src/logs/line";
import { type LogView, presentLog } from "../src/logs/present";
import { projectHub } from "../src/services/project-hub";
import type { UsageOutbox } from "./usage-outbox";

/** Lines waiting for the live tail beyond this are dropped (and the viewers told how many). */
const TAIL_BUFFER_MAX = 20_000;
/** How long a delivery waits for more to carry; bounds calls per device to about 1/this. */
const DELIVERY_GATHER_MS = 20;
export const DELIVERY_RETRY_MS = 5_000;

export class ProjectDelivery {
  /** Accepted batches not yet handed to the tail (memory only; the hot store has them). */
  private pending: { firstId: number; sessionId: string | null; lines: StoredLine[] }[] = [];
  private pendingLines = 0;
  private dropped = 0;
  private running: Promise<void> | null = null;
  private again = false;
  /** Whether anyone watched the project's tail at the last delivery; unknown counts as yes. */
  private hasViewers = true;

  constructor(
    private readonly env: Env,
    private readonly storage: DurableObjectStorage,
    private readonly outbox: UsageOutbox,
    private readonly identity: () => { deviceId: string; projectId: string } | undefined,
  ) {}

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

  /** Starts a delivery unless one is running; then that one runs once more. */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      try {
        await new Promise((r) => setTimeout(r, DELIVERY_GATHER_MS));
        do {
          this.again = false;
          await this.deliver();
        } while (this.again);
      } catch (err) {
        console.error("delivery to the project failed; the alarm retries", err);
        await this.storage.setAlarm(Date.now() + DELIVERY_RETRY_MS);
      } finally {
        this.running = null;
      }
    })();
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
    const rows = this.outbox.seal();
    const sendLines = this.hasViewers;
    const lines = this.takeLines(who.deviceId);
    const dropped = this.dropped;
    if (rows.length === 0 && lines.length === 0 && dropped === 0) return;
    this.dropped = 0;
    const hub = projectHub(this.env, who.projectId);
    try {
      const { viewers } = await hub.deliver(who.deviceId, rows, sendLines ? lines : [], sendLines ? dropped : 0);
      if (rows.length > 0) this.outbox.delivered(rows[rows.length - 1]!.seq);
      this.hasViewers = viewers > 0;
      if (!sendLines && viewers > 0 && lines.length > 0) await hub.deliver(who.deviceId, [], lines, 0);
    } catch (err) {
      // The outbox rows stay for the retry; lines for the tail are gone, so viewers will be told.
      this.dropped += lines.length + dropped;
      throw err;
    }
  }

  private takeLines(deviceId: string): LogView[] {
    const views = this.pending.flatMap((b) => b.lines.map((l, i) => presentLog(deviceId, { ...l, id: b.firstId + i, session_id: b.sessionId })));
    this.pending = [];
    this.pendingLines = 0;
    return views;
  }
}
