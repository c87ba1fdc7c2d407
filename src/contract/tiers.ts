// What each tier may use: one table, read by enforcement (src/services/quotas.ts), by the
// monthly close (overage) and by every answer that shows a limit beside its counter.
//
// Every limit is a number, so there is always a base to bill against. Resource counts
// (projects, devices, API keys) and storage are per org. Monthly volumes are per project:
// each project's ProjectHub counts its own month exactly and enforces it where lines arrive.
// A hard limit refuses past it (429 quota_exceeded); a soft one accepts and bills the
// excess as overage. On free and pro every limit is hard; on enterprise the monthly
// volumes are soft.
import type { z } from "zod";
import type { tier } from "./common";
import type { RateLimitRule } from "./rate-limits";
import { USAGE_FIELDS, type UsageCounters } from "./usage";

export type Tier = z.output<typeof tier>;

const LIMIT_NAMES = [
  "projects",
  "devices",
  "api_keys",
  "people",
  "logs_per_month",
  "log_bytes_per_month",
  "device_messages_in_per_month",
  "device_messages_out_per_month",
  "storage_bytes",
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** The monthly volume limits, by the usage counter each one caps. */
const MONTHLY: Partial<Record<keyof UsageCounters, LimitName>> = {
  logs: "logs_per_month",
  log_bytes: "log_bytes_per_month",
  device_messages_in: "device_messages_in_per_month",
  device_messages_out: "device_messages_out_per_month",
};

export interface TierPlan {
  limits: Record<LimitName, number>;
  /** Limits accepted past and billed as overage; every other limit refuses. */
  soft: readonly LimitName[];
  /** Days a line stays hot (searchable in its device's object), and archived after that. */
  hot_retention_days: number;
  archive_retention_days: number;
  /** Days an alert is kept after it resolved, with its webhook attempts (the daily job prunes them). */
  alert_retention_days: number;
  /** Days an audit event is kept (append-only until then). */
  audit_retention_days: number;
  /**
   * The largest file one PUT takes (Cloudflare's request body limit of the plan it runs on); larger files go
   * multipart.
   */
  single_upload_bytes: number;
  /**
   * Requests per org API key (or signed-in person) and per device, by the [[ratelimits]] binding that holds
   * them (rate-limits.ts).
   */
  rate_limits: { key: RateLimitRule; device: RateLimitRule };
  /** USD cents per unit past a soft limit, per month. */
  overage_cents: {
    logs_per_million: number;
    log_bytes_per_gib: number;
    device_messages_per_million: number;
    storage_per_gib: number;
  };
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 * GiB;
const M = 1_000_000;

const PRICES = { logs_per_million: 50, log_bytes_per_gib: 10, device_messages_per_million: 20, storage_per_gib: 2 };

export const TIERS: Record<Tier, TierPlan> = {
  free: {
    limits: {
      projects: 3,
      devices: 10,
      api_keys: 10,
      people: 5,
      logs_per_month: 10 * M,
      log_bytes_per_month: 5 * GiB,
      device_messages_in_per_month: 5 * M,
      device_messages_out_per_month: 1 * M,
      storage_bytes: 10 * GiB,
    },
    soft: [],
    hot_retention_days: 7,
    archive_retention_days: 30,
    alert_retention_days: 30,
    audit_retention_days: 30,
    single_upload_bytes: 100 * MiB,
    rate_limits: {
      key: { binding: "RL_KEY_FREE", limit: 600, period: 60 },
      device: { binding: "RL_DEVICE_FREE", limit: 120, period: 60 },
    },
    overage_cents: PRICES,
  },
  pro: {
    limits: {
      projects: 50,
      devices: 1_000,
      api_keys: 100,
      people: 100,
      logs_per_month: 1_000 * M,
      log_bytes_per_month: 500 * GiB,
      device_messages_in_per_month: 500 * M,
      device_messages_out_per_month: 100 * M,
      storage_bytes: 1 * TiB,
    },
    soft: [],
    hot_retention_days: 14,
    archive_retention_days: 365,
    alert_retention_days: 90,
    audit_retention_days: 365,
    single_upload_bytes: 100 * MiB,
    rate_limits: {
      key: { binding: "RL_KEY_PRO", limit: 3_000, period: 60 },
      device: { binding: "RL_DEVICE_PRO", limit: 600, period: 60 },
    },
    overage_cents: PRICES,
  },
  enterprise: {
    limits: {
      projects: 1_000,
      devices: 100_000,
      api_keys: 1_000,
      people: 10_000,
      logs_per_month: 100_000 * M,
      log_bytes_per_month: 50 * TiB,
      device_messages_in_per_month: 50_000 * M,
      device_messages_out_per_month: 10_000 * M,
      storage_bytes: 100 * TiB,
    },
    soft: ["logs_per_month", "log_bytes_per_month", "device_messages_in_per_month", "device_messages_out_per_month"],
    hot_retention_days: 30,
    archive_retention_days: 730,
    alert_retention_days: 365,
    audit_retention_days: 730,
    single_upload_bytes: 500 * MiB,
    rate_limits: {
      key: { binding: "RL_KEY_ENTERPRISE", limit: 12_000, period: 60 },
      device: { binding: "RL_DEVICE_ENTERPRISE", limit: 3_000, period: 60 },
    },
    overage_cents: PRICES,
  },
};

/** The tier's plan as GET /orgs/:id and GET /me show it. */
export function presentPlan(t: Tier) {
  const { limits, soft, rate_limits, ...rest } = TIERS[t];
  const rate = ({ limit, period }: RateLimitRule) => ({ limit, period_s: period });
  return {
    ...limits,
    soft_limits: soft,
    ...rest,
    rate_limits: { key: rate(rate_limits.key), device: rate(rate_limits.device) },
  };
}

/** The tier's limit beside each usage counter, as GET /stats/usage shows it (null: none). */
export function usageLimits(t: Tier) {
  const { limits } = TIERS[t];
  const counters = Object.fromEntries(USAGE_FIELDS.map((f) => [f, MONTHLY[f] ? limits[MONTHLY[f]] : null])) as Record<
    keyof UsageCounters,
    number | null
  >;
  return { ...counters, storage_bytes: limits.storage_bytes, devices: limits.devices, active_devices: limits.devices };
}
