// A Durable Object has one alarm. Each part that needs time registers here when it is next
// due and what to do then; the alarm is set to the earliest moment, and when it rings every
// part that is due runs. New work that needs time (archiving, quotas) adds a timer here
// instead of editing the alarm.
import type { ObjectStorage } from "./storage";

export interface Timer {
  /** Named in the log when its handler fails. */
  name: string;
  /** The next moment (ms) this part needs to run, or null when it needs nothing. */
  due(now: number): number | null;
  /**
   * How late it may run (ms): the alarm is set for it at `due + slack` at the latest, and it runs
   * earlier with any other part the alarm rings for once it is due. A part whose due moment keeps
   * moving (a device's silence check) then rides on the others' alarms instead of costing its own.
   */
  slack?(now: number): number;
  fire(now: number): Promise<void> | void;
}

/** A handler that failed is held back this long before the alarm tries it again. */
export const RETRY_MS = 5_000;

export class Timers {
  private readonly timers: Timer[] = [];
  private readonly heldUntil = new Map<Timer, number>();

  constructor(private readonly storage: Pick<ObjectStorage, "getAlarm" | "setAlarm">) {}

  add(timer: Timer): void {
    this.timers.push(timer);
  }

  /**
   * Sets the alarm to the earliest moment a part must run (its due moment and its slack), unless it is
   * already set sooner.
   */
  async arm(now = Date.now()): Promise<void> {
    let next: number | null = null;
    for (const t of this.timers) {
      const due = this.dueOf(t, now);
      const at = due === null ? null : due + (t.slack?.(now) ?? 0);
      if (at !== null && (next === null || at < next)) next = at;
    }
    if (next === null) return;
    const current = await this.storage.getAlarm();
    if (current === null || current > next) await this.storage.setAlarm(next);
  }

  /**
   * The alarm: runs every due part, in the order they were added, then arms again. A part
   * that fails does not stop the others; it stays due and is retried after RETRY_MS.
   */
  async fire(now = Date.now()): Promise<void> {
    for (const t of this.timers) {
      const at = this.dueOf(t, now);
      if (at === null || at > now) continue;
      try {
        await t.fire(now);
        this.heldUntil.delete(t);
      } catch (err) {
        console.error(`${t.name} failed; retrying in ${RETRY_MS} ms`, err);
        this.heldUntil.set(t, now + RETRY_MS);
      }
    }
    await this.arm();
  }

  private dueOf(t: Timer, now: number): number | null {
    const at = t.due(now);
    return at === null ? null : Math.max(at, this.heldUntil.get(t) ?? 0);
  }
}
