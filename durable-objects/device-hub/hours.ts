// The event-time hours a device has lines in. Noted in the same transaction as the lines,
// then reported to the project's index (ProjectHub.indexHours) before the request answers, so
// a search right after finds them; an hour stays unreported until the project has it, and the
// alarm retries. Searches across a project ask only the devices the index lists for the hours
// they cover, so a page's fan-out is the devices that have lines in its time range.
//
// A device that logs also reports the next hour ahead, at its own minute of the current one
// (nextHourAhead): otherwise every device of a large fleet would report its new hour in the
// same second at the top of each hour. Its first lines of the next hour then need no call.
import type { StoredLine } from "../../src/contract/log-line";
import { slotOf } from "../../src/lib/hash";
import { hourOf } from "../../src/lib/time";
import { projectHub } from "../../src/stubs/project-hub";
import type { Sql } from "../storage";
import { RETRY_MS, type Timers } from "../timers";
import type { Identity } from "../../src/contract/presence";

/** Hours reported in one call. */
const REPORT_BATCH = 500;

export class LogHours {
  /** When the alarm retries a report that failed (memory only; after a restart, soon). */
  private retryAt: number | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly env: Env,
    private readonly identity: () => Identity | undefined,
    timers: Timers,
  ) {
    // Reports are made by each ingest; only a failed one leaves work for the alarm.
    timers.add({ name: "hour report", due: (now) => this.due(now), fire: () => this.report() });
  }

  private due(now: number): number | null {
    if (!this.anyUnreported()) return (this.retryAt = null);
    return (this.retryAt ??= now + RETRY_MS);
  }

  /** The hours of lines stored at `now` (ms), and the next hour when it is this device's time to report it. */
  note(lines: StoredLine[], deviceId: string, now: number): void {
    const hours = new Set<number>();
    for (const l of lines) hours.add(hourOf(l.ts));
    const ahead = nextHourAhead(deviceId, now);
    if (ahead !== null && hours.has(ahead - 1)) hours.add(ahead);
    for (const h of hours) this.sql.exec("INSERT OR IGNORE INTO log_hours (hour) VALUES (?)", h);
  }

  /** Tells the project's index the hours it does not know yet. Throws when the project cannot be reached. */
  async report(): Promise<void> {
    const who = this.identity();
    const hours = this.unreported();
    if (!who || hours.length === 0) return;
    await projectHub(this.env, who.projectId).indexHours(who.deviceId, hours);
    for (const h of hours) this.sql.exec("UPDATE log_hours SET reported = 1 WHERE hour = ?", h);
  }

  prune(beforeHour: number): void {
    this.sql.exec("DELETE FROM log_hours WHERE hour < ? AND reported = 1", beforeHour);
  }

  /** Asked on every request as the alarm is set: one row at most, not the whole list. */
  private anyUnreported(): boolean {
    return this.sql.exec("SELECT 1 FROM log_hours WHERE reported = 0 LIMIT 1").toArray().length > 0;
  }

  private unreported(): number[] {
    return this.sql
      .exec<{ hour: number }>("SELECT hour FROM log_hours WHERE reported = 0 ORDER BY hour LIMIT ?", REPORT_BATCH)
      .toArray()
      .map((r) => r.hour);
  }
}

/** Devices report the next hour ahead at a minute of their own between these two. */
const AHEAD_FROM_MINUTE = 5;
const AHEAD_MINUTES = 50;

/**
 * The hour after `now`'s, once `now` is past this device's minute of its hour (spread by a
 * hash of its id over minutes 5–54), else null.
 */
export function nextHourAhead(deviceId: string, now: number): number | null {
  const minute = Math.floor((now % 3_600_000) / 60_000);
  if (minute < AHEAD_FROM_MINUTE + slotOf(deviceId, AHEAD_MINUTES)) return null;
  return hourOf(now * 1000) + 1;
}
