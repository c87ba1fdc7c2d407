// Projects, and the one place a project's D1 rows are removed together.
import { and, asc, count, eq, getTableColumns, gt, inArray, lt, type SQL, sql } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { newId } from "../../lib/crypto";
import type { Db } from "../client";
import {
  alertDeliveries,
  alertRules,
  alerts,
  alertTargets,
  devices,
  logShards,
  orgs,
  projects,
  registrationTokens,
} from "../schema";

export type Project = typeof projects.$inferSelect;

export async function createProject(db: Db, orgId: string, name: string): Promise<Project> {
  const now = Date.now();
  const project: Project = { id: newId("prj", now), orgId, name, createdAt: now };
  await db.insert(projects).values(project);
  return project;
}

/**
 * A whole row as the constants a SELECT yields, column by column in the table's order: what
 * `db.insert(table).select(…)` stores, so a row is stored only where that SELECT finds a row.
 * (Here for want of a shared file: keys.ts and devices.ts use it too.)
 */
export function constantRow<T extends SQLiteTable>(
  table: T,
  row: T["$inferSelect"],
): Record<keyof T["$inferSelect"], SQL.Aliased> {
  const values = row as Record<string, unknown>;
  const fields = Object.entries(getTableColumns(table)).map(([key, column]) => [
    key,
    sql`${sql.param(values[key], column)}`.as(column.name),
  ]);
  return Object.fromEntries(fields) as Record<keyof T["$inferSelect"], SQL.Aliased>;
}

/**
 * Adds the project only while the org holds fewer than `max`, in one statement, and counts
 * the org's projects after it in the same batch.
 */
export async function createProjectWithinLimit(
  db: Db,
  orgId: string,
  name: string,
  max: number,
): Promise<{ created: Project | undefined; used: number }> {
  const now = Date.now();
  const project: Project = { id: newId("prj", now), orgId, name, createdAt: now };
  const held = db.select({ n: count() }).from(projects).where(eq(projects.orgId, orgId));
  const [stored, [after]] = await db.batch([
    db
      .insert(projects)
      .select((qb) =>
        qb
          .select(constantRow(projects, project))
          .from(orgs)
          .where(and(eq(orgs.id, orgId), sql`(${held}) < ${max}`)),
      )
      .returning(),
    held,
  ]);
  return { created: stored[0], used: after!.n };
}

/** A project of the org; a project of another org is not found, like a missing one. */
export async function findProjectOfOrg(db: Db, orgId: string, projectId: string): Promise<Project | undefined> {
  return db.query.projects.findFirst({ where: and(eq(projects.id, projectId), eq(projects.orgId, orgId)) });
}

/** At most `limit` of the org's projects after `afterId`, by id (ids sort by creation). */
export async function listProjects(
  db: Db,
  orgId: string,
  page: { afterId?: string; limit: number },
): Promise<Project[]> {
  return db.query.projects.findMany({
    where: and(eq(projects.orgId, orgId), page.afterId ? gt(projects.id, page.afterId) : undefined),
    orderBy: asc(projects.id),
    limit: page.limit,
  });
}

/**
 * Ids of projects created before `createdBefore`, `limit` at a time after `afterId`, by id: what the jobs
 * page through.
 */
export async function listProjectIds(
  db: Db,
  page: { createdBefore: number; afterId: string | null; limit: number },
): Promise<string[]> {
  const rows = await db
    .select({ id: projects.id })
    .from(projects)
    .where(and(lt(projects.createdAt, page.createdBefore), page.afterId ? gt(projects.id, page.afterId) : undefined))
    .orderBy(asc(projects.id))
    .limit(page.limit);
  return rows.map((r) => r.id);
}

export type ProjectWithTier = Project & { tier: (typeof orgs.$inferSelect)["tier"] };

/**
 * The projects of `ids` that still exist, with their org's tier, by id, in one query (at most 90 ids: D1
 * binds 100 parameters).
 */
export async function projectsWithTier(db: Db, ids: string[]): Promise<ProjectWithTier[]> {
  if (ids.length === 0) return [];
  return db
    .select({ ...getTableColumns(projects), tier: orgs.tier })
    .from(projects)
    .innerJoin(orgs, eq(orgs.id, projects.orgId))
    .where(inArray(projects.id, ids))
    .orderBy(asc(projects.id));
}

/** The project, whichever org it is of (for the objects, which know a project by its id alone). */
export async function findProject(db: Db, projectId: string): Promise<Project | undefined> {
  return db.query.projects.findFirst({ where: eq(projects.id, projectId) });
}

/**
 * The project with its tokens, devices and rules, in one batch so none outlives it. (Its sessions are in its
 * object, retired first.)
 */
export async function deleteProjectCascade(db: Db, projectId: string): Promise<void> {
  await db.batch([
    db.delete(registrationTokens).where(eq(registrationTokens.projectId, projectId)),
    db.delete(devices).where(eq(devices.projectId, projectId)),
    db.delete(logShards).where(eq(logShards.projectId, projectId)),
    // A rule's targets and attempts go with it (their rows name the rule, not the project).
    db
      .delete(alertTargets)
      .where(
        inArray(
          alertTargets.ruleId,
          db.select({ id: alertRules.id }).from(alertRules).where(eq(alertRules.projectId, projectId)),
        ),
      ),
    db
      .delete(alertDeliveries)
      .where(
        inArray(
          alertDeliveries.ruleId,
          db.select({ id: alertRules.id }).from(alertRules).where(eq(alertRules.projectId, projectId)),
        ),
      ),
    db.delete(alertRules).where(eq(alertRules.projectId, projectId)),
    db.delete(alerts).where(eq(alerts.projectId, projectId)),
    db.delete(projects).where(eq(projects.id, projectId)),
  ]);
}
