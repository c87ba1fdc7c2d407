import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { decodeCursor, page } from "../contract/cursor";
import { notFound } from "../contract/errors";
import { CreateProject, ListProjects, ProjectParams } from "../contract/tenancy";
import { createProjectWithinLimit, listProjects } from "../db/repos/projects";
import { audit } from "../http/audit";
import { atLimit, describer } from "../http/describe";
import { jsonBody, params, query } from "../http/validate";
import { presentProject } from "../services/presenters";
import { insertWithinLimit } from "../services/quotas";
import { deleteProject, projectOfOrg } from "../services/tenancy";

const describe = describer("Projects");

const IdCursor = z.object({ id: z.string() });

export const projects = new Hono<AppEnv>()
  .post(
    "/",
    describe({
      summary: "Create a project",
      answers: { 201: "The project" },
      errors: [atLimit("projects")],
    }),
    orgKey("admin"),
    jsonBody(CreateProject),
    async (c) => {
      const { db, org } = c.var;
      const name = c.req.valid("json").name;
      const project = await insertWithinLimit(db, org.orgId, "projects", (max) =>
        createProjectWithinLimit(db, org.orgId, name, max),
      );
      await audit(c, {
        action: "project.created",
        target: { kind: "project", id: project.id, label: name },
        projectId: project.id,
        summary: { name },
      });
      return c.json({ project: presentProject(project) }, 201);
    },
  )
  .get(
    "/",
    describe({ summary: "List projects", answers: { 200: "A page of the org's projects" } }),
    orgKey("viewer"),
    query(ListProjects),
    async (c) => {
      const q = c.req.valid("query");
      const afterId = decodeCursor(q.cursor, IdCursor)?.id;
      const rows = await listProjects(c.var.db, c.var.org.orgId, { afterId, limit: q.limit + 1 });
      const { items, next_cursor } = page(rows, q.limit, (p) => ({ id: p.id }));
      return c.json({ projects: items.map(presentProject), next_cursor });
    },
  )
  .get(
    "/:project_id",
    describe({ summary: "A project", errors: [() => notFound("project")] }),
    orgKey("viewer"),
    params(ProjectParams),
    async (c) => {
      const project = await projectOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").project_id);
      return c.json({ project: presentProject(project) });
    },
  )
  .delete(
    "/:project_id",
    describe({
      summary: "Delete a project and decommission its devices",
      description: "Its devices' keys stop at once; its data stops being written and read.",
      errors: [() => notFound("project")],
    }),
    orgKey("admin"),
    params(ProjectParams),
    async (c) => {
      const project = await projectOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").project_id);
      await deleteProject(c.env, c.var.db, project.id);
      await audit(c, {
        action: "project.deleted",
        target: { kind: "project", id: project.id, label: project.name },
        projectId: project.id,
      });
      return c.json({ id: project.id, deleted: true });
    },
  );
