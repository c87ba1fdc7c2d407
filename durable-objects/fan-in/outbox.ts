// A fan-in object's outbox: a device's outbox (../usage-outbox.ts) plus the days each device
// was active, with its lines and errors, which the project counts per device.
import type { DeviceDayRow } from "../../src/contract/fan-in";
import type { OutboxRow } from "../../src/contract/usage";
import { type Sealed, UsageOutbox } from "../usage-outbox";

export class FanInOutbox extends UsageOutbox {
  /** A device's usage rows, each on its day, with the device's day beside it. */
  addRows(deviceId: string, rows: OutboxRow[]): void {
    for (const r of rows) this.add(r.day, r);
    const items = rows.map((r) => [r.day, deviceId, r.logs ?? 0, r.error_lines ?? 0]);
    if (items.length === 0) return;
    this.storage.sql.exec(
      `INSERT INTO outbox_devices (seq, day, device_id, logs, error_lines)
       SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
       ON CONFLICT (seq, day, device_id) DO UPDATE SET logs = logs + excluded.logs, error_lines = error_lines + excluded.error_lines`,
      this.openSeq,
      JSON.stringify(items),
    );
  }

  /** Everything pending, sealed, with the devices' days (a fan-in object has one route: its project). */
  sealAll(): Sealed & { devices: DeviceDayRow[] } {
    const sealed = this.seal(0);
    const last = sealed.rows.at(-1)?.seq ?? 0;
    const devices = this.storage.sql.exec<DeviceDayRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox_devices WHERE seq <= ?", last).toArray();
    return { ...sealed, devices };
  }

  override delivered(seq: number): void {
    super.delivered(seq);
    this.storage.sql.exec("DELETE FROM outbox_devices WHERE seq <= ?", seq);
  }
}
