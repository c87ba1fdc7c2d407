// A fan-in object's outbox toward its project: the intake (../intake.ts) of its devices'
// deliveries, one row written per device delivery with fresh sequences, whatever it carries.
// Epochs are this object's sequences at the project: a send seals the open epoch and delivers
// every epoch the project has not taken yet, each under its own number, which the project
// applies once. A device's row keeps its counts of an epoch until the project has taken it
// (they are dropped as the device delivers again; how far the project has taken is recorded in
// each row written). After a restart every epoch the rows hold is taken as sealed (the project
// may have it already, and ignores it then), and new counts start a newer epoch.
import type { BucketRow } from "../../src/contract/buckets";
import type { TallyRow } from "../../src/contract/tallies";
import type { OutboxRow } from "../../src/contract/usage";
import { type Delivered, deliveryOf, deltaOf, Intake, type RowMarks } from "../intake";
import type { ObjectStorage } from "../storage";

/** The sender row that holds what the outbox tables of the version before the intake still owed. */
const EARLIER_OUTBOX = "(outbox)";
/** That version's next sequence: every epoch from now on is above what it sent. */
const EARLIER_OPEN_SEQ_KEY = "outbox_open_seq";

/** The fresh part of a device's delivery. */
export interface Fresh extends Omit<Delivered, "devices"> {
  seq: number;
}

export class FanInOutbox {
  private readonly intake: Intake;
  /** Epochs through this one are sealed: they go to the project as they are. */
  private sealed: number;
  /** This object's own rows written before it last started, as far as they were recorded. */
  private readonly ownBefore: number;

  constructor(
    private readonly storage: ObjectStorage,
    /** Rows this object has written since it started (../storage.ts). */
    private readonly written: () => number,
  ) {
    this.intake = new Intake(storage.sql);
    this.carryEarlierOutbox();
    const marks = this.intake.marks();
    this.ownBefore = marks.ownRows;
    const newest = this.intake.load(marks.taken);
    // Never an epoch the project may have seen already.
    this.intake.open = Math.max(this.intake.open, newest + 1, storage.kv.get<number>(EARLIER_OPEN_SEQ_KEY) ?? 1);
    this.sealed = this.intake.open - 1;
  }

  /** This object's own rows written, as far as it knows. */
  get ownRows(): number {
    return this.ownBefore + this.written();
  }

  private marks(senderRows: number): RowMarks {
    return { senderRows, relayRows: 0, ownRows: this.ownRows + 1 };
  }

  /** What of a device's delivery is fresh (null: nothing, it was applied before). */
  fresh(deviceId: string, rows: OutboxRow[], buckets: BucketRow[], tallies: TallyRow[]): Fresh | null {
    const last = this.intake.last(deviceId);
    const fresh = rows.filter((r) => r.seq > last);
    if (fresh.length === 0) return null;
    return {
      seq: Math.max(...fresh.map((r) => r.seq)),
      rows: fresh,
      buckets: buckets.filter((b) => b.seq > last),
      tallies: tallies.filter((t) => t.seq > last),
    };
  }

  /**
   * Counts a device's fresh delivery in the open epoch, with the device's days (one row
   * written). False, writing nothing, when it is too large to hold here (see `passedOn`).
   */
  gather(deviceId: string, fresh: Fresh): boolean {
    const devices = fresh.rows.map((r) => ({
      seq: r.seq,
      day: r.day,
      device_id: deviceId,
      logs: r.logs,
      error_lines: r.error_lines ?? 0,
    }));
    const delta = deltaOf({ ...fresh, devices });
    return this.intake.add(deviceId, fresh.seq, delta, this.marks(delta.rows ?? 0));
  }

  /** A device's delivery went straight to the project: only its sequence is recorded here. */
  passedOn(deviceId: string, seq: number): void {
    this.intake.record(deviceId, seq, this.marks(0));
  }

  /** Whether the project has not taken everything yet. */
  pending(): boolean {
    return !this.intake.empty;
  }

  /**
   * Seals the open epoch, if anything is counted in it, and answers every sealed epoch the
   * project has not taken, as one delivery (each epoch's rows under its own sequence), with
   * the last epoch in it. Null when there is none.
   */
  seal(): (Delivered & { through: number }) | null {
    if (this.intake.epochs.has(this.intake.open)) this.sealed = this.intake.open++;
    const epochs = [...this.intake.epochs.keys()].filter((e) => e <= this.sealed).sort((a, b) => a - b);
    if (epochs.length === 0) return null;
    const parts = epochs.map((e) => deliveryOf(e, this.intake.epochs.get(e)!));
    return {
      rows: parts.flatMap((p) => p.rows),
      buckets: parts.flatMap((p) => p.buckets),
      tallies: parts.flatMap((p) => p.tallies),
      devices: parts.flatMap((p) => p.devices),
      through: epochs.at(-1)!,
    };
  }

  /** The project has applied every epoch through `epoch` (recorded with the next row written). */
  delivered(epoch: number): void {
    this.intake.take(epoch);
  }

  /**
   * Outbox rows of the version before the intake, still owed to the project: moved into one
   * intake row, under their own sequences as epochs, in one transaction.
   */
  private carryEarlierOutbox(): void {
    const sql = this.storage.sql;
    const rows = sql
      .exec<OutboxRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox ORDER BY seq, day")
      .toArray();
    if (rows.length === 0) return;
    const bySeq = <T extends { seq: number }>(items: T[], seq: number) => items.filter((i) => i.seq === seq);
    const buckets = sql.exec<BucketRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox_buckets").toArray();
    const tallies = sql.exec<TallyRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox_tallies").toArray();
    const devices = sql
      .exec<{ seq: number; day: string; device_id: string; logs: number; error_lines: number }>(
        "SELECT * FROM outbox_devices",
      )
      .toArray();
    const pending: Record<number, ReturnType<typeof deltaOf>> = {};
    for (const seq of new Set(rows.map((r) => r.seq))) {
      pending[seq] = deltaOf({
        rows: bySeq(rows, seq),
        buckets: bySeq(buckets, seq),
        tallies: bySeq(tallies, seq),
        devices: bySeq(devices, seq),
      });
    }
    const newest = rows.at(-1)!.seq;
    this.storage.transactionSync(() => {
      sql.exec(
        `INSERT INTO intake (sender, seq, epoch, pending) VALUES (?, 0, ?, ?)
         ON CONFLICT (sender) DO UPDATE SET epoch = max(epoch, excluded.epoch), pending = json_patch(pending, excluded.pending)`,
        EARLIER_OUTBOX,
        newest,
        JSON.stringify(pending),
      );
      for (const table of ["outbox", "outbox_buckets", "outbox_tallies", "outbox_devices"])
        sql.exec(`DELETE FROM ${table}`);
    });
  }
}
