import type { ProjectHub } from "../../durable-objects/project-hub/hub";

/** The Durable Object of one project, addressed by the project's id. */
export function projectHub(env: Env, projectId: string): DurableObjectStub<ProjectHub> {
  const ns = env.PROJECT_HUB as DurableObjectNamespace<ProjectHub>;
  return ns.get(ns.idFromName(projectId));
}
