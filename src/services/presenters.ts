// How stored rows look on the wire: snake_case fields and ISO 8601 times.
import type { Presence } from "../contract/presence";
import type { SessionFields } from "../contract/sessions";
import { presentPlan } from "../contract/tiers";
import type { apiKeys, devices, orgs, projects } from "../db/schema";
import { iso, isoOrNull } from "../lib/time";

type Org = typeof orgs.$inferSelect;
type Project = typeof projects.$inferSelect;
type ApiKey = typeof apiKeys.$inferSelect;
type Device = typeof devices.$inferSelect;

export const presentOrg = (o: Org, withLimits = false) => ({
  id: o.id,
  name: o.name,
  tier: o.tier,
  created_at: iso(o.createdAt),
  ...(withLimits ? { limits: presentPlan(o.tier) } : {}),
});

export const presentProject = (p: Project) => ({
  id: p.id,
  name: p.name,
  org_id: p.orgId,
  created_at: iso(p.createdAt),
});

export const presentKey = (k: ApiKey) => ({
  id: k.id,
  name: k.name,
  role: k.role,
  prefix: k.prefix,
  created_by: k.createdBy,
  created_at: iso(k.createdAt),
});

/**
 * A registry row, overlaid with the live presence (the device's object's, or its project's picture) when we
 * have it.
 */
export const presentDevice = (d: Device, live?: Presence | null) => ({
  id: d.id,
  project_id: d.projectId,
  name: d.name,
  dsn: d.dsn,
  device_type: d.deviceType,
  environment: d.environment,
  status: d.decommissionedAt ? "offline" : (live?.status ?? d.status),
  status_changed_at: isoOrNull(live?.status_changed_at ?? d.statusChangedAt),
  last_seen_at: isoOrNull(live?.last_seen_at ?? d.lastSeenAt),
  last_heartbeat_at: isoOrNull(live?.last_heartbeat_at ?? d.lastHeartbeatAt),
  metrics: live?.metrics ?? d.metrics ?? null,
  current_session_id: live?.current_session_id ?? d.currentSessionId,
  last_log_at: isoOrNull(live?.last_log_at ?? d.lastLogAt),
  device_info: d.deviceInfo ?? null,
  heartbeat_interval_ms: d.heartbeatIntervalMs,
  registered_at: iso(d.registeredAt),
  decommissioned_at: isoOrNull(d.decommissionedAt),
  // Who last renamed, moved, paused or decommissioned it (null: nobody since it registered).
  changed_by: d.changedBy
    ? { kind: d.changedBy.kind, id: d.changedBy.id, label: d.changedBy.label, at: iso(d.changedBy.at) }
    : null,
});

export const presentSession = (where: { projectId: string; deviceId: string }, s: SessionFields, now = Date.now()) => ({
  session_id: s.session_id,
  name: s.name,
  project_id: where.projectId,
  device_id: where.deviceId,
  status: s.status,
  started_at: iso(s.started_at),
  completed_at: isoOrNull(s.completed_at),
  duration_seconds: Math.max(0, ((s.completed_at ?? now) - s.started_at) / 1000),
  total_logs: s.total_logs,
  error_count: s.error_count,
  warning_count: s.warning_count,
});
