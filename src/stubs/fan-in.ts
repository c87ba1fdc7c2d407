import type { FanIn } from "../../durable-objects/fan-in/hub";
import { FAN_IN_SENDER } from "../contract/fan-in";

/** The name of a project's `index`-th fan-in object, which is also how it signs its deliveries to the project. */
export function fanInName(projectId: string, index: number): string {
  return `${projectId}${FAN_IN_SENDER}${index}`;
}

/** A fan-in object by its name (see src/contract/fan-in.ts). */
export function fanInByName(env: Env, name: string): DurableObjectStub<FanIn> {
  const ns = env.FAN_IN as DurableObjectNamespace<FanIn>;
  return ns.get(ns.idFromName(name));
}
