// Projects, and the one place a project's D1 rows are removed together.
import { and, asc, count, eq, gt, inArray } from "drizzle-orm";
import type { Db } from "../client";
import { alertDeliveries, alertRules, alertTargets, alerts, archiveDays, devices, projects, registrationTokens, sessions } from "../schema";
import { newId } from "../../lib/crypto";

export type Project = typeof projects.$inferSelect;

export async function createProject(db: Db, orgId: string, name: string): Promise<Project> {
  const now = Date.now();
  const project: Project = { id: newId("prj", now), orgId, name, createdAt: now };
  await db.insert(projects).values(project);
  return project;
}

/** Projects of the org, as the tier's projects limit counts them. */
export async function countProjects(db: Db, orgId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(projects).where(eq(projects.orgId, orgId));
  return row!.n;
}

/** A project of the org; a project of another org is not found, like a missing one. */
export async function findProjectOfOrg(db: Db, orgId: string, projectId: string): Promise<Project | undefined> {
  return db.query.projects.findFirst({ where: and(eq(projects.id, projectId), eq(projects.orgId, orgId)) });
}

/** At most `limit` of the org's projects after `afterId`, by id (ids sort by creation). */
export async function listProjects(db: Db, orgId: string, page: { afterId?: string; limit: number }): Promise<Project[]> {
  return db.query.projects.findMany({
    where: and(eq(projects.orgId, orgId), page.afterId ? gt(projects.id, page.afterId) : undefined),
    orderBy: asc(projects.id),
    limit: page.limit,
  });
}

/** Every org's projects, `limit` at a time after `afterId`, by id: what the jobs walk. */
export async function listAllProjects(db: Db, page: { afterId?: string; limit: number }): Promise<Project[]> {
  return db.query.projects.findMany({
    where: page.afterId ? gt(projects.id, page.afterId) : undefined,
    orderBy: asc(projects.id),
    limit: page.limit,
  });
}

/** The project with its tokens, devices and sessions, in one batch so none outlives it. */
export async function deleteProjectCascade(db: Db, projectId: string): Promise<void> {
  await db.batch([
    db.delete(registrationTokens).where(eq(registrationTokens.projectId, projectId)),
    db.delete(devices).where(eq(devices.projectId, projectId)),
    db.delete(sessions).where(eq(sessions.projectId, projectId)),
    db.delete(archiveDays).where(eq(archiveDays.projectId, projectId)),
    // A rule's targets and attempts go with it (their rows name the rule, not the project).
    db.delete(alertTargets).where(inArray(alertTargets.ruleId, db.select({ id: alertRules.id }).from(alertRules).where(eq(alertRules.projectId, projectId)))),
    db.delete(alertDeliveries).where(inArray(alertDeliveries.ruleId, db.select({ id: alertRules.id }).from(alertRules).where(eq(alertRules.projectId, projectId)))),
    db.delete(alertRules).where(eq(alertRules.projectId, projectId)),
    db.delete(alerts).where(eq(alerts.projectId, projectId)),
    db.delete(projects).where(eq(projects.id, projectId)),
  ]);
}
