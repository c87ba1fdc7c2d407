import { and, asc, eq, gt } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { devices, projects as projectsTable, registrationTokens, sessions } from "../db/schema";
import { decodeCursor, page } from "../contract/cursor";
import { jsonBody, params, query } from "../http/validate";
import { mapLimit } from "../lib/concurrency";
import { newId } from "../lib/crypto";
import { deviceHub } from "../stubs/device-hub";
import { presentProject } from "../services/presenters";
import { projectOfOrg } from "../services/tenancy";
import { CreateProject, ListProjects, ProjectParams } from "../contract/tenancy";

export const projects = new Hono<AppEnv>()
  .post("/", orgKey("admin"), jsonBody(CreateProject), async (c) => {
    const now = Date.now();
    const project = { id: newId("prj", now), orgId: c.var.org.orgId, name: c.req.valid("json").name, createdAt: now };
    await c.var.db.insert(projectsTable).values(project);
    return c.json({ project: presentProject(project) }, 201);
  })
  .get("/", orgKey("viewer"), query(ListProjects), async (c) => {
    const q = c.req.valid("query");
    const after = decodeCursor(q.cursor, z.object({ id: z.string() }));
    const rows = await c.var.db.query.projects.findMany({
      where: and(eq(projectsTable.orgId, c.var.org.orgId), after ? gt(projectsTable.id, after.id) : undefined),
      orderBy: asc(projectsTable.id),
      limit: q.limit + 1,
    });
    const { items, next_cursor } = page(rows, q.limit, (p) => ({ id: p.id }));
    return c.json({ projects: items.map(presentProject), next_cursor });
  })
  .get("/:project_id", orgKey("viewer"), params(ProjectParams), async (c) => {
    const project = await projectOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").project_id);
    return c.json({ project: presentProject(project) });
  })
  .delete("/:project_id", orgKey("admin"), params(ProjectParams), async (c) => {
    const { db, org } = c.var;
    const project = await projectOfOrg(db, org.orgId, c.req.valid("param").project_id);
    const deviceIds = await db.select({ id: devices.id }).from(devices).where(eq(devices.projectId, project.id));
    // Stop every device key before the rows go, so no device keeps writing into a deleted project.
    await mapLimit(deviceIds, 50, ({ id }) => deviceHub(c.env, id).decommission());
    await db.batch([
      db.delete(registrationTokens).where(eq(registrationTokens.projectId, project.id)),
      db.delete(devices).where(eq(devices.projectId, project.id)),
      db.delete(sessions).where(eq(sessions.projectId, project.id)),
      db.delete(projectsTable).where(eq(projectsTable.id, project.id)),
    ]);
    return c.json({ id: project.id, deleted: true });
  });
