// The event-time hours a device has lines in. Noted in the same transaction as the lines,
// then reported to the project's index (ProjectHub.indexHours); an hour stays unreported
// until the project has it, and the alarm retries. Searches across a project ask only the
// devices the index lists for the hours they cover, so a page's fan-out is the devices that
// have lines in its time range, not every device of the project.
import type { StoredLine } from "../../src/contract/log-line";

export const HOUR_US = 3_600_000_000;
export const hourOf = (us: number) => Math.floor(us / HOUR_US);

export class LogHours {
  constructor(private readonly sql: SqlStorage) {}

  note(lines: StoredLine[]): void {
    const hours = new Set<number>();
    for (const l of lines) hours.add(hourOf(l.ts));
    for (const h of hours) this.sql.exec("INSERT OR IGNORE INTO log_hours (hour) VALUES (?)", h);
  }

  unreported(): number[] {
    return this.sql.exec<{ hour: number }>("SELECT hour FROM log_hours WHERE reported = 0 ORDER BY hour LIMIT 500").toArray().map((r) => r.hour);
  }

  reported(hours: number[]): void {
    for (const h of hours) this.sql.exec("UPDATE log_hours SET reported = 1 WHERE hour = ?", h);
  }

  prune(beforeHour: number): void {
    this.sql.exec("DELETE FROM log_hours WHERE hour < ? AND reported = 1", beforeHour);
  }
}
