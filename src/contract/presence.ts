// A device's presence as its own object knows it: what GET /fleet/devices/:id lays over the
// registry row, and what the object reports to its project (a transition at once, the rest with
// each delivery), which answers the fleet's live picture.
import type { z } from "zod";
import type { DeviceStatus as DeviceStatusSchema, Heartbeat, StatusCounts as StatusCountsSchema } from "./fleet";

export type DeviceStatus = z.output<typeof DeviceStatusSchema>;
/** What a device may say about itself; offline is only ever concluded by the server. */
export type ReportedStatus = z.output<typeof Heartbeat>["status"];

export interface Presence {
  status: DeviceStatus;
  /** When the status last changed (ms), as the device's object stamped it; null before the first change it recorded. */
  status_changed_at: number | null;
  last_seen_at: number | null;
  last_heartbeat_at: number | null;
  metrics: Record<string, number> | null;
  current_session_id: string | null;
  last_log_at: number | null;
}

/** Who a device is, as every request authenticated by its key learns it. */
export interface Identity {
  deviceId: string;
  orgId: string;
  projectId: string;
}

/** A heartbeat's answer, or its refusal: it named a session another device of the project owns. */
export type HeartbeatOutcome =
  | { ok: true; server_time: number; pending_commands: number }
  | { ok: false; code: "conflict" | "unauthorized" };

/**
 * The fleet list's sparklines: for each of these heartbeat metrics, its average in each of the
 * last `slots` UTC slots of `interval` (five minutes: the last hour), oldest first, the last being
 * the slot the report was made in; null where no heartbeat of the slot carried it. A metric the
 * device did not send within the hour is left out. Values keep 3 significant digits.
 */
export const SPARKLINES = { metrics: ["battery_level", "cpu_usage"], slots: 12, interval: "5m" } as const;
type SparklineMetric = (typeof SPARKLINES.metrics)[number];
export type Sparklines = Partial<Record<SparklineMetric, (number | null)[]>>;

/**
 * A device's presence as it reports it to its project: at once on a transition (status or
 * current session), and with each delivery of counts. `version` is the device's own counter
 * (D1 keeps only a newer one); `at` is when the report was made (the project keeps the newest).
 * `sparklines` are computed from the device's metric history when the report is made (unset:
 * no sparkline metric within the hour, or a device object from before they were sent).
 */
export interface PresenceReport extends Presence {
  version: number;
  at: number;
  sparklines?: Sparklines;
}

/**
 * A status count of devices, as GET /fleet/summary answers it (alerting: devices with a firing alert, counted
 * beside their status).
 */
export type StatusCounts = z.output<typeof StatusCountsSchema>;
