// FanIn: one of a large project's fan-in objects (src/contract/fan-in.ts, docs/scale.md).
// Its share of the project's devices deliver here instead of to the project's object. Each
// device's sequences are applied once, into this object's outbox (outbox.ts: one row written
// per delivery with fresh sequences); the device has its answer then. What is gathered goes on
// to the project's object as one delivery at most every FORWARD_EVERY_MS, under this object's
// sequences (which the project applies once), with what its devices said of their presence
// since the last one (memory only: a device's next delivery says it again). Lines for the live
// tail (each device sends only those its viewers want) go on at once to the viewer groups that
// want them, by every route the project last said (src/contract/tail-plan.ts): one call per
// group for 500 devices. So 500 devices cost the project's object one call (and one row) every
// few seconds, and every hop stays exact.
import { DurableObject } from "cloudflare:workers";
import type { BucketRow } from "../../src/contract/buckets";
import { type DeliveryAnswer, FAN_IN_SENDER } from "../../src/contract/fan-in";
import type { LogView } from "../../src/contract/log-view";
import type { PresenceReport } from "../../src/contract/presence";
import { newerPlan, type TailPlan } from "../../src/contract/tail-plan";
import type { TallyRow } from "../../src/contract/tallies";
import type { OutboxRow } from "../../src/contract/usage";
import { projectHub } from "../../src/stubs/project-hub";
import { Coalesced, TAIL_BUFFER_MAX } from "../coalesced";
import { migrate } from "../sql-migrations";
import { CountedStorage } from "../storage";
import { TailShipper } from "../tail-group/shipper";
import { Timers } from "../timers";
import { FanInOutbox, type Fresh } from "./outbox";
import { FAN_IN_SCHEMA } from "./schema";

const NAME_KEY = "name";
/** Counts go on to the project at most this often (lines for the tail at once). */
const FORWARD_EVERY_MS = 10_000;

export class FanIn extends DurableObject<Env> {
  private readonly storage: CountedStorage;
  private readonly timers: Timers;
  private readonly outbox: FanInOutbox;
  private readonly sends: Coalesced;
  /** Lines for the tail not yet passed on (memory only), and how many were dropped. */
  private lines: LogView[] = [];
  private dropped = 0;
  /** What devices said of their presence since the last delivery to the project (memory only). */
  private seen = new Map<string, PresenceReport>();
  /** The project's last answer, which devices get as theirs (memory only). */
  private heard: DeliveryAnswer | null = null;
  private readonly shipper: TailShipper;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Every part writes through it, so the rows this object writes are counted (the project hears the total).
    const storage = new CountedStorage(ctx.storage);
    this.storage = storage;
    migrate(storage, FAN_IN_SCHEMA);
    this.timers = new Timers(storage);
    this.outbox = new FanInOutbox(storage, () => storage.rowsWritten);
    this.shipper = new TailShipper(env);
    this.sends = new Coalesced(
      "delivery to the project",
      {
        send: (withCounts) => this.forward(withCounts),
        countsOwed: () => this.outbox.pending(),
        // Lines for the tail, or, after a restart, the project's first answer.
        urgent: () => this.lines.length > 0 || this.dropped > 0 || this.shipper.owes || this.heard === null,
      },
      this.timers,
      FORWARD_EVERY_MS,
    );
  }

  /**
   * A device's delivery, as ProjectHub.deliver takes it, from the fan-in object `name`
   * (`<project id>/fan-in/<n>`). Answers once the counts are stored here, with what the
   * project last said.
   */
  async deliver(
    name: string,
    deviceId: string,
    rows: OutboxRow[],
    lines: LogView[],
    dropped = 0,
    buckets: BucketRow[] = [],
    tallies: TallyRow[] = [],
    seen?: PresenceReport,
  ): Promise<DeliveryAnswer> {
    if (this.storage.kv.get(NAME_KEY) === undefined) this.storage.kv.put(NAME_KEY, name);
    if (seen) this.keepSeen(deviceId, seen);
    const fresh = rows.length > 0 ? this.outbox.fresh(deviceId, rows, buckets, tallies) : null;
    if (fresh && !this.outbox.gather(deviceId, fresh)) await this.passOn(name, deviceId, fresh, seen);
    this.keepLines(lines, dropped);
    // Passed on in the background: the device does not wait for the project.
    void this.sends.kick();
    await this.timers.arm();
    // After a restart nothing has been heard yet: ask the project once before answering.
    if (!this.heard) await this.sends.flush();
    if (!this.heard)
      throw new Error("the project's object did not answer; the device retries (its counts are kept here once)");
    return this.heard;
  }

  /**
   * The viewers changed: every route now (the project tells each fan-in object at once). Devices hear it with
   * their next answer.
   */
  async watched(plan: TailPlan): Promise<void> {
    if (this.heard) this.heard = { ...this.heard, tail: newerPlan(plan, this.heard.tail) };
  }

  /** Passes everything on now and waits for it (tests settle with it). */
  async flush(): Promise<void> {
    await this.sends.flush();
  }

  override async alarm(): Promise<void> {
    await this.timers.fire();
  }

  /**
   * A delivery too large to hold here (a spool of many days) goes straight to the project as
   * the device's own, and only its sequence is recorded here once the project has it: a crash
   * in between sends it again, and the project ignores it then.
   */
  private async passOn(name: string, deviceId: string, fresh: Fresh, seen: PresenceReport | undefined): Promise<void> {
    const projectId = name.slice(0, name.indexOf(FAN_IN_SENDER));
    await projectHub(this.env, projectId).deliver(deviceId, fresh.rows, [], 0, fresh.buckets, fresh.tallies, seen);
    this.outbox.passedOn(deviceId, fresh.seq);
  }

  private keepSeen(deviceId: string, r: PresenceReport): void {
    const had = this.seen.get(deviceId);
    if (!had || had.at <= r.at) this.seen.set(deviceId, r);
  }

  private keepLines(lines: LogView[], dropped: number): void {
    this.dropped += dropped;
    this.lines.push(...lines);
    const over = this.lines.length - TAIL_BUFFER_MAX;
    if (over > 0) {
      this.lines.splice(0, over);
      this.dropped += over;
    }
  }

  private async forward(withCounts: boolean): Promise<void> {
    const name = this.storage.kv.get<string>(NAME_KEY);
    if (name === undefined) return;
    const sealed = withCounts ? this.outbox.seal() : null;
    if (sealed || !this.heard) {
      const projectId = name.slice(0, name.indexOf(FAN_IN_SENDER));
      const { rows = [], buckets = [], tallies = [], devices = [] } = sealed ?? {};
      const own_rows = this.outbox.ownRows;
      // Presence goes with counts (the project keeps it in the row they write).
      const seen = sealed ? this.seen : new Map<string, PresenceReport>();
      if (sealed) this.seen = new Map();
      const presence = seen.size > 0 ? { seen: Object.fromEntries(seen) } : {};
      let answer: DeliveryAnswer;
      try {
        answer = await projectHub(this.env, projectId).deliverFanIn(
          name,
          { rows, buckets, tallies, devices, own_rows, ...presence },
          [],
          0,
        );
      } catch (err) {
        // The outbox keeps the counts for the retry, and this the presence.
        for (const [id, r] of seen) this.keepSeen(id, r);
        throw err;
      }
      // What the project told meanwhile (watched) may be newer than this answer.
      this.heard = { ...answer, tail: newerPlan(answer.tail, this.heard?.tail) };
      if (sealed) this.outbox.delivered(sealed.through);
    }
    const lines = this.lines;
    const dropped = this.dropped;
    this.lines = [];
    this.dropped = 0;
    // A group that cannot be reached is told what it missed with the next shipment.
    await this.shipper.ship(this.heard.tail.routes, lines, dropped);
  }
}
