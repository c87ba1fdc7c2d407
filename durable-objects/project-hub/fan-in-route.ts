// How many fan-in objects this project's devices deliver through (src/contract/fan-in.ts),
// decided from the devices active today and yesterday and recounted at most every FAN_IN.recountMs;
// and telling those objects at once when the first viewer arrives, so their devices start
// sending lines for the tail without waiting for their next answer.
import { FAN_IN, fanInCount } from "../../src/contract/fan-in";

/** What the route reads of the project's counts. */
interface Senders {
  /** Devices active (with any usage) on `day` or the day before: how many the fan-in tier must carry. */
  activeDevices(day: string): number;
  /** The fan-in objects that have delivered here. */
  fanInSenders(): string[];
}

export class FanInRoute {
  private cached: { day: string; at: number; n: number } | null = null;

  constructor(
    private readonly env: Env,
    private readonly usage: Senders,
  ) {}

  /** Fan-in objects the project uses now (0: devices deliver here directly). */
  count(day: string, now: number): number {
    const c = this.cached;
    if (c && c.day === day && now - c.at < FAN_IN.recountMs) return c.n;
    const n = fanInCount(this.usage.activeDevices(day));
    this.cached = { day, at: now, n };
    return n;
  }

  /** The tail has viewers again: every fan-in object that has delivered here hears it now. */
  async tellWatched(viewers: number): Promise<void> {
    // Addressed through Env's own typing, not src/stubs/fan-in.ts: the fan-in object calls this one, so importing it would make a cycle.
    const told = await Promise.allSettled(this.usage.fanInSenders().map((name) => this.env.FAN_IN.get(this.env.FAN_IN.idFromName(name)).watched(viewers)));
    for (const t of told) if (t.status === "rejected") console.error("telling a fan-in object of a viewer failed", t.reason);
  }
}
