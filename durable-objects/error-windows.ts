// ERROR/FATAL line counts by second, one sliding window per error_rate rule, for the device's
// and the project's alert evaluation. Memory only: an object that restarts starts its windows
// afresh (an alert already firing resolves when its window is found below the threshold).
export class ErrorWindows {
  private readonly windows = new Map<string, Map<number, number>>();

  add(ruleId: string, now: number, n: number): void {
    if (n === 0) return;
    const second = Math.floor(now / 1000);
    const window = this.windows.get(ruleId) ?? new Map<number, number>();
    window.set(second, (window.get(second) ?? 0) + n);
    this.windows.set(ruleId, window);
  }

  /** The lines of the last `windowS` seconds; older seconds are forgotten. */
  sum(ruleId: string, now: number, windowS: number): number {
    const window = this.windows.get(ruleId);
    if (!window) return 0;
    const from = Math.floor(now / 1000) - windowS;
    let sum = 0;
    for (const [s, n] of window) {
      if (s <= from) window.delete(s);
      else sum += n;
    }
    return sum;
  }

  /** When the oldest counted second leaves a window of `windowS`, in ms; null when it is empty. */
  nextExpiry(ruleId: string, windowS: number): number | null {
    const window = this.windows.get(ruleId);
    if (!window || window.size === 0) return null;
    return (Math.min(...window.keys()) + windowS + 1) * 1000;
  }

  /** Keeps only the windows of these rules. */
  keep(ruleIds: Set<string>): void {
    for (const id of this.windows.keys()) if (!ruleIds.has(id)) this.windows.delete(id);
  }
}
