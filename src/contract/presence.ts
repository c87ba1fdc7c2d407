// A device's presence as its own object knows it: what GET /fleet/devices/:id lays over the
// registry row, and what the object reports to its project (a transition at once, the rest with
// each delivery), which answers the fleet's live picture.
import type { z } from "zod";
import type { DeviceStatus, Heartbeat } from "./fleet";

export type DeviceStatus = z.output<typeof DeviceStatus>;
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
export type HeartbeatOutcome = { ok: true; server_time: number; pending_commands: number } | { ok: false; code: "conflict" | "unauthorized" };

/**
 * A device's presence as it reports it to its project: at once on a transition (status or
 * current session), and with each delivery of counts. `version` is the device's own counter
 * (D1 keeps only a newer one); `at` is when the report was made (the project keeps the newest).
 */
export interface PresenceReport extends Presence {
  version: number;
  at: number;
}
