// How a DeviceHub hands its project what it owes: the sealed usage outbox, at most once a
// second, and, while anyone watches, the lines just accepted for the live tail, at once (see
// ../coalesced.ts). They go to the project's object, or, in a project large enough to fan in,
// to the device's fan-in object (src/contract/fan-in.ts), which answers the same way.
import { type DeliveryAnswer, fanInIndex } from "../../src/contract/fan-in";
import type { StoredLine } from "../../src/contract/log-line";
import type { QuotaState } from "../../src/contract/quota";
import { type LogView, presentLog } from "../../src/contract/log-view";
import { fanInByName, fanInName } from "../../src/stubs/fan-in";
import { projectHub } from "../../src/stubs/project-hub";
import type { ProjectHub } from "../project-hub/hub";
import { Coalesced, TAIL_BUFFER_MAX } from "../coalesced";
import type { Timers } from "../timers";
import type { UsageOutbox } from "../usage-outbox";

const FAN_IN_KEY = "fan_in";

type Who = { deviceId: string; projectId: string };
/** A delivery's receiver, as the device sees it: the project's object or a fan-in object in front of it. */
type Receiver = { deliver: (...args: Parameters<ProjectHub["deliver"]>) => Promise<DeliveryAnswer> };

export class ProjectDelivery {
  /** Accepted batches not yet handed to the tail (memory only; the hot store has them). */
  private pending: { firstId: number; sessionId: string | null; lines: StoredLine[] }[] = [];
  private pendingLines = 0;
  private dropped = 0;
  /** Whether anyone watched the project's tail at the last delivery; unknown counts as yes. */
  private hasViewers = true;
  private readonly sends: Coalesced;

  constructor(
    private readonly env: Env,
    private readonly kv: SyncKvStorage,
    private readonly outbox: UsageOutbox,
    private readonly identity: () => Who | undefined,
    timers: Timers,
    /** Hears what the project says of the monthly quota with each delivery. */
    private readonly onQuota: (state: QuotaState | undefined) => void,
    /** Hears the version of the project's alert rules with each delivery. */
    private readonly onRulesVersion: (version: number | undefined) => Promise<void>,
  ) {
    this.sends = new Coalesced(
      "usage delivery",
      {
        send: (withCounts) => this.deliver(withCounts),
        countsOwed: () => this.outbox.pending(),
        // Lines someone watches go at once.
        urgent: () => this.hasViewers && (this.pendingLines > 0 || this.dropped > 0),
      },
      timers,
    );
  }

  /** Fan-in objects the project last said it uses (0: it takes deliveries itself). */
  private get fanIn(): number {
    return this.kv.get<number>(FAN_IN_KEY) ?? 0;
  }

  private set fanIn(n: number) {
    if (n !== this.fanIn) this.kv.put(FAN_IN_KEY, n);
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

  /** Delivers what is due now and resolves when it is at the project (see Coalesced.kick). */
  kick(): Promise<void> {
    return this.sends.kick();
  }

  /** Delivers everything owed now, through the fan-in object too, and waits (tests settle with it). */
  async flush(): Promise<void> {
    await this.sends.flush();
    const who = this.identity();
    if (who && this.fanIn > 0) await fanInByName(this.env, fanInName(who.projectId, fanInIndex(who.deviceId, this.fanIn))).flush();
  }

  /**
   * Lines go only while someone watches; when the answer says a viewer has just appeared,
   * the lines held back follow at once, so a new viewer misses nothing accepted after it
   * connected.
   */
  private async deliver(withCounts: boolean): Promise<void> {
    const who = this.identity();
    if (!who) return;
    const sealed = withCounts ? this.outbox.seal(this.fanIn) : { rows: [], buckets: [], tallies: [], route: this.fanIn };
    const sendLines = this.hasViewers;
    const batches = this.pending;
    const lineCount = this.pendingLines;
    this.pending = [];
    this.pendingLines = 0;
    const dropped = this.dropped;
    if (sealed.rows.length === 0 && lineCount === 0 && dropped === 0) return;
    this.dropped = 0;
    const to = this.receiver(who, sealed.route);
    try {
      // Lines are presented only when they go: with nobody watching, that work is skipped.
      const answer = await to.deliver(
        who.deviceId,
        sealed.rows,
        sendLines ? present(who.deviceId, batches) : [],
        sendLines ? dropped : 0,
        sealed.buckets,
        sealed.tallies,
      );
      this.onQuota(answer.quota);
      if (sealed.rows.length > 0) this.outbox.delivered(sealed.rows[sealed.rows.length - 1]!.seq);
      this.hasViewers = answer.viewers > 0;
      this.fanIn = answer.fan_in;
      if (!sendLines && answer.viewers > 0 && lineCount > 0) await to.deliver(who.deviceId, [], present(who.deviceId, batches), 0);
      // Delivered: a failure to fetch new alert rules must not send the counts again.
      await this.onRulesVersion(answer.alert_rules).catch((err) => console.error("fetching the project's alert rules failed; the next delivery retries", err));
    } catch (err) {
      // The outbox rows stay for the retry; lines for the tail are gone, so viewers will be told.
      this.dropped += lineCount + dropped;
      throw err;
    }
  }

  /** The project's object, or the device's fan-in object when the project fans in over `route` of them. */
  private receiver(who: Who, route: number): Receiver {
    if (route === 0) return projectHub(this.env, who.projectId);
    const name = fanInName(who.projectId, fanInIndex(who.deviceId, route));
    return { deliver: (...args) => fanInByName(this.env, name).deliver(name, ...args) };
  }
}

function present(deviceId: string, batches: { firstId: number; sessionId: string | null; lines: StoredLine[] }[]): LogView[] {
  return batches.flatMap((b) => b.lines.map((l, i) => presentLog(deviceId, { ...l, id: b.firstId + i, session_id: b.sessionId })));
}
