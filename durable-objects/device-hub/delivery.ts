// How a DeviceHub hands its project what it owes: the counts kept in its state (owed.ts), at
// most once per DELIVERY.everyMs (src/contract/usage.ts) unless a stats read asks for them,
// with the device's presence as of then (last seen, metrics: the project's live picture of the
// fleet, at no row of its own, presence.ts), and, while the device is live (a viewer's filter
// concerns it, tail.ts), the lines its viewers want, at once (see ../coalesced.ts). Counts go to
// the project's object, or, in a project large enough to fan in, to the device's fan-in object
// (src/contract/fan-in.ts), which answers the same way. Lines go straight to the viewer groups
// that want them; through the fan-in object, in a project that fans in, which passes them on to
// the groups.
import { type DeliveryAnswer, fanInIndex } from "../../src/contract/fan-in";
import type { StoredLine } from "../../src/contract/log-line";
import type { PresenceReport } from "../../src/contract/presence";
import { DELIVERY } from "../../src/contract/usage";
import { slotOf } from "../../src/lib/hash";
import { DAY_MS, utcDay } from "../../src/lib/time";
import { fanInByName, fanInName } from "../../src/stubs/fan-in";
import { projectHub } from "../../src/stubs/project-hub";
import { Coalesced } from "../coalesced";
import type { ProjectHub } from "../project-hub/hub";
import type { Kv } from "../storage";
import type { Timers } from "../timers";
import type { LegacyOutbox } from "./legacy-outbox";
import { anyOwed, deliveryOf, type Owed, seal } from "./owed";
import type { DeviceTail } from "./tail";

const FAN_IN_KEY = "fan_in";

type Who = { deviceId: string; projectId: string };
/** Seconds after midnight over which devices deliver the day's last counts. */
const DAY_END_SPREAD_S = 120;
/** A delivery's receiver, as the device sees it: the project's object or a fan-in object in front of it. */
type Receiver = { deliver: (...args: Parameters<ProjectHub["deliver"]>) => Promise<DeliveryAnswer> };

/** What delivering needs of the device's state (state.ts). */
export interface OwedState {
  /** The counts owed; changed in place. */
  owed(): Owed;
  /** The object's storage rows written so far (a seal adds the one row that saves it). */
  rowsWritten(): number;
  /** Saves the state now (one row), as sealing must be kept before the send. */
  save(): void;
  /**
   * The project took the sealed delivery `seq` at `at`: kept with the next save, not one of its own (hub.ts
   * markTaken).
   */
  taken(seq: number, at: number): void;
  /** Whether the device is live now: its lines go to the tail. */
  live(): boolean;
  /**
   * How late the alarm may deliver owed counts (ms): the device's own frames deliver them when due
   * (Sender.countsSlackMs).
   */
  countsSlackMs(): number;
  /**
   * The device's presence as of now: a delivery of counts carries it (last seen, metrics) to the project's
   * live picture.
   */
  presence(): PresenceReport | undefined;
}

export class ProjectDelivery {
  private readonly sends: Coalesced;

  constructor(
    private readonly env: Env,
    private readonly kv: Kv,
    private readonly state: OwedState,
    private readonly legacy: LegacyOutbox,
    private readonly identity: () => Who | undefined,
    /** The lines the device's viewers want, held for shipping (memory only; the hot store has them). */
    private readonly tail: DeviceTail,
    timers: Timers,
    /** Hears each delivery's answer: the quota, whether the device is watched, the alert rules' version. */
    private readonly onAnswer: (answer: DeliveryAnswer) => Promise<void>,
  ) {
    this.sends = new Coalesced(
      "usage delivery",
      {
        send: (withCounts) => this.deliver(withCounts),
        countsOwed: () => this.identity() !== undefined && (anyOwed(this.state.owed()) || this.legacy.left() !== null),
        // Lines someone watches go at once.
        urgent: () => this.state.live() && this.tail.waiting,
        countsSentAt: () => this.state.owed().sentAt,
        countsSlackMs: () => this.state.countsSlackMs(),
      },
      timers,
      () => DELIVERY.everyMs,
    );
    // A day's counts reach the project within minutes of midnight, before the daily job closes
    // the day at 00:05, whatever the interval: each device at its own second of the first two
    // minutes, so a fleet does not deliver all at once.
    timers.add({ name: "day's counts", due: (now) => this.dayEnd(now), fire: () => this.sends.flush() });
  }

  /**
   * When counts of a day that has ended (or ends next) must go: the next midnight after the oldest day owed,
   * plus this device's slot.
   */
  private dayEnd(now: number): number | null {
    const who = this.identity();
    const owed = this.state.owed();
    if (!who || !anyOwed(owed)) return null;
    const days = [...Object.keys(owed.days), ...Object.keys(owed.sealed?.days ?? {})];
    const oldest = days.length > 0 ? days.sort()[0]! : utcDay(now);
    return Date.parse(oldest) + DAY_MS + slotOf(who.deviceId, DAY_END_SPREAD_S) * 1000;
  }

  /** Fan-in objects the project last said it uses (0: it takes deliveries itself). */
  private get fanIn(): number {
    return this.kv.get<number>(FAN_IN_KEY) ?? 0;
  }

  private set fanIn(n: number) {
    if (n !== this.fanIn) this.kv.put(FAN_IN_KEY, n);
  }

  /** Keeps the lines of a committed batch that the viewers want, while the device is live. */
  addLines(lines: StoredLine[], sessionId: string | null, firstId: number): void {
    if (this.state.live()) this.tail.hold(lines, sessionId, firstId);
  }

  /**
   * Seals what is owed when a delivery would take it now, without saving: the caller is about
   * to save the state anyway (an event's one row), and the delivery then goes without a save
   * of its own.
   */
  sealIfDue(): void {
    const owed = this.state.owed();
    if (!owed.sealed && this.sends.countsDue()) seal(owed, this.fanIn, this.state.rowsWritten() + 1);
  }

  /** Whether counts would go to the project now. */
  countsDue(): boolean {
    return this.sends.countsDue();
  }

  /** Delivers what is due now and resolves when it is at the project (see Coalesced.kick). */
  kick(): Promise<void> {
    return this.sends.kick();
  }

  /** Delivers everything owed now, through the fan-in object too, and waits (tests and stats reads settle with it). */
  async flush(): Promise<void> {
    await this.sends.flush();
    const who = this.identity();
    if (who && this.fanIn > 0)
      await fanInByName(this.env, fanInName(who.projectId, fanInIndex(who.deviceId, this.fanIn))).flush();
  }

  private async deliver(withCounts: boolean): Promise<void> {
    const who = this.identity();
    if (!who) return;
    // Lines someone watches go first, straight to their groups, when the project takes deliveries itself.
    if (this.fanIn === 0 && this.tail.known) await this.tail.ship();
    if (withCounts) await this.deliverLegacy(who);
    // A device that does not know what its viewers want (it restarted while live) asks with a
    // delivery first and ships after the answer. Counts sealed by an earlier life go first and
    // what is owed since then right after, so one delivery leaves nothing owed.
    let ask = this.tail.waiting && !this.tail.known;
    for (let round = 0; round < 2; round++) {
      const sealed = withCounts ? this.sealed() : null;
      // Through a fan-in object the lines go with the delivery, and it passes them on.
      const lines = this.fanIn > 0 && this.tail.known ? this.tail.take() : { lines: [], lost: 0 };
      if (!sealed && !ask && lines.lines.length === 0 && lines.lost === 0) break;
      ask = false;
      const payload = sealed ? deliveryOf(sealed) : { rows: [], buckets: [], tallies: [], route: this.fanIn };
      try {
        const seen = sealed ? this.state.presence() : undefined;
        const answer = await this.receiver(who, payload.route).deliver(
          who.deviceId,
          payload.rows,
          lines.lines,
          lines.lost,
          payload.buckets,
          payload.tallies,
          seen,
        );
        // Taken: dropped from the state with its next save (a resend meanwhile is ignored by the project).
        if (sealed) this.state.taken(sealed.seq, Date.now());
        this.fanIn = answer.fan_in;
        // Delivered: a failure to hear the answer out must not send the counts again.
        await this.onAnswer(answer).catch((err) =>
          console.error("acting on the project's answer failed; the next delivery retries", err),
        );
      } catch (err) {
        // The sealed counts stay for the retry; lines for the tail are gone, so viewers will be told.
        this.tail.missed(lines.lines.length + lines.lost);
        throw err;
      }
    }
    // After an answer that taught the plan.
    if (this.fanIn === 0 && this.tail.known && this.tail.waiting) await this.tail.ship();
  }

  /** What goes next: the counts sealed and not yet taken, or what is owed, sealed (and saved) now. */
  private sealed(): ReturnType<typeof seal> {
    const owed = this.state.owed();
    if (owed.sealed) return owed.sealed;
    const sealed = seal(owed, this.fanIn, this.state.rowsWritten() + 1);
    // Saved before it goes: a crash from here resends the same sequence.
    if (sealed) this.state.save();
    return sealed;
  }

  /** What the outbox tables from before held, under their own sequences, once. */
  private async deliverLegacy(who: Who): Promise<void> {
    const left = this.legacy.left();
    if (!left) return;
    const route = this.kv.get<number>("outbox_sealed_route") ?? this.fanIn;
    await this.receiver(who, route).deliver(who.deviceId, left.rows, [], 0, left.buckets, left.tallies);
    this.legacy.delivered();
    this.kv.delete("outbox_sealed_route");
  }

  /** The project's object, or the device's fan-in object when the project fans in over `route` of them. */
  private receiver(who: Who, route: number): Receiver {
    if (route === 0) return projectHub(this.env, who.projectId);
    const name = fanInName(who.projectId, fanInIndex(who.deviceId, route));
    return { deliver: (...args) => fanInByName(this.env, name).deliver(name, ...args) };
  }
}
