// The tier's limits on what an org holds (projects, devices, API keys): checked where each is
// created, answered with 429 quota_exceeded. Monthly volumes are enforced where lines arrive
// (the project's object), not here.
//
// A creation takes its place in the same statement that stores it (INSERT … SELECT … WHERE the
// org holds fewer than the limit). D1 runs each statement and each batch alone, so racing
// creations take the places in turn: N of them against room for L store exactly min(N, L).
import { ApiError } from "../contract/errors";
import { type LimitName, TIERS, type Tier } from "../contract/tiers";
import type { Db } from "../db/client";
import { findOrg } from "../db/repos/orgs";

type HeldLimit = Extract<LimitName, "projects" | "devices" | "api_keys" | "people">;

/** The 429 for a limit; `resetsAt` is when a monthly limit starts over (null for counts). */
export function quotaExceeded(
  limit: LimitName,
  max: number,
  used: number,
  resetsAt: string | null,
  tier: Tier,
): ApiError {
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

/** What one conditional creation did: the row if it was stored, and what the org held once it ran. */
export interface Placed<T> {
  created: T | undefined;
  used: number;
}

/**
 * Creates something the tier limits per org: `insert` stores it, in one statement (or batch),
 * only while the org holds fewer than `max`; refused, it answers 429 with what the org holds.
 */
export async function insertWithinLimit<T>(
  db: Db,
  orgId: string,
  limit: HeldLimit,
  insert: (max: number) => Promise<Placed<T>>,
): Promise<T> {
  const tier = await tierOf(db, orgId);
  const max = TIERS[tier].limits[limit];
  const { created, used } = await insert(max);
  if (created === undefined) throw quotaExceeded(limit, max, used, null, tier);
  return created;
}
