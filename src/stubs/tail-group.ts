import type { TailGroup } from "../../durable-objects/tail-group/hub";

/** One of a project's viewer groups, by its name (src/contract/tail-plan.ts). */
export function tailGroup(env: Env, name: string): DurableObjectStub<TailGroup> {
  const ns = env.TAIL_GROUP as DurableObjectNamespace<TailGroup>;
  return ns.get(ns.idFromName(name));
}
