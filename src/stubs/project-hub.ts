import type { ProjectHub } from "../../durable-objects/project-hub/hub";

/** The Durable Object of one project, addressed by the project's id. */
export function projectHub(env: Env, projectId: string): DurableObjectStub<ProjectHub> {
  const ns = env.PROJECT_HUB as DurableObjectNamespace<ProjectHub>;
  return ns.get(ns.idFromName(projectId));
}

/**
 * The org's own hub: a ProjectHub addressed by `org:<org id>`, holding what belongs to no
 * project (the API records and api_calls of calls such as GET /projects or /keys) and the
 * org's storage figure, which its projects report to it (durable-objects/org-storage.ts).
 */
export function orgHub(env: Env, orgId: string): DurableObjectStub<ProjectHub> {
  return projectHub(env, `org:${orgId}`);
}
