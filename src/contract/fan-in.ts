// The fan-in tier (docs/scale.md): a project whose devices would deliver more often than its
// one object can take sends their deliveries through fan-in objects, each gathering the
// counts and live-tail lines of its share of the devices and passing them on: lines at once,
// counts at most every ten seconds, as one delivery. The project's object decides how many there
// are, from the devices active today and yesterday, and says so in every delivery's answer; a
// device finds its own by a hash of its id.
import { slotOf } from "../lib/hash";
import type { QuotaState } from "./quota";
import type { TailPlan } from "./tail-plan";

/**
 * Past `fromDevices` active devices a project fans in, one fan-in object per `devicesEach`;
 * the project's object recounts its devices at most every `recountMs`. Free and pro allow at
 * most 1,000 devices per org, so only enterprise projects fan in. (A plain object rather than
 * constants, so the counter-path benchmark and the tests can run the tier at 1/100 scale.)
 */
export const FAN_IN = { fromDevices: 1_000, devicesEach: 500, recountMs: 10_000 };

/** Fan-in objects are named `<project id>/fan-in/<index>`; device ids never hold a "/". */
export const FAN_IN_SENDER = "/fan-in/";

/** How many fan-in objects a project with `activeDevices` uses; 0 means devices deliver directly. */
export function fanInCount(activeDevices: number): number {
  return activeDevices > FAN_IN.fromDevices ? Math.ceil(activeDevices / FAN_IN.devicesEach) : 0;
}

/** Which of `count` fan-in objects a device delivers to: a hash of its id, so the spread is even and stable. */
export function fanInIndex(deviceId: string, count: number): number {
  return slotOf(deviceId, count);
}

/** What a delivery's receiver answers: who watches, the month's quota, and the route to use next. */
export interface DeliveryAnswer {
  viewers: number;
  /**
   * Which viewer groups want which lines (src/contract/tail-plan.ts): to a device, the routes
   * that concern it; to a fan-in object (and so to its devices), every route.
   */
  tail: TailPlan;
  quota?: QuotaState;
  /** Fan-in objects the project uses now (0: deliver to the project's object directly). */
  fan_in: number;
  /** The version of the project's alert rules: a device that holds another asks for them. */
  alert_rules?: number;
}

/** A device's share of a fan-in delivery: the device-days it was active and its lines and errors. */
export interface DeviceDayRow {
  seq: number;
  day: string; // YYYY-MM-DD
  device_id: string;
  logs: number;
  error_lines: number;
}
