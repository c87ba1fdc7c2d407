// Moving the clock that decides which UTC day a count belongs to (src/lib/clock.ts). The
// objects run in the test's isolate, so they read the moved clock too.
import { afterEach } from "vitest";
import { moveClockTo } from "../../src/lib/clock";

/** Moves the clock to `iso`; every test that uses this is put back on the real clock after. */
export function setClock(iso: string): void {
  moveClockTo(Date.parse(iso));
}

afterEach(() => moveClockTo(null));
