// The project's exact usage, by UTC day of receipt, fed by each DeviceHub's outbox (directly,
// or through a fan-in object). Each sender's sequences are applied at most once, so a
// redelivery after a crash or a retry changes nothing.
//
// What it costs: a delivery with fresh sequences writes one row, its sender's intake row
// (../intake.ts), whatever it carries; one with nothing fresh writes nothing. What it brought
// is summed in memory and folded now and then into the packed aggregate tables (usage_days,
// device_day_sets, tally_days, bucket_days, quota_settled), all in one transaction with the
// epoch folded through (one key-value row): when the deliveries since the last fold reach
// FOLD_RATIO times the rows the fold would write, once a day at the latest (the alarm), and
// always before a day is closed. Reads are the aggregate tables plus what is not folded yet,
// which is rebuilt from the intake rows when the object starts again.
//
// A day is closed once the daily job has written it to D1 (`closeDay`). Counts that reach
// the project later for a closed day (a device whose delivery was held up past midnight) are
// counted on the first open day instead. So a written day never changes, and nothing is lost.
import type { BucketRow } from "../../src/contract/buckets";
import { type DeviceDayRow, FAN_IN_SENDER } from "../../src/contract/fan-in";
import type { TallyRow } from "../../src/contract/tallies";
import { type OutboxRow, USAGE_FIELDS, type UsageCounters } from "../../src/contract/usage";
import { addDays, DAY_MS } from "../../src/lib/time";
import { type Delta, deltaOf, Intake, merge, type RowMarks } from "../intake";
import type { ObjectStorage } from "../storage";
import type { Timers } from "../timers";
import { foldBuckets } from "./buckets";
import { foldDeviceDays, foldTallies } from "./tops";

const CLOSED_THROUGH_KEY = "usage_closed_through";
const STORAGE_KEY = "storage_bytes";
/** The last fold: the epoch folded through, when, and this object's own rows written by then. */
const FOLDED_KEY = "usage_folded";

/** A fold waits for this many deliveries per row it will write. */
const FOLD_RATIO = 50;
/** Counts wait at most this long for a fold (the alarm's). */
const FOLD_AT_LATEST_MS = DAY_MS;

const sums = USAGE_FIELDS.map((f) => `coalesce(sum(${f}), 0) AS ${f}`).join(", ");

interface Folded {
  epoch: number;
  at: number;
  ownRows: number;
}

/** A sender's delivery as the project takes it (a fan-in object's brings its devices' days and its own rows). */
export interface Sealed {
  rows: OutboxRow[];
  buckets?: BucketRow[];
  tallies?: TallyRow[];
  devices?: DeviceDayRow[];
  own_rows?: number;
}

/** The aggregate rows a fold of `d` writes. */
function rowsOf(d: Delta): number {
  const days = (part?: Record<string, unknown>) => Object.keys(part ?? {}).length;
  const bucketDays = Object.values(d.buckets ?? {}).reduce((n, days) => n + Object.keys(days).length, 0);
  return days(d.usage) + days(d.settled) + days(d.devices) + days(d.tallies) + bucketDays;
}

export class UsageCounts {
  private readonly intake: Intake;
  private folded: Folded;
  /** Deliveries counted since the last fold (memory only; after a restart, the senders with counts not folded). */
  private sinceFold: number;
  /** This object's own rows written before it last started, as far as they were recorded. */
  private readonly ownBefore: number;

  constructor(
    private readonly storage: ObjectStorage,
    private readonly timers: Timers,
    /** Rows this object has written since it started (../storage.ts). */
    private readonly written: () => number,
  ) {
    this.intake = new Intake(storage.sql);
    const kept = storage.kv.get<Folded>(FOLDED_KEY);
    this.folded = kept ?? { epoch: 0, at: Date.now(), ownRows: 0 };
    this.intake.load(this.folded.epoch);
    this.sinceFold = this.intake.pendingSenders;
    this.ownBefore = Math.max(this.folded.ownRows, this.intake.marks().ownRows);
    timers.add({
      name: "usage fold",
      due: () => (this.intake.empty ? null : this.folded.at + FOLD_AT_LATEST_MS),
      fire: (now) => this.fold(now),
    });
  }

  /** The last day the daily job has closed, YYYY-MM-DD ("" before the first). */
  private get closedThrough(): string {
    return this.storage.kv.get<string>(CLOSED_THROUGH_KEY) ?? "";
  }

  /** The day a count of `day` lands on: its own, or the first open one if `day` is closed. */
  private openDayFor(day: string, closed = this.closedThrough): string {
    return day <= closed ? addDays(closed, 1) : day;
  }

  /** This object's own rows written, as far as it knows (what an eviction cut short of recording is missing). */
  private get ownRows(): number {
    return this.ownBefore + this.written();
  }

  /** Devices whose counts came within `withinMs` (at most `max` + 1: more means "too many to ask"). */
  recentSenders(withinMs: number, max: number): string[] {
    return this.intake.recent(withinMs, max);
  }

  /** What deliveries brought that is not folded yet (never changed by the caller). */
  get unfolded(): Delta {
    const epochs = [...this.intake.epochs.values()];
    return epochs.length <= 1 ? (epochs[0] ?? {}) : epochs.reduce((all, d) => merge(all, d), {});
  }

  /**
   * A sender's sealed outbox: a device's own, or a fan-in object's, which brings the device
   * rows of the devices it gathered (a device's own are its usage rows). Each sequence is
   * applied once. Answers the rows applied now.
   */
  async take(sender: string, sealed: Sealed, now: number, seen?: string): Promise<OutboxRow[]> {
    const wasEmpty = this.intake.empty;
    const fresh = this.apply(sender, sealed, now, seen);
    // The first counts after a fold: the alarm folds them within FOLD_AT_LATEST_MS.
    if (wasEmpty && !this.intake.empty) await this.timers.arm();
    return fresh;
  }

  /** The last sequence applied from `sender` (0 before the first). */
  lastOf(sender: string): number {
    return this.intake.last(sender);
  }

  /**
   * Applies the fresh part of a delivery, with what the sender said of its devices' presence (`seen`, JSON)
   * in the same row.
   */
  private apply(sender: string, sealed: Sealed, now: number, seen?: string): OutboxRow[] {
    const last = this.intake.last(sender);
    const fresh = sealed.rows.filter((r) => r.seq > last);
    if (fresh.length === 0) return fresh;
    const closed = this.closedThrough;
    const devices =
      sealed.devices?.filter((d) => d.seq > last) ??
      fresh.map((r) => ({ seq: r.seq, day: r.day, device_id: sender, logs: r.logs, error_lines: r.error_lines ?? 0 }));
    const delta = deltaOf(
      {
        rows: fresh,
        devices,
        buckets: (sealed.buckets ?? []).filter((b) => b.seq > last),
        tallies: (sealed.tallies ?? []).filter((t) => t.seq > last),
      },
      (day) => this.openDayFor(day, closed),
    );
    const seq = Math.max(...fresh.map((r) => r.seq));
    // The row's own write is the one more it records.
    const marks: RowMarks = { senderRows: delta.rows ?? 0, relayRows: sealed.own_rows ?? 0, ownRows: this.ownRows + 1 };
    if (this.intake.add(sender, seq, delta, marks, seen)) {
      this.sinceFold++;
      if (this.sinceFold >= FOLD_RATIO * (rowsOf(this.unfolded) + 2)) {
        // The delivery is counted (its row is written): a fold that fails waits for the next one, or the alarm.
        try {
          this.fold(now);
        } catch (err) {
          console.error("folding the usage counts failed; the alarm tries again", err);
          this.sinceFold = 0;
        }
      }
    } else {
      // Too much for the sender's row (a spool of many days): folded at once, with its sequence.
      const folded = this.storage.transactionSync(() => {
        this.intake.record(sender, seq, marks, seen);
        return this.writeFold(now, merge(structuredClone(this.unfolded), delta));
      });
      this.afterFold(folded);
    }
    return fresh;
  }

  /** Folds what is not folded yet into the aggregate tables, in one transaction. */
  fold(now: number): void {
    if (this.intake.empty) return;
    this.afterFold(this.storage.transactionSync(() => this.writeFold(now, this.unfolded)));
  }

  /** Writes `all` into the aggregate tables, with the epoch it folds through (inside the caller's transaction). */
  private writeFold(now: number, all: Delta): Folded {
    const sql = this.storage.sql;
    for (const [day, u] of Object.entries(all.usage ?? {})) {
      const fields = USAGE_FIELDS.filter((f) => u[f]);
      if (fields.length === 0) continue;
      sql.exec(
        `INSERT INTO usage_days (day, ${fields.join(", ")}) VALUES (?, ${fields.map(() => "?").join(", ")})
         ON CONFLICT (day) DO UPDATE SET ${fields.map((f) => `${f} = ${f} + excluded.${f}`).join(", ")}`,
        day,
        ...fields.map((f) => u[f]!),
      );
    }
    for (const [month, [logs, bytes]] of Object.entries(all.settled ?? {})) {
      sql.exec(
        "INSERT INTO quota_settled (month, logs, bytes) VALUES (?, ?, ?) ON CONFLICT (month) DO UPDATE SET logs = logs + excluded.logs, bytes = bytes + excluded.bytes",
        month,
        logs,
        bytes,
      );
    }
    foldDeviceDays(sql, all.devices ?? {});
    foldTallies(sql, all.tallies ?? {});
    foldBuckets(sql, all.buckets ?? {});
    if (all.storage) this.storage.kv.put(STORAGE_KEY, (this.storage.kv.get<number>(STORAGE_KEY) ?? 0) + all.storage);
    const folded = { epoch: this.intake.open, at: now, ownRows: this.ownRows + 1 };
    this.storage.kv.put(FOLDED_KEY, folded);
    return folded;
  }

  /**
   * The fold is committed: what it folded is dropped from memory (the intake rows drop it as their senders
   * write again).
   */
  private afterFold(folded: Folded): void {
    this.folded = folded;
    this.intake.take(folded.epoch);
    this.sinceFold = 0;
  }

  /** The fan-in objects that have delivered here (they are senders named `<project>/fan-in/<n>`). */
  /** What each sender's intake row says of its devices' presence (JSON), for the live picture after a restart. */
  seenRows(): { sender: string; seen: string }[] {
    return this.intake.seenRows();
  }

  fanInSenders(): string[] {
    return this.intake.senderNames(FAN_IN_SENDER);
  }

  /**
   * Storage rows written for this project: by its own object and its fan-in objects, by its
   * devices' objects and by its log shards (summed from their deliveries).
   */
  storageRows(): { project: number; devices: number; log_shards: number } {
    const t = this.intake.rowTotals();
    return { project: this.ownRows + t.relayRows, devices: t.senderRows - t.shardRows, log_shards: t.shardRows };
  }

  /**
   * API calls made with org keys, counted where they are recorded (the Worker's batched API
   * records), on their day, or on the first open day if that one is closed.
   */
  addApiCalls(day: string, n: number): void {
    this.storage.sql.exec(
      "INSERT INTO usage_days (day, api_calls) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET api_calls = api_calls + excluded.api_calls",
      this.openDayFor(day),
      n,
    );
  }

  /**
   * Bytes the project holds in R2: session files, as they are stored and deleted, and archived
   * logs, as devices deliver the change (folded here, and read with what is not folded yet).
   */
  get storageBytes(): number {
    return Math.max(0, (this.storage.kv.get<number>(STORAGE_KEY) ?? 0) + (this.unfolded.storage ?? 0));
  }

  /** A session file stored, replaced or deleted changes the bytes held by `delta` (at once; never below 0). */
  addStorage(delta: number): void {
    const kept = this.storage.kv.get<number>(STORAGE_KEY) ?? 0;
    this.storage.kv.put(STORAGE_KEY, Math.max(-(this.unfolded.storage ?? 0), kept + delta));
  }

  /** Counters of one month (YYYY-MM), of one day (YYYY-MM-DD), and since the project began. */
  read(
    month: string,
    day: string,
  ): { month: UsageCounters; today: UsageCounters; lifetime: UsageCounters; storage_bytes: number } {
    return {
      month: this.month(month),
      today: this.between(day, day),
      lifetime: this.between("", "~"),
      storage_bytes: this.storageBytes,
    };
  }

  /**
   * Folds what is waiting, then closes `day` and every day before it, and answers the day's
   * counters. Asked again, it answers the same: nothing lands in a closed day.
   */
  closeDay(day: string, now: number): UsageCounters {
    const folded = this.storage.transactionSync(() => {
      const f = this.intake.empty ? null : this.writeFold(now, this.unfolded);
      if (day > this.closedThrough) this.storage.kv.put(CLOSED_THROUGH_KEY, day);
      return f;
    });
    if (folded) this.afterFold(folded);
    return this.stored(day, day);
  }

  /** The counters of one month (YYYY-MM): the sum of its days. */
  month(month: string): UsageCounters {
    return this.between(`${month}-01`, `${month}-31`);
  }

  /** The counters of the days in [from, to] (YYYY-MM-DD), folded or not. */
  between(from: string, to: string): UsageCounters {
    const total = this.stored(from, to);
    for (const [day, u] of Object.entries(this.unfolded.usage ?? {})) {
      if (day < from || day > to) continue;
      for (const f of USAGE_FIELDS) total[f] += u[f] ?? 0;
    }
    return total;
  }

  private stored(from: string, to: string): UsageCounters {
    return {
      ...this.storage.sql
        .exec<UsageCounters>(`SELECT ${sums} FROM usage_days WHERE day BETWEEN ? AND ?`, from, to)
        .one(),
    };
  }

  /** Of the lines and bytes reserved against a month's quota, those delivered since (folded or not). */
  settled(month: string): { logs: number; bytes: number } {
    const row = this.storage.sql
      .exec<{ logs: number; bytes: number }>("SELECT logs, bytes FROM quota_settled WHERE month = ?", month)
      .toArray()[0];
    const [logs, bytes] = this.unfolded.settled?.[month] ?? [0, 0];
    return { logs: (row?.logs ?? 0) + logs, bytes: (row?.bytes ?? 0) + bytes };
  }
}
