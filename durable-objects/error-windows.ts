// ERROR/FATAL line counts in sliding windows, one per error_rate rule, for the device's and
// the project's alert evaluation. Kept in the object's own storage (an object idle for a
// while is evicted, and an alert firing then must not resolve because its memory was lost).
// A window of W seconds counts in buckets of W/60 seconds (at least one), so each rule keeps
// at most ~61 numbers; a bucket counts while any of it is inside the window, so the window is
// read at most one bucket long, never short.
import type { Kv } from "./storage";

type Buckets = [start: number, count: number][];

const bucketS = (windowS: number) => Math.max(1, Math.ceil(windowS / 60));

export class ErrorWindows {
  private cached?: Record<string, Buckets>;

  constructor(
    private readonly kv: Kv,
    private readonly key: string,
  ) {}

  private get all(): Record<string, Buckets> {
    return (this.cached ??= this.kv.get<Record<string, Buckets>>(this.key) ?? {});
  }

  private save(): void {
    this.kv.put(this.key, this.all);
  }

  add(ruleId: string, now: number, n: number, windowS: number): void {
    if (n === 0) return;
    const b = bucketS(windowS);
    const start = Math.floor(now / 1000 / b) * b;
    const buckets = (this.all[ruleId] ??= []);
    const last = buckets[buckets.length - 1];
    if (last && last[0] === start) last[1] += n;
    else buckets.push([start, n]);
    this.prune(ruleId, now, windowS);
    this.save();
  }

  /** The lines counted in the last `windowS` seconds. */
  sum(ruleId: string, now: number, windowS: number): number {
    if (this.prune(ruleId, now, windowS)) this.save();
    return (this.all[ruleId] ?? []).reduce((n, [, c]) => n + c, 0);
  }

  /** When the oldest bucket leaves a window of `windowS`, in ms; null when it is empty. */
  nextExpiry(ruleId: string, windowS: number): number | null {
    const oldest = this.all[ruleId]?.[0];
    return oldest ? (oldest[0] + bucketS(windowS) + windowS) * 1000 : null;
  }

  /** Keeps only the windows of these rules. */
  keep(ruleIds: Set<string>): void {
    const gone = Object.keys(this.all).filter((id) => !ruleIds.has(id));
    for (const id of gone) delete this.all[id];
    if (gone.length) this.save();
  }

  /** Drops buckets wholly before the window; true when any went. */
  private prune(ruleId: string, now: number, windowS: number): boolean {
    const buckets = this.all[ruleId];
    if (!buckets) return false;
    const from = now / 1000 - windowS;
    const b = bucketS(windowS);
    let drop = 0;
    while (drop < buckets.length && buckets[drop]![0] + b <= from) drop++;
    if (drop === 0) return false;
    buckets.splice(0, drop);
    if (buckets.length === 0) delete this.all[ruleId];
    return true;
  }
}
