// The daily pruning of a message's projects, by each tier's retention: alerts that resolved
// before the alert retention go with their webhook attempts. (Archived lines are deleted by each
// log shard, on its alarm: durable-objects/log-shard/retention.ts.) Each statement deletes at
// most PRUNE_ROWS rows; a project group that reached it continues in a follow-up message.
//
// What it costs: per tier present among the projects (at most three), one batch of two for
// alerts: at most 6 D1 queries.
import { TIERS, type Tier } from "../contract/tiers";
import type { Db } from "../db/client";
import { pruneAlerts } from "../db/repos/alerts";
import type { ProjectWithTier } from "../db/repos/projects";
import { DAY_MS } from "../lib/time";

/** Rows one pruning statement deletes at most (alerts: their webhook attempts go beside them). */
export const PRUNE_ROWS = 2_000;

/** Prunes the projects as of `at`; answers those with more left to prune. */
export async function pruneProjects(db: Db, projects: ProjectWithTier[], at: number): Promise<string[]> {
  const more: string[] = [];
  for (const tier of Object.keys(TIERS) as Tier[]) {
    const ids = projects.filter((p) => p.tier === tier).map((p) => p.id);
    if (ids.length === 0) continue;
    const plan = TIERS[tier];
    const alerts = await pruneAlerts(db, ids, at - plan.alert_retention_days * DAY_MS, PRUNE_ROWS);
    if (alerts >= PRUNE_ROWS) more.push(...ids);
  }
  return more;
}
