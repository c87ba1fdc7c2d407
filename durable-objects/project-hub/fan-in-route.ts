// How many fan-in objects this project's devices deliver through (src/contract/fan-in.ts),
// decided from the devices active today and yesterday and recounted at most every FAN_IN.recountMs.
import { FAN_IN, fanInCount } from "../../src/contract/fan-in";

/** What the route reads of the project's counts. */
interface Senders {
  /** Devices active (with any usage) on `day` or the day before: how many the fan-in tier must carry. */
  activeDevices(day: string): number;
}

export class FanInRoute {
  private cached: { day: string; at: number; n: number } | null = null;

  constructor(private readonly usage: Senders) {}

  /** Fan-in objects the project uses now (0: devices deliver here directly). */
  count(day: string, now: number): number {
    const c = this.cached;
    if (c && c.day === day && now - c.at < FAN_IN.recountMs) return c.n;
    const n = fanInCount(this.usage.activeDevices(day));
    this.cached = { day, at: now, n };
    return n;
  }
}
