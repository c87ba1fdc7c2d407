// What every stats read shares: the scope a query names (a project, or an org and all its
// projects), checked against the caller, and sums of usage counters.
import { notFound } from "../contract/errors";
import { USAGE_FIELDS, type UsageCounters } from "../contract/usage";
import type { Db } from "../db/client";
import { listProjects } from "../db/repos/projects";
import type { StatsScope } from "../db/repos/stats";
import { projectOfOrg } from "./tenancy";

/** The scope a stats query names, checked against the caller's org: another org's is 404. */
export async function statsScope(
  db: Db,
  callerOrgId: string,
  q: { project_id?: string; org_id?: string },
): Promise<StatsScope> {
  if (q.project_id) return { projectId: (await projectOfOrg(db, callerOrgId, q.project_id)).id };
  if (q.org_id !== callerOrgId) throw notFound("org");
  return { orgId: callerOrgId };
}

export const zero = (): UsageCounters => Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as UsageCounters;
export const add = (a: UsageCounters, b: UsageCounters) => {
  for (const f of USAGE_FIELDS) a[f] += b[f];
  return a;
};

/** Every project id of the org, a page at a time. */
export async function projectIdsOf(db: Db, orgId: string): Promise<string[]> {
  const ids: string[] = [];
  for (let afterId: string | undefined; ; ) {
    const page = await listProjects(db, orgId, { afterId, limit: 500 });
    ids.push(...page.map((p) => p.id));
    if (page.length < 500) return ids;
    afterId = page[page.length - 1]!.id;
  }
}
