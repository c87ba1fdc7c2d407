// Closing a month: the pure arithmetic from a project's daily rows to its monthly row. Sums of
// the day counters, the peak storage, which limits of the tier were exceeded, and the overage
// charge (only soft limits are billed; a hard limit refuses instead of billing).
import { TIERS, type Tier } from "../contract/tiers";
import type { DailyRow, MonthlyRow } from "../db/repos/stats";

/** The counters a month sums from its days (the rest of a day's row is a level, not a count). */
export const DAY_COUNTERS = [
  "logs",
  "logBytes",
  "sessions",
  "heartbeats",
  "deviceMessagesIn",
  "deviceMessagesOut",
  "apiCalls",
  "commands",
  "artifactBytes",
  "errorLines",
] as const;

const GiB = 1024 ** 3;

/** The monthly row of a project from `days` (every day of its month), on the org's tier. */
export function closeMonth(
  project: { projectId: string; orgId: string },
  days: DailyRow[],
  tier: Tier,
  month: string,
  now: number,
): MonthlyRow {
  const plan = TIERS[tier];
  const sums = Object.fromEntries(DAY_COUNTERS.map((k) => [k, days.reduce((n, d) => n + d[k], 0)])) as Record<
    (typeof DAY_COUNTERS)[number],
    number
  >;
  const peakStorageBytes = Math.max(0, ...days.map((d) => d.storageBytes));
  const { limits, overage_cents: price } = plan;
  // Each metered amount, its limit, and the price of one unit past it.
  const meters = [
    {
      name: "logs",
      used: sums.logs,
      limit: limits.logs_per_month,
      soft: plan.soft.includes("logs_per_month"),
      cents: (x: number) => (x / 1e6) * price.logs_per_million,
    },
    {
      name: "log_bytes",
      used: sums.logBytes,
      limit: limits.log_bytes_per_month,
      soft: plan.soft.includes("log_bytes_per_month"),
      cents: (x: number) => (x / GiB) * price.log_bytes_per_gib,
    },
    {
      name: "device_messages_in",
      used: sums.deviceMessagesIn,
      limit: limits.device_messages_in_per_month,
      soft: plan.soft.includes("device_messages_in_per_month"),
      cents: (x: number) => (x / 1e6) * price.device_messages_per_million,
    },
    {
      name: "device_messages_out",
      used: sums.deviceMessagesOut,
      limit: limits.device_messages_out_per_month,
      soft: plan.soft.includes("device_messages_out_per_month"),
      cents: (x: number) => (x / 1e6) * price.device_messages_per_million,
    },
    {
      name: "storage_bytes",
      used: peakStorageBytes,
      limit: limits.storage_bytes,
      soft: plan.soft.includes("storage_bytes"),
      cents: (x: number) => (x / GiB) * price.storage_per_gib,
    },
  ];
  const exceeded = meters.filter((m) => m.used > m.limit);
  const overage = exceeded.filter((m) => m.soft).reduce((c, m) => c + m.cents(m.used - m.limit), 0);
  return {
    ...project,
    month,
    ...sums,
    peakStorageBytes,
    tier,
    exceededLimits: exceeded.map((m) => m.name),
    overageCents: Math.ceil(overage),
    createdAt: now,
  };
}
