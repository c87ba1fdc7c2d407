// A device's presence as its own object knows it: what GET /fleet/devices/:id lays over the
// registry row, so people see the live status rather than the last flush.
import type { z } from "zod";
import type { DeviceStatus, Heartbeat } from "./fleet";

export type DeviceStatus = z.output<typeof DeviceStatus>;
/** What a device may say about itself; offline is only ever concluded by the server. */
export type ReportedStatus = z.output<typeof Heartbeat>["status"];

export interface Presence {
  status: DeviceStatus;
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
