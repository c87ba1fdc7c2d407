// The project's exact usage, by UTC day of receipt, fed by each DeviceHub's outbox. Each
// device's sequences are applied at most once, so a redelivery after a crash or a retry
// changes nothing.
import { type OutboxRow, USAGE_FIELDS, type UsageCounters } from "../../src/contract/usage";

export class UsageCounts {
  constructor(private readonly storage: DurableObjectStorage) {}

  apply(deviceId: string, rows: OutboxRow[]): void {
    const sql = this.storage.sql;
    this.storage.transactionSync(() => {
      const last = sql.exec<{ seq: number }>("SELECT seq FROM device_seqs WHERE device_id = ?", deviceId).toArray()[0]?.seq ?? 0;
      const fresh = rows.filter((r) => r.seq > last);
      if (fresh.length === 0) return;
      for (const r of fresh) {
        sql.exec(
          `INSERT INTO usage_days (day, ${USAGE_FIELDS.join(", ")}) VALUES (?, ${USAGE_FIELDS.map(() => "?").join(", ")})
           ON CONFLICT (day) DO UPDATE SET ${USAGE_FIELDS.map((f) => `${f} = ${f} + excluded.${f}`).join(", ")}`,
          r.day,
          ...USAGE_FIELDS.map((f) => r[f]),
        );
        sql.exec("INSERT OR IGNORE INTO active_devices (month, device_id) VALUES (?, ?)", r.day.slice(0, 7), deviceId);
      }
      sql.exec(
        "INSERT INTO device_seqs (device_id, seq) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq",
        deviceId,
        Math.max(...fresh.map((r) => r.seq)),
      );
    });
  }

  /** Counters of one month (YYYY-MM) and of one day (YYYY-MM-DD). */
  read(month: string, day: string): { month: UsageCounters; today: UsageCounters; active_devices: number } {
    const sql = this.storage.sql;
    const sums = USAGE_FIELDS.map((f) => `coalesce(sum(${f}), 0) AS ${f}`).join(", ");
    const monthRow = sql.exec<UsageCounters>(`SELECT ${sums} FROM usage_days WHERE day >= ? AND day < ?`, `${month}-01`, `${month}-32`).one();
    const dayRow = sql.exec<UsageCounters>(`SELECT ${sums} FROM usage_days WHERE day = ?`, day).one();
    const active = sql.exec<{ n: number }>("SELECT count(*) AS n FROM active_devices WHERE month = ?", month).one().n;
    return { month: { ...monthRow }, today: { ...dayRow }, active_devices: active };
  }
}
