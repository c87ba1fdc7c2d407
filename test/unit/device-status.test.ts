// The status people see for a device, from what its DeviceHub remembers.
import { describe, expect, it } from "vitest";
import {
  type DeviceState,
  effectiveStatus,
  MISSED_HEARTBEATS,
  offlineDeadline,
} from "../../durable-objects/device-hub/state";

const INTERVAL_MS = 30_000;

function state(overrides: Partial<DeviceState>): DeviceState {
  return {
    deviceId: "dev_A",
    orgId: "org_A",
    projectId: "prj_A",
    keyHash: "hash",
    heartbeatIntervalMs: INTERVAL_MS,
    reportedStatus: "online",
    maintenance: false,
    offline: false,
    lastHeartbeatAt: 1_000_000,
    lastSeenAt: 1_000_000,
    metrics: null,
    currentSessionId: null,
    lastLogAt: null,
    version: 1,
    ...overrides,
  };
}

describe("effectiveStatus", () => {
  it("is what the device reports while it keeps its heartbeats", () => {
    expect(effectiveStatus(state({ reportedStatus: "online" }))).toBe("online");
    expect(effectiveStatus(state({ reportedStatus: "error" }))).toBe("error");
    expect(effectiveStatus(state({ reportedStatus: "maintenance" }))).toBe("maintenance");
  });

  it("is offline once the heartbeats stop, and before the first one", () => {
    expect(effectiveStatus(state({ offline: true, reportedStatus: "error" }))).toBe("offline");
    expect(effectiveStatus(state({ lastHeartbeatAt: null }))).toBe("offline");
  });

  it("is maintenance whenever an operator set it, even for a silent device", () => {
    expect(effectiveStatus(state({ maintenance: true, reportedStatus: "error" }))).toBe("maintenance");
    expect(effectiveStatus(state({ maintenance: true, offline: true }))).toBe("maintenance");
    expect(effectiveStatus(state({ maintenance: true, lastHeartbeatAt: null }))).toBe("maintenance");
  });
});

describe("offlineDeadline", () => {
  it("falls MISSED_HEARTBEATS intervals after the last heartbeat", () => {
    expect(MISSED_HEARTBEATS).toBe(3);
    expect(offlineDeadline(state({ lastHeartbeatAt: 1_000_000 }))).toBe(1_000_000 + 3 * INTERVAL_MS);
    expect(offlineDeadline(state({ lastHeartbeatAt: 1_000_000, heartbeatIntervalMs: 5_000 }))).toBe(1_015_000);
  });

  it("is not set for a device already offline or never heard from", () => {
    expect(offlineDeadline(state({ offline: true }))).toBeNull();
    expect(offlineDeadline(state({ lastHeartbeatAt: null }))).toBeNull();
  });

  it("still runs under maintenance, so the device is known offline when maintenance ends", () => {
    expect(offlineDeadline(state({ maintenance: true }))).toBe(1_000_000 + MISSED_HEARTBEATS * INTERVAL_MS);
  });
});
