// Org, project and key lookups that every object route shares. A row of another org is
// reported exactly like a missing row: 404.
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { devices, projects } from "../db/schema";
import { notFound } from "../contract/errors";

export async function projectOfOrg(db: Db, orgId: string, projectId: string) {
  const project = await db.query.projects.findFirst({
    where: and(eq(projects.id, projectId), eq(projects.orgId, orgId)),
  });
  if (!project) throw notFound("project");
  return project;
}

export async function deviceOfOrg(db: Db, orgId: string, deviceId: string) {
  const device = await db.query.devices.findFirst({
    where: and(eq(devices.id, deviceId), eq(devices.orgId, orgId)),
  });
  if (!device) throw notFound("device");
  return device;
}
