// TEMPORARY (replaced by the repos branch): the device's presence row, written by its DeviceHub.
import { and, eq, lt } from "drizzle-orm";
import type { DeviceStatus } from "../../contract/presence";
import type { Db } from "../client";
import { devices } from "../schema";

export async function writePresence(
  db: Db,
  p: {
    deviceId: string;
    status: DeviceStatus;
    lastSeenAt: number | null;
    lastHeartbeatAt: number | null;
    metrics: Record<string, number> | null;
    currentSessionId: string | null;
    lastLogAt: number | null;
    version: number;
  },
): Promise<void> {
  await db
    .update(devices)
    .set({
      status: p.status,
      lastSeenAt: p.lastSeenAt,
      lastHeartbeatAt: p.lastHeartbeatAt,
      metrics: p.metrics,
      currentSessionId: p.currentSessionId,
      lastLogAt: p.lastLogAt,
      presenceVersion: p.version,
    })
    .where(and(eq(devices.id, p.deviceId), lt(devices.presenceVersion, p.version)));
}
