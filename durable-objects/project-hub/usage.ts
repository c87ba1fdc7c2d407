// The project's exact usage, by UTC day of receipt, fed by each DeviceHub's outbox (directly,
// or through a fan-in object). Each sender's sequences are applied at most once, so a
// redelivery after a crash or a retry changes nothing.
//
// A day is closed once the daily job has written it to D1 (`closeDay`). Counts that reach
// the project later for a closed day (a device whose delivery was held up past midnight) are
// counted on the first open day instead. So a written day never changes, and nothing is lost.
import type { BucketRow } from "../../src/contract/buckets";
import type { TallyRow } from "../../src/contract/tallies";
import { type OutboxRow, USAGE_FIELDS, type UsageCounters } from "../../src/contract/usage";
import { addDays } from "../../src/lib/time";
import { type DeviceDayRow, FAN_IN_SENDER } from "../../src/contract/fan-in";
import { SequenceLedger } from "../sequence-ledger";

const CLOSED_THROUGH_KEY = "usage_closed_through";
const STORAGE_KEY = "storage_bytes";

const sums = USAGE_FIELDS.map((f) => `coalesce(sum(${f}), 0) AS ${f}`).join(", ");

export class UsageCounts {
  private readonly ledger: SequenceLedger;

  constructor(private readonly storage: DurableObjectStorage) {
    this.ledger = new SequenceLedger(storage.sql);
  }

  /** The last day the daily job has closed, YYYY-MM-DD ("" before the first). */
  private get closedThrough(): string {
    return this.storage.kv.get<string>(CLOSED_THROUGH_KEY) ?? "";
  }

  /** The day a count of `day` lands on: its own, or the first open one if `day` is closed. */
  private openDayFor(day: string, closed = this.closedThrough): string {
    return day <= closed ? addDays(closed, 1) : day;
  }

  /**
   * A sender's sealed outbox: a device's own, or a fan-in object's, which brings the device
   * rows of the devices it gathered (a device's own are its usage rows). Each sequence is
   * applied once. Answers the rows applied now.
   */
  apply(sender: string, sealed: { rows: OutboxRow[]; buckets?: BucketRow[]; tallies?: TallyRow[]; devices?: DeviceDayRow[] }): OutboxRow[] {
    const sql = this.storage.sql;
    const { rows, buckets = [], tallies = [] } = sealed;
    const devices = sealed.devices ?? rows.map((r) => ({ seq: r.seq, day: r.day, device_id: sender, logs: r.logs, error_lines: r.error_lines ?? 0 }));
    return this.storage.transactionSync(() => {
      const last = this.ledger.last(sender);
      const fresh = rows.filter((r) => r.seq > last);
      if (fresh.length === 0) return fresh;
      const closed = this.closedThrough;
      for (const r of fresh) {
        sql.exec(
          `INSERT INTO usage_days (day, ${USAGE_FIELDS.join(", ")}) VALUES (?, ${USAGE_FIELDS.map(() => "?").join(", ")})
           ON CONFLICT (day) DO UPDATE SET ${USAGE_FIELDS.map((f) => `${f} = ${f} + excluded.${f}`).join(", ")}`,
          this.openDayFor(r.day, closed),
          ...USAGE_FIELDS.map((f) => r[f] ?? 0),
        );
      }
      for (const d of devices) {
        if (d.seq <= last) continue;
        const day = this.openDayFor(d.day, closed);
        sql.exec("INSERT OR IGNORE INTO active_device_days (day, device_id) VALUES (?, ?)", day, d.device_id);
        if (d.logs > 0) {
          sql.exec(
            `INSERT INTO device_days (day, device_id, lines, errors) VALUES (?, ?, ?, ?)
             ON CONFLICT (day, device_id) DO UPDATE SET lines = lines + excluded.lines, errors = errors + excluded.errors`,
            day,
            d.device_id,
            d.logs,
            d.error_lines,
          );
        }
      }
      for (const t of tallies) {
        if (t.seq <= last) continue;
        sql.exec(
          `INSERT INTO tallies (day, kind, key, lines, errors) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (day, kind, key) DO UPDATE SET lines = lines + excluded.lines, errors = errors + excluded.errors`,
          this.openDayFor(t.day, closed),
          t.kind,
          t.key,
          t.lines,
          t.errors,
        );
      }
      // One statement for every bucket (a replayed spool can bring thousands).
      const freshBuckets = buckets.filter((b) => b.seq > last).map((b) => [b.minutes, b.metric, b.start, b.n]);
      if (freshBuckets.length > 0) {
        sql.exec(
          `INSERT INTO buckets (minutes, metric, start, n)
           SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
           ON CONFLICT (minutes, metric, start) DO UPDATE SET n = n + excluded.n`,
          JSON.stringify(freshBuckets),
        );
      }
      this.ledger.advance(sender, Math.max(...fresh.map((r) => r.seq)));
      return fresh;
    });
  }

  /** The fan-in objects that have delivered here (they are senders named `<project>/fan-in/<n>`). */
  fanInSenders(): string[] {
    return this.ledger.senders(FAN_IN_SENDER);
  }

  /** Devices active (with any usage) on `day` or the day before: how many the fan-in tier must carry. */
  activeDevices(day: string): number {
    return this.storage.sql.exec<{ n: number }>("SELECT count(DISTINCT device_id) AS n FROM active_device_days WHERE day >= ?", addDays(day, -1)).one().n;
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

  /** Bytes the project holds in R2 (artifacts and archived logs), as the hourly job last counted them. */
  get storageBytes(): number {
    return this.storage.kv.get<number>(STORAGE_KEY) ?? 0;
  }

  set storageBytes(bytes: number) {
    this.storage.kv.put(STORAGE_KEY, bytes);
  }

  /** Counters of one month (YYYY-MM), of one day (YYYY-MM-DD), and since the project began. */
  read(month: string, day: string): { month: UsageCounters; today: UsageCounters; lifetime: UsageCounters; storage_bytes: number } {
    const sql = this.storage.sql;
    return {
      month: this.month(month),
      today: this.day(day),
      lifetime: { ...sql.exec<UsageCounters>(`SELECT ${sums} FROM usage_days`).one() },
      storage_bytes: this.storageBytes,
    };
  }

  /**
   * Closes `day` and every day before it, and answers the day's counters and how many
   * devices were active in it. Asked again, it answers the same: nothing lands in a closed day.
   */
  closeDay(day: string): UsageCounters & { active_devices: number; storage_bytes: number } {
    return this.storage.transactionSync(() => {
      if (day > this.closedThrough) this.storage.kv.put(CLOSED_THROUGH_KEY, day);
      const active = this.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM active_device_days WHERE day = ?", day).one().n;
      return { ...this.day(day), active_devices: active, storage_bytes: this.storageBytes };
    });
  }

  /** The counters of one month (YYYY-MM): the sum of its days. */
  month(month: string): UsageCounters {
    return { ...this.storage.sql.exec<UsageCounters>(`SELECT ${sums} FROM usage_days WHERE day >= ? AND day < ?`, `${month}-01`, `${month}-32`).one() };
  }

  private day(day: string): UsageCounters {
    return { ...this.storage.sql.exec<UsageCounters>(`SELECT ${sums} FROM usage_days WHERE day = ?`, day).one() };
  }
}
