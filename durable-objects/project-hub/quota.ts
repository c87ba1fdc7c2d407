// The project's monthly line quota: what is left of its tier's hard monthly limits on lines
// and log bytes. Used = the month's delivered counts plus the lines granted to devices and not
// delivered yet: the month's grants (a key-value row, written by `reserve`) less what
// deliveries have settled of them (counted with the rest of a delivery, see usage.ts).
// Devices reserve only when close to the limit (device-hub/quota.ts), so far from it this
// costs nothing; near it, the grants are exact, since one object hands them out one at a time.
//
// Device messages in are counted, not reserved: once the month's delivered count reaches the
// limit, log batches stop (everything else a device sends still goes, so the fleet stays
// visible and controllable). Counts reach here within a second or two, so a fleet can pass
// the limit by what it sends in that time.
import type { QuotaGrant, QuotaState } from "../../src/contract/quota";
import { TIERS, type Tier } from "../../src/contract/tiers";
import { createDb } from "../../src/db/client";
import { findOrg } from "../../src/db/repos/orgs";
import type { ObjectStorage } from "../storage";
import type { UsageCounts } from "./usage";

const ORG_KEY = "quota_org";
/** Lines and bytes granted in a month (before the intake: granted and not yet settled, which reads the same). */
const reservedKey = (month: string) => `quota_reserved:${month}`;
/** The org's tier is read from D1 at most this often (a tier change applies within it). */
const TIER_TTL_MS = 60_000;

interface Reserved {
  logs: number;
  bytes: number;
}

export class MonthlyQuota {
  private tier?: { tier: Tier; readAt: number };

  constructor(
    private readonly storage: ObjectStorage,
    private readonly env: Env,
    private readonly usage: UsageCounts,
  ) {}

  private granted(month: string): Reserved {
    return this.storage.kv.get<Reserved>(reservedKey(month)) ?? { logs: 0, bytes: 0 };
  }

  /** Granted and not delivered yet. */
  private reserved(month: string): Reserved {
    const granted = this.granted(month);
    const settled = this.usage.settled(month);
    return { logs: Math.max(0, granted.logs - settled.logs), bytes: Math.max(0, granted.bytes - settled.bytes) };
  }

  async tierFor(orgId: string, now: number): Promise<Tier> {
    if (this.tier && now - this.tier.readAt < TIER_TTL_MS) return this.tier.tier;
    this.storage.kv.put(ORG_KEY, orgId);
    const tier = (await findOrg(createDb(this.env.DB), orgId))?.tier ?? "free";
    this.tier = { tier, readAt: now };
    return tier;
  }

  private state(tier: Tier, month: string): QuotaState {
    const plan = TIERS[tier];
    const [y, m] = month.split("-").map(Number);
    const resets_at = new Date(Date.UTC(y!, m!, 1)).toISOString();
    const limits = {
      logs_limit: plan.limits.logs_per_month,
      log_bytes_limit: plan.limits.log_bytes_per_month,
      messages_in_limit: plan.limits.device_messages_in_per_month,
      resets_at,
      hot_window_days: plan.hot_retention_days,
      archive_days: plan.archive_retention_days,
      tier,
    };
    const hard = (limit: "logs_per_month" | "log_bytes_per_month" | "device_messages_in_per_month") =>
      !plan.soft.includes(limit);
    // Soft limits (enterprise) leave nothing to count: every delivery asks, so this stays cheap.
    if (!hard("logs_per_month") && !hard("log_bytes_per_month") && !hard("device_messages_in_per_month")) {
      return { month, logs_left: null, log_bytes_left: null, messages_in_left: null, ...limits };
    }
    const used = this.usage.month(month);
    const r = this.reserved(month);
    return {
      month,
      logs_left: hard("logs_per_month") ? plan.limits.logs_per_month - used.logs - r.logs : null,
      log_bytes_left: hard("log_bytes_per_month") ? plan.limits.log_bytes_per_month - used.log_bytes - r.bytes : null,
      messages_in_left: hard("device_messages_in_per_month")
        ? plan.limits.device_messages_in_per_month - used.device_messages_in
        : null,
      ...limits,
    };
  }

  /** Grants, in order, as many of the offered lines (their byte sizes) as the month has room for. */
  async reserve(orgId: string, month: string, lineBytes: number[], now: number): Promise<QuotaGrant> {
    const tier = await this.tierFor(orgId, now);
    const before = this.state(tier, month);
    if (before.messages_in_left !== null && before.messages_in_left <= 0) return { granted: 0, state: before };
    // Soft limits refuse nothing and hold nothing back.
    if (before.logs_left === null && before.log_bytes_left === null)
      return { granted: lineBytes.length, state: before };
    const logsRoom = before.logs_left ?? Infinity;
    const bytesRoom = before.log_bytes_left ?? Infinity;
    let granted = 0;
    let bytes = 0;
    while (granted < lineBytes.length && granted < logsRoom && bytes + lineBytes[granted]! <= bytesRoom)
      bytes += lineBytes[granted++]!;
    if (granted > 0) {
      const g = this.granted(month);
      this.storage.kv.put(reservedKey(month), { logs: g.logs + granted, bytes: g.bytes + bytes });
    }
    return { granted, state: this.state(tier, month) };
  }

  /** The month's state for a delivery's answer, once the org is known (else undefined). */
  async current(month: string, now: number): Promise<QuotaState | undefined> {
    const orgId = this.storage.kv.get<string>(ORG_KEY);
    return orgId === undefined ? undefined : this.state(await this.tierFor(orgId, now), month);
  }
}
