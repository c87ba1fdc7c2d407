// FanIn: one of a large project's fan-in objects (src/contract/fan-in.ts, docs/scale.md).
// Its share of the project's devices deliver here instead of to the project's object. Each
// device's sequences are applied once, into this object's own outbox, in one transaction; the
// device has its answer then. What is gathered goes on to the project's object as one
// delivery at most once a second, under this object's sequences (which the project applies
// once), and lines for the live tail go on at once. So 500 devices delivering once a second
// cost the project's object one call a second, and every hop stays exact.
import { DurableObject } from "cloudflare:workers";
import type { BucketRow } from "../../src/contract/buckets";
import { type DeliveryAnswer, FAN_IN_SENDER } from "../../src/contract/fan-in";
import type { LogView } from "../../src/contract/log-view";
import type { TallyRow } from "../../src/contract/tallies";
import type { OutboxRow } from "../../src/contract/usage";
import { projectHub } from "../../src/stubs/project-hub";
import { Coalesced, TAIL_BUFFER_MAX } from "../coalesced";
import { SequenceLedger } from "../sequence-ledger";
import { migrate } from "../sql-migrations";
import { Timers } from "../timers";
import { FanInOutbox } from "./outbox";
import { FAN_IN_SCHEMA } from "./schema";

const NAME_KEY = "name";

export class FanIn extends DurableObject<Env> {
  private readonly timers: Timers;
  private readonly outbox: FanInOutbox;
  private readonly ledger: SequenceLedger;
  private readonly sends: Coalesced;
  /** Lines for the tail not yet passed on (memory only), and how many were dropped. */
  private lines: LogView[] = [];
  private dropped = 0;
  /** The project's last answer, which devices get as theirs (memory only). */
  private heard: DeliveryAnswer | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, FAN_IN_SCHEMA);
    this.timers = new Timers(ctx.storage);
    this.outbox = new FanInOutbox(ctx.storage);
    this.ledger = new SequenceLedger(ctx.storage.sql);
    this.sends = new Coalesced(
      "delivery to the project",
      {
        send: (withCounts) => this.forward(withCounts),
        countsOwed: () => this.outbox.pending(),
        // Lines for the tail, or, after a restart, the project's first answer.
        urgent: () => this.lines.length > 0 || this.dropped > 0 || this.heard === null,
      },
      this.timers,
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
  ): Promise<DeliveryAnswer> {
    if (this.ctx.storage.kv.get(NAME_KEY) === undefined) this.ctx.storage.kv.put(NAME_KEY, name);
    if (rows.length > 0) this.gather(deviceId, rows, buckets, tallies);
    this.keepLines(lines, dropped);
    // Passed on in the background: the device does not wait for the project.
    void this.sends.kick();
    await this.timers.arm();
    // After a restart nothing has been heard yet: ask the project once before answering.
    if (!this.heard) await this.sends.flush();
    if (!this.heard) throw new Error("the project's object did not answer; the device retries (its counts are kept here once)");
    return this.heard;
  }

  /** The project's tail has viewers again (the project tells each fan-in object at once). */
  async watched(viewers: number): Promise<void> {
    if (this.heard) this.heard = { ...this.heard, viewers };
  }

  /** Passes everything on now and waits for it (tests settle with it). */
  async flush(): Promise<void> {
    await this.sends.flush();
  }

  override async alarm(): Promise<void> {
    await this.timers.fire();
  }

  /** A device's fresh sequences, into the outbox, once each. */
  private gather(deviceId: string, rows: OutboxRow[], buckets: BucketRow[], tallies: TallyRow[]): void {
    this.ctx.storage.transactionSync(() => {
      const last = this.ledger.last(deviceId);
      const fresh = rows.filter((r) => r.seq > last);
      if (fresh.length === 0) return;
      this.outbox.addRows(deviceId, fresh);
      this.outbox.addBuckets(buckets.filter((b) => b.seq > last));
      this.outbox.addTallies(tallies.filter((t) => t.seq > last));
      this.ledger.advance(deviceId, Math.max(...fresh.map((r) => r.seq)));
    });
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
    const name = this.ctx.storage.kv.get<string>(NAME_KEY);
    if (name === undefined) return;
    const sealed = withCounts ? this.outbox.sealAll() : { rows: [], buckets: [], tallies: [], devices: [] };
    const lines = this.lines;
    const dropped = this.dropped;
    this.lines = [];
    this.dropped = 0;
    if (sealed.rows.length === 0 && lines.length === 0 && dropped === 0 && this.heard) return;
    const projectId = name.slice(0, name.indexOf(FAN_IN_SENDER));
    try {
      const { rows, buckets, tallies, devices } = sealed;
      this.heard = await projectHub(this.env, projectId).deliverFanIn(name, { rows, buckets, tallies, devices }, lines, dropped);
      if (rows.length > 0) this.outbox.delivered(rows[rows.length - 1]!.seq);
    } catch (err) {
      // The outbox keeps the counts for the retry; the lines are gone, so viewers will be told.
      this.dropped += lines.length + dropped;
      throw err;
    }
  }
}
