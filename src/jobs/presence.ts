// The hourly safety net for presence: devices D1 still shows online well past their deadline
// are asked to check themselves (a lost alarm is re-armed, an overdue device goes offline).
// A message sweeps SWEEP_PER_MESSAGE devices by id and enqueues the rest after the last.
import type { Db } from "../db/client";
import { overdueDevices } from "../db/repos/devices";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { deviceHub } from "../stubs/device-hub";

/** Devices swept by one message: one object call each. */
export const SWEEP_PER_MESSAGE = 100;
/**
 * How far past its deadline a device must be before the sweep steps in: D1's heartbeat time may
 * be an hour old (the registry's flush interval, durable-objects/device-hub/registry.ts), and
 * its alarm had time.
 */
const SWEEP_GRACE_MS = 65 * 60_000;

/**
 * Sweeps the next SWEEP_PER_MESSAGE overdue devices after `after`; answers the last one swept
 * when there may be more. One device's failure is logged and left to the next hour.
 */
export async function sweepPresence(env: Env, db: Db, at: number, after: string | null): Promise<string | null> {
  const overdue = await overdueDevices(db, at, SWEEP_GRACE_MS, { afterId: after, limit: SWEEP_PER_MESSAGE });
  await mapLimit(overdue, FAN_OUT, async (id) => {
    try {
      await deviceHub(env, id).sweep();
    } catch (err) {
      console.error(`sweeping device ${id} failed; the next hourly run tries again`, err);
    }
  });
  return overdue.length === SWEEP_PER_MESSAGE ? overdue[overdue.length - 1]! : null;
}
