import { describe, expect, it } from "vitest";
import { TIERS } from "../../src/contract/tiers";
import type { DailyRow } from "../../src/db/repos/stats";
import { closeMonth } from "../../src/services/month-close";

const GiB = 1024 ** 3;
const project = { projectId: "prj_a", orgId: "org_a" };

function dayRow(date: string, over: Partial<DailyRow> = {}): DailyRow {
  return {
    ...project,
    date,
    logs: 0,
    logBytes: 0,
    sessions: 0,
    heartbeats: 0,
    deviceMessagesIn: 0,
    deviceMessagesOut: 0,
    apiCalls: 0,
    commands: 0,
    artifactBytes: 0,
    errorLines: 0,
    storageBytes: 0,
    devices: 0,
    activeDevices: 0,
    createdAt: 0,
    ...over,
  };
}

describe("closing a month", () => {
  it("sums the days and keeps the peak storage", () => {
    const m = closeMonth(
      project,
      [
        dayRow("2027-01-01", { logs: 5, storageBytes: 7 }),
        dayRow("2027-01-02", { logs: 6, errorLines: 2, storageBytes: 3 }),
      ],
      "pro",
      "2027-01",
      1,
    );
    expect(m).toMatchObject({
      ...project,
      month: "2027-01",
      logs: 11,
      errorLines: 2,
      peakStorageBytes: 7,
      exceededLimits: [],
      overageCents: 0,
      tier: "pro",
    });
  });

  it("bills soft limits past their line as overage, and lists hard ones without billing them", () => {
    const limits = TIERS.enterprise.limits;
    const days = [
      dayRow("2027-01-01", { logs: limits.logs_per_month, logBytes: limits.log_bytes_per_month + 10 * GiB }),
      dayRow("2027-01-02", { logs: 3_000_000, storageBytes: limits.storage_bytes + GiB }),
    ];
    const m = closeMonth(project, days, "enterprise", "2027-01", 1);
    expect(m.exceededLimits).toEqual(["logs", "log_bytes", "storage_bytes"]);
    // 3 M lines at 50¢ per million, and 10 GiB at 10¢ per GiB; storage is hard, so not billed.
    expect(m.overageCents).toBe(3 * 50 + 10 * 10);
  });

  it("on free, every limit is hard: past the line is listed, never billed", () => {
    const m = closeMonth(
      project,
      [dayRow("2027-01-01", { deviceMessagesIn: TIERS.free.limits.device_messages_in_per_month + 1 })],
      "free",
      "2027-01",
      1,
    );
    expect(m.exceededLimits).toEqual(["device_messages_in"]);
    expect(m.overageCents).toBe(0);
  });
});
