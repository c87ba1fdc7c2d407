// What each tier may use per month. Not enforced yet (the stats and quotas issue); the
// numbers are shown on GET /orgs/:id and beside each counter in GET /stats/usage.
import type { z } from "zod";
import type { tier } from "./common";
import { USAGE_FIELDS, type UsageCounters } from "./usage";

export type Tier = z.output<typeof tier>;

export interface TierLimits {
  devices: number | null; // null: no limit
  projects: number | null;
  logs_per_month: number | null;
  log_bytes_per_month: number | null;
  artifact_storage_bytes: number | null;
  hot_retention_days: number;
  api_calls_per_month: number | null;
}

const GB = 1024 ** 3;

export const TIER_LIMITS: Record<Tier, TierLimits> = {
  free: {
    devices: 10,
    projects: 3,
    logs_per_month: 10_000_000,
    log_bytes_per_month: 5 * GB,
    artifact_storage_bytes: 10 * GB,
    hot_retention_days: 7,
    api_calls_per_month: 1_000_000,
  },
  pro: {
    devices: 1_000,
    projects: 50,
    logs_per_month: 1_000_000_000,
    log_bytes_per_month: 500 * GB,
    artifact_storage_bytes: 1024 * GB,
    hot_retention_days: 7,
    api_calls_per_month: 100_000_000,
  },
  enterprise: {
    devices: null,
    projects: null,
    logs_per_month: null,
    log_bytes_per_month: null,
    artifact_storage_bytes: null,
    hot_retention_days: 7,
    api_calls_per_month: null,
  },
};

/** The tier's monthly limit beside each usage counter, as GET /stats/usage shows it (null: none). */
export function usageLimits(limits: TierLimits) {
  const perMonth: Partial<UsageCounters> = {
    logs: limits.logs_per_month ?? undefined,
    log_bytes: limits.log_bytes_per_month ?? undefined,
    api_calls: limits.api_calls_per_month ?? undefined,
  };
  const counters = Object.fromEntries(USAGE_FIELDS.map((f) => [f, perMonth[f] ?? null])) as Record<keyof UsageCounters, number | null>;
  return { ...counters, storage_bytes: limits.artifact_storage_bytes, devices: limits.devices, active_devices: limits.devices };
}
