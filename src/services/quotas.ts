// The tier's limits on what an org holds (projects, devices, API keys): checked where each is
// created, answered with 429 quota_exceeded. Monthly volumes are enforced where lines arrive
// (the project's object), not here.
//
// A creation is counted after it is written and undone if it went past the limit, so two
// creations racing for the last place can never both stay (at worst both are refused).
import { ApiError } from "../contract/errors";
import { type LimitName, TIERS, type Tier } from "../contract/tiers";
import type { Db } from "../db/client";
import { findOrg } from "../db/repos/orgs";

type HeldLimit = Extract<LimitName, "projects" | "devices" | "api_keys">;

/** The 429 for a limit; `resetsAt` is when a monthly limit starts over (null for counts). */
export function quotaExceeded(limit: LimitName, max: number, used: number, resetsAt: string | null, tier: Tier): ApiError {
  return new ApiError("quota_exceeded", `the ${tier} tier's ${limit} limit (${max}) is reached`, {
    quota: limit,
    limit: max,
    used,
    resets_at: resetsAt,
  });
}

export async function tierOf(db: Db, orgId: string): Promise<Tier> {
  return (await findOrg(db, orgId))?.tier ?? "free";
}

/**
 * Creates something the tier limits per org: refuses at once when the org is already at
 * the limit, else creates it, counts again and undoes it if a racing creation got there first.
 */
export async function createWithinLimit<T>(
  db: Db,
  orgId: string,
  limit: HeldLimit,
  steps: { count: () => Promise<number>; create: () => Promise<T>; undo: (created: T) => Promise<void> },
): Promise<T> {
  const tier = await tierOf(db, orgId);
  const max = TIERS[tier].limits[limit];
  const before = await steps.count();
  if (before >= max) throw quotaExceeded(limit, max, before, null, tier);
  const created = await steps.create();
  const after = await steps.count();
  if (after > max) {
    await steps.undo(created);
    throw quotaExceeded(limit, max, after - 1, null, tier);
  }
  return created;
}
