// Which devices have lines in which event-time hours (reported by each DeviceHub, see
// device-hub/hours.ts): a project-wide search asks only those devices.
import { hourOf } from "../../src/lib/time";
import type { ObjectStorage } from "../storage";

/** Hours are kept this long past the hot window, for devices whose clocks run behind. */
const MARGIN_HOURS = 24;

export class HourIndex {
  constructor(
    private readonly storage: ObjectStorage,
    private readonly hotWindowMs: number,
  ) {}

  add(deviceId: string, hours: number[]): void {
    const sql = this.storage.sql;
    this.storage.transactionSync(() => {
      for (const h of hours) sql.exec("INSERT OR IGNORE INTO device_hours (hour, device_id) VALUES (?, ?)", h, deviceId);
      // Hours past the hot window hold no searchable line any more.
      sql.exec("DELETE FROM device_hours WHERE hour < ?", hourOf((Date.now() - this.hotWindowMs) * 1000) - MARGIN_HOURS);
    });
  }

  devices(fromHour: number, toHour: number): string[] {
    return this.storage.sql
      .exec<{ device_id: string }>("SELECT DISTINCT device_id FROM device_hours WHERE hour BETWEEN ? AND ? ORDER BY device_id", fromHour, toHour)
      .toArray()
      .map((r) => r.device_id);
  }
}
