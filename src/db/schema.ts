// The D1 control plane. Hot, per-device data (logs, heartbeats, commands) lives in the
// device's Durable Object; these tables hold what is queried across a project or org.
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { z } from "zod";
import { ENVIRONMENTS, personRole, role, tier } from "../contract/common";
import { DeviceStatus } from "../contract/fleet";

// Each enum is declared once, in the contract; drizzle wants its values as a non-empty tuple.
const values = <T extends string>(e: { options: T[] }) => e.options as [T, ...T[]];

// Every time is an integer of milliseconds since the epoch (UTC); responses format it as ISO 8601.
const createdAt = () => integer("created_at").notNull();

export const orgs = sqliteTable("orgs", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  tier: text("tier", { enum: values(tier) }).notNull(),
  createdAt: createdAt(),
});

export const projects = sqliteTable(
  "projects",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id").notNull(),
    name: text("name").notNull(),
    createdAt: createdAt(),
  },
  (t) => [index("projects_org_idx").on(t.orgId, t.id)],
);

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id").notNull(),
    name: text("name").notNull(),
    role: text("role", { enum: values(role) }).notNull(),
    keyHash: text("key_hash").notNull(),
    // First characters of the secret, so people can tell their keys apart in a list.
    prefix: text("prefix").notNull(),
    // The key that created it; null for an org's first key, which the server admin creates.
    createdBy: text("created_by"),
    createdAt: createdAt(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("api_keys_hash_idx").on(t.keyHash), index("api_keys_org_idx").on(t.orgId, t.id)],
);

export const registrationTokens = sqliteTable(
  "registration_tokens",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id").notNull(),
    projectId: text("project_id").notNull(),
    tokenHash: text("token_hash").notNull(),
    deviceType: text("device_type").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    name: text("name"),
    dsn: text("dsn"),
    expiresAt: integer("expires_at").notNull(), // ms since epoch
    usedAt: integer("used_at"),
    deviceId: text("device_id"),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex("registration_tokens_hash_idx").on(t.tokenHash),
    index("registration_tokens_expiry_idx").on(t.expiresAt),
  ],
);

// The registry: who the devices are, and their presence as last flushed by each DeviceHub.
export const devices = sqliteTable(
  "devices",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id").notNull(),
    projectId: text("project_id").notNull(),
    dsn: text("dsn").notNull(),
    name: text("name").notNull(),
    deviceType: text("device_type").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    status: text("status", { enum: values(DeviceStatus) }).notNull(),
    deviceInfo: text("device_info", { mode: "json" }).$type<Record<string, unknown>>(),
    metrics: text("metrics", { mode: "json" }).$type<Record<string, number>>(),
    currentSessionId: text("current_session_id"),
    heartbeatIntervalMs: integer("heartbeat_interval_ms").notNull(),
    registeredAt: integer("registered_at").notNull(),
    lastSeenAt: integer("last_seen_at"),
    lastHeartbeatAt: integer("last_heartbeat_at"),
    decommissionedAt: integer("decommissioned_at"),
    // Receipt time (ms) of the device's latest log batch, as last flushed; null until its first.
    lastLogAt: integer("last_log_at"),
    // When the device last changed status (ms), as its DeviceHub stamped the transition.
    statusChangedAt: integer("status_changed_at"),
    // Monotonic counter from the DeviceHub: a late flush never overwrites a newer one.
    presenceVersion: integer("presence_version").notNull().default(0),
    // Who last changed it (renamed, moved, set to maintenance, decommissioned), and when: {kind, id, label, at}.
    changedBy: text("changed_by", { mode: "json" }).$type<{ kind: string; id: string; label: string; at: number }>(),
  },
  (t) => [
    uniqueIndex("devices_project_dsn_idx").on(t.projectId, t.dsn),
    index("devices_org_idx").on(t.orgId, t.id),
    index("devices_project_status_idx").on(t.projectId, t.status, t.id),
  ],
);

// Each project's device statuses, as its object last wrote them: one row per project, rewritten
// at most once a minute when a device's status changed (durable-objects/project-hub/presence.ts),
// so D1's writes follow projects, not devices. Each device that has reported a status is listed
// with the moment it changed (ms, as its DeviceHub stamped it); a device absent is offline (as
// registered, never heard). The status filter of the fleet list reads it.
// (Created WITHOUT ROWID by its migration: one row written per rewrite, no separate key index.)
export const projectStatuses = sqliteTable("project_statuses", {
  projectId: text("project_id").primaryKey(),
  statuses: text("statuses", { mode: "json" })
    .$type<Record<string, [status: z.output<typeof DeviceStatus>, changedAt: number | null]>>()
    .notNull(),
  writtenAt: integer("written_at").notNull(),
});

// Sessions are not here: each project's sessions live in its object
// (durable-objects/project-hub/sessions.ts); migration 0015 dropped the table.
// What a project used on one UTC day, written once by the daily job after the day ends and
// never changed (the key makes a second run a no-op). Counters as in src/contract/usage.ts.
const dayCounters = () => ({
  logs: integer("logs").notNull(),
  logBytes: integer("log_bytes").notNull(),
  sessions: integer("sessions").notNull(),
  heartbeats: integer("heartbeats").notNull(),
  deviceMessagesIn: integer("device_messages_in").notNull(),
  deviceMessagesOut: integer("device_messages_out").notNull(),
  apiCalls: integer("api_calls").notNull(),
  commands: integer("commands").notNull(),
  artifactBytes: integer("artifact_bytes").notNull(),
  errorLines: integer("error_lines").notNull(),
});

export const dailyStats = sqliteTable(
  "daily_stats",
  {
    projectId: text("project_id").notNull(),
    orgId: text("org_id").notNull(),
    date: text("date").notNull(), // YYYY-MM-DD
    ...dayCounters(),
    // Snapshots taken when the day was written.
    storageBytes: integer("storage_bytes").notNull(),
    devices: integer("devices").notNull(),
    activeDevices: integer("active_devices").notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.date] }), index("daily_stats_org_idx").on(t.orgId, t.date)],
);

// A closed month of a project, derived from its daily_stats rows only; written once.
export const monthlyStats = sqliteTable(
  "monthly_stats",
  {
    projectId: text("project_id").notNull(),
    orgId: text("org_id").notNull(),
    month: text("month").notNull(), // YYYY-MM
    ...dayCounters(),
    peakStorageBytes: integer("peak_storage_bytes").notNull(),
    tier: text("tier", { enum: values(tier) }).notNull(),
    exceededLimits: text("exceeded_limits", { mode: "json" }).$type<string[]>().notNull(),
    overageCents: integer("overage_cents").notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.month] }), index("monthly_stats_org_idx").on(t.orgId, t.month)],
);

// Multipart uploads under way. R2 cannot list them, so this is how the hourly job finds and
// aborts the abandoned ones (no part for a day: `active_at` is the start, then each part's
// time); a completed or aborted upload's row is deleted with its parts.
export const uploads = sqliteTable(
  "uploads",
  {
    uploadId: text("upload_id").primaryKey(),
    projectId: text("project_id").notNull(),
    sessionId: text("session_id").notNull(),
    deviceId: text("device_id").notNull(),
    path: text("path").notNull(),
    key: text("key").notNull(),
    createdAt: createdAt(),
    activeAt: integer("active_at").notNull().default(0),
  },
  (t) => [
    index("uploads_active_idx").on(t.activeAt),
    index("uploads_device_idx").on(t.deviceId),
    index("uploads_project_idx").on(t.projectId),
  ],
);

// The parts R2 holds for each upload under way, with their sizes: bytes stored before any file
// exists, which the storage quota counts from here. A part sent again replaces its row.
export const uploadParts = sqliteTable(
  "upload_parts",
  {
    uploadId: text("upload_id").notNull(),
    partNumber: integer("part_number").notNull(),
    size: integer("size").notNull(),
  },
  (t) => [primaryKey({ columns: [t.uploadId, t.partNumber] })],
);

// R2 prefixes of deleted projects, emptied by the daily job, then removed.
export const r2Purges = sqliteTable("r2_purges", {
  prefix: text("prefix").primaryKey(),
  createdAt: createdAt(),
});

// The log shards a project uses (src/contract/log-shards.ts): a shard adds its row once, before
// its first line is answered, so a project-wide search asks only these.
export const logShards = sqliteTable(
  "log_shards",
  {
    projectId: text("project_id").notNull(),
    shard: integer("shard").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.shard] })],
);

// One-time download links (POST /downloads/ticket): the hash of each link's secret, the org key
// that made it and the file it serves; used_at is set by the one download it allows.
export const downloadTickets = sqliteTable(
  "download_tickets",
  {
    hash: text("hash").primaryKey(),
    orgId: text("org_id").notNull(),
    keyId: text("key_id").notNull(),
    href: text("href").notNull(),
    expiresAt: integer("expires_at").notNull(),
    usedAt: integer("used_at"),
  },
  (t) => [index("download_tickets_expires_idx").on(t.expiresAt)],
);

// Alert rules per project (the routes' source of truth; each project's object holds a copy
// with the targets' secrets, src/contract/alerts.ts), the alerts they raised and every
// webhook attempt, both written by the project's object off the hot path.
export const alertRules = sqliteTable(
  "alert_rules",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id").notNull(),
    projectId: text("project_id").notNull(),
    name: text("name").notNull(),
    kind: text("kind").notNull(),
    params: text("params").notNull(), // JSON
    deviceId: text("device_id"),
    deviceType: text("device_type"),
    minFiringS: integer("min_firing_s").notNull(),
    silencedUntil: integer("silenced_until"),
    createdAt: createdAt(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("alert_rules_project_idx").on(t.projectId, t.id)],
);

export const alertTargets = sqliteTable(
  "alert_targets",
  {
    id: text("id").primaryKey(),
    ruleId: text("rule_id").notNull(),
    url: text("url").notNull(),
    format: text("format", { enum: ["json", "slack"] }).notNull(),
    // Kept to sign with (HMAC needs the secret itself, as with any webhook signer).
    secret: text("secret").notNull(),
    createdAt: createdAt(),
  },
  (t) => [index("alert_targets_rule_idx").on(t.ruleId)],
);

export const alerts = sqliteTable(
  "alerts",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id").notNull(),
    projectId: text("project_id").notNull(),
    ruleId: text("rule_id").notNull(),
    deviceId: text("device_id"),
    state: text("state", { enum: ["firing", "resolved"] }).notNull(),
    startedAt: integer("started_at").notNull(),
    resolvedAt: integer("resolved_at"),
    summary: text("summary").notNull(),
  },
  (t) => [index("alerts_project_idx").on(t.projectId, t.id)],
);

export const alertDeliveries = sqliteTable(
  "alert_deliveries",
  {
    id: text("id").primaryKey(),
    ruleId: text("rule_id").notNull(),
    alertId: text("alert_id").notNull(),
    targetId: text("target_id").notNull(),
    stateChange: text("state_change", { enum: ["firing", "resolved"] }).notNull(),
    attempt: integer("attempt").notNull(),
    at: integer("at").notNull(),
    status: integer("status"),
    error: text("error"),
  },
  // By alert too: the daily job prunes an alert's attempts with it (src/jobs/prune.ts).
  (t) => [index("alert_deliveries_rule_idx").on(t.ruleId, t.id), index("alert_deliveries_alert_idx").on(t.alertId)],
);

// People who sign in through the team's OpenID provider (src/auth/oidc.ts), one row per identity
// (the provider's issuer and subject), with the email it last gave.
export const people = sqliteTable(
  "people",
  {
    id: text("id").primaryKey(),
    issuer: text("issuer").notNull(),
    subject: text("subject").notNull(),
    email: text("email").notNull(),
    name: text("name"),
    createdAt: createdAt(),
    lastSeenAt: integer("last_seen_at"),
  },
  (t) => [uniqueIndex("people_identity_idx").on(t.issuer, t.subject), index("people_email_idx").on(t.email)],
);

// Who belongs to which org, with which role (src/contract/people.ts); a person may be in several.
export const memberships = sqliteTable(
  "memberships",
  {
    orgId: text("org_id").notNull(),
    personId: text("person_id").notNull(),
    role: text("role", { enum: values(personRole) }).notNull(),
    joinedAt: integer("joined_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.personId] }), index("memberships_person_idx").on(t.personId)],
);

// Invitations by email: the hash of the link's secret (null for the owner named when the org was
// made, who needs no link), valid until expires_at, used once (accepted_at) or withdrawn.
export const invitations = sqliteTable(
  "invitations",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id").notNull(),
    email: text("email").notNull(),
    role: text("role", { enum: values(personRole) }).notNull(),
    tokenHash: text("token_hash"),
    createdBy: text("created_by"),
    createdAt: createdAt(),
    expiresAt: integer("expires_at").notNull(),
    acceptedAt: integer("accepted_at"),
    revokedAt: integer("revoked_at"),
  },
  (t) => [
    uniqueIndex("invitations_token_idx").on(t.tokenHash),
    index("invitations_org_idx").on(t.orgId),
    index("invitations_email_idx").on(t.email),
  ],
);

// Sign-in sessions, server-side so that ending one (sign-out, removal) is immediate: the hash of
// the cookie's secret, the person, when it was last used (the idle timeout) and when it ends.
export const personSessions = sqliteTable(
  "person_sessions",
  {
    id: text("id").primaryKey(),
    personId: text("person_id").notNull(),
    createdAt: createdAt(),
    lastUsedAt: integer("last_used_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    endedAt: integer("ended_at"),
  },
  (t) => [index("person_sessions_person_idx").on(t.personId)],
);
