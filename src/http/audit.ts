// Appending to an org's audit log from a route, once its mutation is done: who is calling (from
// what authenticated the request), from where, under which request id. One call to the org's
// own hub and one row there; see durable-objects/project-hub/audit.ts.
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import type { AuditAction, AuditActor, AuditEntry, AuditTarget, RequestInfo } from "../contract/audit";
import { orgHub } from "../stubs/project-hub";

/** The server admin token, and the platform's own work, act as the system. */
const SYSTEM_ACTOR: AuditActor = { kind: "system", id: "admin", label: "server admin" };

/** Who made the request, as far as its authentication said. */
export function actorOf<E extends AppEnv>(c: Context<E>): AuditActor {
  const key = c.get("apiKey");
  if (key) return { kind: "key", id: key.id, label: key.name, role: key.role };
  const person = c.get("person")?.person;
  if (person) return { kind: "person", id: person.id, label: person.email, role: person.role };
  const device = c.get("device");
  if (device) return { kind: "device", id: device.deviceId, label: device.deviceId };
  return SYSTEM_ACTOR;
}

/** Where the request came from, and its id (X-Request-Id, echoed in the answer). */
export function requestOf<E extends AppEnv>(c: Context<E>): RequestInfo {
  const ip = c.req.header("cf-connecting-ip");
  const userAgent = c.req.header("user-agent");
  return {
    request_id: c.var.requestId,
    ...(ip ? { ip } : {}),
    ...(userAgent ? { user_agent: userAgent.slice(0, 512) } : {}),
  };
}

export interface Audited {
  action: AuditAction;
  target: AuditTarget;
  summary?: Record<string, unknown>;
  projectId?: string;
  /** The org whose log it goes to; by default the caller's. */
  orgId?: string;
  actor?: AuditActor;
}

/** Appends one event for the request `c` made. */
export async function audit<E extends AppEnv>(c: Context<E>, e: Audited): Promise<void> {
  const orgId = e.orgId ?? c.get("org")?.orgId ?? c.get("device")?.orgId;
  if (!orgId) throw new Error(`no org to audit ${e.action} in`);
  const entry: AuditEntry = {
    actor: e.actor ?? actorOf(c),
    action: e.action,
    target: e.target,
    ...(e.projectId ? { project_id: e.projectId } : {}),
    summary: e.summary ?? {},
    ...requestOf(c),
  };
  await orgHub(c.env, orgId).appendAudit([entry]);
}
