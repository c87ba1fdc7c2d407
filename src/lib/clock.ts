// The time that decides which UTC day a count belongs to. It is Date.now(), unless a test has
// moved it. Tests must cross midnight and month ends, and vitest's fake timers do not reach
// Durable Objects. Under vitest-pool-workers the objects run in the test's own isolate and
// module graph, so moving this clock moves theirs. Only day attribution reads it; timeouts,
// alarms and expiries keep the real clock.
let shiftMs = 0;

export const clockNow = (): number => Date.now() + shiftMs;

/** Tests only: from now on, clockNow() reads `ms` plus the time since; null puts it back. */
export function moveClockTo(ms: number | null): void {
  shiftMs = ms === null ? 0 : ms - Date.now();
}
