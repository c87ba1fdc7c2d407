// What a DeviceHub remembers about its device between requests, and the rules that turn it
// into the status people see.
export type ReportedStatus = "online" | "maintenance" | "error";
export type DeviceStatus = ReportedStatus | "offline";

export interface DeviceState {
  deviceId: string;
  orgId: string;
  projectId: string;
  /** SHA-256 of the device key; null once decommissioned, so the key stops at once. */
  keyHash: string | null;
  heartbeatIntervalMs: number;
  reportedStatus: ReportedStatus;
  /** Set by an operator (PATCH status: maintenance); outranks what the device reports, and offline. */
  maintenance: boolean;
  /** Set by the alarm after MISSED_HEARTBEATS intervals without a heartbeat. */
  offline: boolean;
  lastHeartbeatAt: number | null;
  lastSeenAt: number | null;
  metrics: Record<string, number> | null;
  currentSessionId: string | null;
  /** Receipt time (ms) of the latest log batch. */
  lastLogAt: number | null;
  /** Bumped on every change the D1 registry shows; D1 keeps the highest version it was sent. */
  version: number;
  flushedVersion: number;
  lastFlushAt: number;
}

export const MISSED_HEARTBEATS = 3;

/** An operator's maintenance outranks everything (it is why the device may be silent). */
export function effectiveStatus(s: DeviceState): DeviceStatus {
  if (s.maintenance) return "maintenance";
  if (s.offline || s.lastHeartbeatAt === null) return "offline";
  return s.reportedStatus;
}

export function offlineDeadline(s: DeviceState): number | null {
  if (s.offline || s.lastHeartbeatAt === null) return null;
  return s.lastHeartbeatAt + MISSED_HEARTBEATS * s.heartbeatIntervalMs;
}
