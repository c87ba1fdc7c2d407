// The audit log: one event for every mutation, kept append-only per org in the org's own hub
// (durable-objects/project-hub/audit.ts) until its tier's audit retention ends. Who (a person, an
// API key, a device, or the system: the server admin token and the platform's own jobs), with
// which role, did what to what, when, from where, under which request id, and a summary of the
// change that never holds a secret. Steady device traffic (heartbeats, batches, sessions) is not
// audited. docs/security.md has the list of what is.
import { z } from "zod";
import { cursor, instant, instantThrough, limit, orgId, printable, projectId } from "./common";

const AUDIT_ACTIONS = [
  "org.created",
  "org.updated",
  "project.created",
  "project.deleted",
  "key.created",
  "key.revoked",
  "capsule.generated",
  "device.registered",
  "device.updated",
  "device.decommissioned",
  "command.sent",
  "command.delivered",
  "command.acked",
  "command.expired",
  "device.connected",
  "device.disconnected",
  "file.deleted",
  "alert_rule.created",
  "alert_rule.updated",
  "alert_rule.silenced",
  "alert_rule.deleted",
  "person.signed_in",
  "person.sign_in_failed",
  "person.invited",
  "person.joined",
  "person.role_changed",
  "person.removed",
  "invitation.revoked",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

type ActorKind = "person" | "key" | "device" | "system";

export interface AuditActor {
  kind: ActorKind;
  id: string;
  label: string;
  /** The role the actor acted with (people and keys). */
  role?: string;
}

export interface AuditTarget {
  kind: string;
  id: string;
  label?: string;
}

/** An event as a route or an object hands it to the org's log (the log stamps its id and time). */
export interface AuditEntry {
  actor: AuditActor;
  action: AuditAction;
  target: AuditTarget;
  project_id?: string;
  /** What changed, never a secret: small JSON. */
  summary: Record<string, unknown>;
  ip?: string;
  user_agent?: string;
  request_id: string;
}

/** Where a request came from, as an event records it. */
export type RequestInfo = Pick<AuditEntry, "ip" | "user_agent" | "request_id">;

/** An event as GET /audit answers it. */
export interface AuditEvent extends AuditEntry {
  id: string;
  at: string;
}

const actorOrTargetId = printable(200, "an id");

export const AuditQuery = z.object({
  org_id: orgId.optional(),
  project_id: projectId.optional(),
  /** An actor's id: a person, a key, a device, or "admin". */
  actor: actorOrTargetId.optional(),
  /** An action (`command.sent`), or every action on a noun (`command`). */
  action: z
    .string()
    .regex(/^[a-z_]+(\.[a-z_]+)?$/, "an action such as command.sent, or a noun such as command")
    .max(64)
    .optional(),
  target: actorOrTargetId.optional(),
  from: instant.optional(),
  // Events at or before to: a date takes its whole day in.
  to: instantThrough.optional(),
  limit: limit(200, 50),
  cursor,
});
export type AuditQuery = z.output<typeof AuditQuery>;

export const AuditExport = AuditQuery.omit({ limit: true, cursor: true }).extend({
  format: z.enum(["ndjson", "csv"]).default("ndjson"),
});

/** What the log reads for a page: the filters, and the events older than `before` (an id). */
export type AuditFilter = Omit<AuditQuery, "org_id" | "limit" | "cursor"> & { before?: number };

/**
 * Where failed sign-ins that name no org are logged: the deployment's own audit log (GET /audit/deployment,
 * server admin).
 */
export const DEPLOYMENT_LOG = "deployment";

/**
 * The id of an event: its time in ms times 1,024 plus its order within that ms, so ids sort by time and a
 * time range is an id range.
 */
export const AUDIT_ID_PER_MS = 1024;

export const CSV_AUDIT_COLUMNS = [
  "id",
  "at",
  "actor_kind",
  "actor_id",
  "actor_label",
  "role",
  "action",
  "target_kind",
  "target_id",
  "target_label",
  "project_id",
  "summary",
  "ip",
  "user_agent",
  "request_id",
] as const;

/** A command's parameters as an event shows them: their names only, since values may be secrets. */
export function paramNames(params: unknown): string[] {
  return params !== null && typeof params === "object" && !Array.isArray(params)
    ? Object.keys(params).slice(0, 32)
    : [];
}

/** GET /stats/activity: one UTC day of the org's activity, counted from its audit log. */
export interface ActivityDay {
  date: string;
  active_people: number;
  weekly_active_people: number;
  monthly_active_people: number;
  sign_ins: number;
  failed_sign_ins: number;
  commands_sent: number;
  commands_succeeded: number;
  commands_failed: number;
  commands_expired: number;
  devices_registered: number;
  devices_connected: number;
  devices_disconnected: number;
  keys_created: number;
  keys_revoked: number;
}

/** The most days one activity read covers. */
export const ACTIVITY_MAX_DAYS = 92;
