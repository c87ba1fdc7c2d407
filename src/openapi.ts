// GET /api/v1/openapi.json: the API described from the same zod schemas the routes validate
// with. A test checks that every route the app serves is listed here.
import { z } from "zod";
import { ErrorBody } from "./contract/errors";
import { LogLine } from "./contract/log-line";
import { AckCommand, CommandHistoryQuery, CommandParams, CommandPollQuery, QueueCommand } from "./contract/commands";
import {
  AlertRuleParams,
  AlertRulesQuery,
  AlertsQuery,
  CreateAlertRule,
  DeliveriesQuery,
  PatchAlertRule,
} from "./contract/alerts";
import {
  DeviceParams,
  FleetSummaryQuery,
  GenerateCapsule,
  Heartbeat,
  ListDevices,
  MetricsQuery,
  Register,
  UpdateDevice,
} from "./contract/fleet";
import { IngestEnvelope, LogExport, LogSearch, StreamQuery, TicketRequest } from "./contract/logs";
import { FacetsQuery, VolumeQuery } from "./contract/log-counts";
import { CreateSession, EndSession, ListSessions, SessionParams, SessionQuery } from "./contract/sessions";
import { CompleteUpload, FileQuery, ListFiles, UploadQuery } from "./contract/artifacts";
import { DownloadParams, DownloadRequest } from "./contract/downloads";
import {
  ActivityQuery,
  ApiStatsQuery,
  DailyQuery,
  ErrorsQuery,
  MonthlyQuery,
  OverviewQuery,
  TimeseriesQuery,
  UsageQuery,
} from "./contract/stats";
import {
  CreateKey,
  CreateOrg,
  KeyParams,
  ListProjects,
  OrgParams,
  ProjectParams,
  UpdateOrg,
  CreateProject,
} from "./contract/tenancy";
import { ScrapeQuery } from "./contract/scrape";
import { VERSION } from "./contract/version";
import { AuditExport, AuditQuery } from "./contract/audit";
import {
  AcceptInvitation,
  CallbackQuery,
  CreateInvitation,
  InvitationParams,
  LoginQuery,
  OrgScope,
  PatchPerson,
  PersonParams,
} from "./contract/people";

type Auth = "none" | "server admin" | "viewer" | "operator" | "admin" | "device" | "ticket";

interface Operation {
  method: "get" | "post" | "put" | "patch" | "delete";
  path: string;
  summary: string;
  auth: Auth;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** A WebSocket upgrade, a stream or a file instead of JSON. */
  note?: string;
}

const IngestBody = IngestEnvelope.extend({ logs: z.array(LogLine) });

const OPERATIONS: Operation[] = [
  { method: "get", path: "/health", summary: "Liveness and version", auth: "none" },
  { method: "get", path: "/openapi.json", summary: "This document", auth: "none" },
  {
    method: "post",
    path: "/orgs",
    summary: "Create an org and its first admin key",
    auth: "server admin",
    body: CreateOrg,
  },
  {
    method: "patch",
    path: "/orgs/{org_id}",
    summary: "Change an org's tier or name",
    auth: "server admin",
    params: OrgParams,
    body: UpdateOrg,
  },
  { method: "get", path: "/orgs/{org_id}", summary: "An org with its tier limits", auth: "viewer", params: OrgParams },
  { method: "post", path: "/projects", summary: "Create a project", auth: "admin", body: CreateProject },
  { method: "get", path: "/projects", summary: "List projects", auth: "viewer", query: ListProjects },
  { method: "get", path: "/projects/{project_id}", summary: "A project", auth: "viewer", params: ProjectParams },
  {
    method: "delete",
    path: "/projects/{project_id}",
    summary: "Delete a project and decommission its devices",
    auth: "admin",
    params: ProjectParams,
  },
  {
    method: "post",
    path: "/keys",
    summary: "Create an API key (the secret is shown once)",
    auth: "admin",
    body: CreateKey,
  },
  { method: "get", path: "/keys", summary: "List API keys, without secrets", auth: "admin" },
  { method: "delete", path: "/keys/{id}", summary: "Revoke an API key", auth: "admin", params: KeyParams },
  {
    method: "get",
    path: "/me",
    summary: "The calling key or signed-in person and its org (with tier limits); a person's orgs",
    auth: "viewer",
  },
  {
    method: "get",
    path: "/auth/login",
    summary: "Start signing in: a redirect to the OpenID provider (authorization code + PKCE)",
    auth: "none",
    query: LoginQuery,
    note: "a 302 redirect",
  },
  {
    method: "get",
    path: "/auth/callback",
    summary: "The provider's redirect back: sets the session cookie, then a redirect to return_to",
    auth: "none",
    query: CallbackQuery,
    note: "a 302 redirect",
  },
  { method: "post", path: "/auth/logout", summary: "End the session (the cookie stops at once)", auth: "none" },
  { method: "get", path: "/people", summary: "The org's people and their roles", auth: "admin", query: OrgScope },
  {
    method: "patch",
    path: "/people/{person_id}",
    summary: "Change a person's role (owners only by owners; never the last owner)",
    auth: "admin",
    params: PersonParams,
    query: OrgScope,
    body: PatchPerson,
  },
  {
    method: "delete",
    path: "/people/{person_id}",
    summary: "Remove a person from the org (owners only by owners; never the last owner)",
    auth: "admin",
    params: PersonParams,
    query: OrgScope,
  },
  {
    method: "post",
    path: "/invitations",
    summary: "Invite a person by email: a link shown once, valid 7 days, for that email",
    auth: "admin",
    body: CreateInvitation,
  },
  { method: "get", path: "/invitations", summary: "Pending invitations", auth: "admin", query: OrgScope },
  {
    method: "delete",
    path: "/invitations/{id}",
    summary: "Withdraw an invitation",
    auth: "admin",
    params: InvitationParams,
  },
  {
    method: "post",
    path: "/invitations/accept",
    summary: "Accept an invitation made for the signed-in person's email",
    auth: "none",
    body: AcceptInvitation,
    note: "needs a session cookie",
  },
  {
    method: "post",
    path: "/capsules/generate",
    summary: "Mint a one-time registration token",
    auth: "admin",
    body: GenerateCapsule,
  },
  {
    method: "post",
    path: "/fleet/register",
    summary: "Register a device with a registration token",
    auth: "none",
    body: Register,
  },
  {
    method: "post",
    path: "/fleet/heartbeat",
    summary: "Heartbeat with status and metrics",
    auth: "device",
    body: Heartbeat,
  },
  {
    method: "get",
    path: "/fleet/connect",
    summary: "The device's WebSocket (logs and heartbeats in, acks and commands out)",
    auth: "device",
    note: "WebSocket upgrade",
  },
  { method: "get", path: "/fleet/devices", summary: "List devices", auth: "viewer", query: ListDevices },
  {
    method: "get",
    path: "/fleet/devices/{device_id}",
    summary: "A device with its live presence",
    auth: "viewer",
    params: DeviceParams,
  },
  {
    method: "get",
    path: "/fleet/summary",
    summary: "The project's devices counted by status (and alerting), overall and per environment",
    auth: "viewer",
    query: FleetSummaryQuery,
  },
  {
    method: "patch",
    path: "/fleet/devices/{device_id}",
    summary: "Rename, move or set maintenance",
    auth: "admin",
    params: DeviceParams,
    body: UpdateDevice,
  },
  {
    method: "put",
    path: "/fleet/devices/{device_id}",
    summary: "The same as PATCH (a synonym)",
    auth: "admin",
    params: DeviceParams,
    body: UpdateDevice,
  },
  {
    method: "delete",
    path: "/fleet/devices/{device_id}",
    summary: "Decommission: the device key stops at once",
    auth: "admin",
    params: DeviceParams,
  },
  {
    method: "get",
    path: "/fleet/devices/{device_id}/metrics",
    summary: "Heartbeat metric series",
    auth: "viewer",
    params: DeviceParams,
    query: MetricsQuery,
  },
  {
    method: "get",
    path: "/fleet/devices/{device_id}/commands",
    summary: "The device's poll: queued commands, now delivered",
    auth: "device",
    params: DeviceParams,
    query: CommandPollQuery,
  },
  {
    method: "post",
    path: "/fleet/devices/{device_id}/commands/{command_id}/ack",
    summary: "Acknowledge a command",
    auth: "device",
    params: CommandParams,
    body: AckCommand,
  },
  {
    method: "get",
    path: "/fleet/devices/{device_id}/commands/history",
    summary: "Every command with its transitions",
    auth: "viewer",
    params: DeviceParams,
    query: CommandHistoryQuery,
  },
  { method: "post", path: "/fleet/commands", summary: "Queue a command", auth: "operator", body: QueueCommand },
  {
    method: "get",
    path: "/audit",
    summary: "The org's audit log, newest first, filtered and paged",
    auth: "admin",
    query: AuditQuery,
  },
  {
    method: "get",
    path: "/stats/activity",
    summary: "The org's activity per day (active people, sign-ins, commands, devices, keys), from its audit log",
    auth: "admin",
    query: ActivityQuery,
  },
  {
    method: "get",
    path: "/audit/deployment",
    summary: "The deployment's own audit log: failed sign-ins that named no org",
    auth: "server admin",
    query: AuditQuery,
  },
  {
    method: "get",
    path: "/audit/export",
    summary: "The org's audit log as one NDJSON or CSV file",
    auth: "admin",
    query: AuditExport,
    note: "a file (NDJSON or CSV), streamed",
  },
  {
    method: "post",
    path: "/alert-rules",
    summary: "Create an alert rule; answers each target's signing secret, once",
    auth: "admin",
    body: CreateAlertRule,
  },
  { method: "get", path: "/alert-rules", summary: "A project's alert rules", auth: "viewer", query: AlertRulesQuery },
  { method: "get", path: "/alert-rules/{id}", summary: "An alert rule", auth: "viewer", params: AlertRuleParams },
  {
    method: "patch",
    path: "/alert-rules/{id}",
    summary: "Change an alert rule (admin) or silence it (operator: silenced_until alone)",
    auth: "operator",
    params: AlertRuleParams,
    body: PatchAlertRule,
  },
  {
    method: "delete",
    path: "/alert-rules/{id}",
    summary: "Delete an alert rule",
    auth: "admin",
    params: AlertRuleParams,
  },
  {
    method: "get",
    path: "/alert-rules/{id}/deliveries",
    summary: "Each webhook attempt of a rule, newest first",
    auth: "viewer",
    params: AlertRuleParams,
    query: DeliveriesQuery,
  },
  {
    method: "get",
    path: "/alerts",
    summary: "A project's firing and resolved alerts, newest first",
    auth: "viewer",
    query: AlertsQuery,
  },
  {
    method: "post",
    path: "/logs/ingest",
    summary: "Ingest a batch of log lines (gzip accepted)",
    auth: "device",
    body: IngestBody,
  },
  { method: "get", path: "/logs", summary: "Search logs", auth: "viewer", query: LogSearch },
  {
    method: "get",
    path: "/logs/export",
    summary: "Export logs as CSV, NDJSON or JSON (streamed)",
    auth: "viewer",
    query: LogExport,
    note: "a file download",
  },
  {
    method: "get",
    path: "/logs/facets",
    summary: "Lines per device, module and session over a range (default: the last 24 h), the most first, 500 of each",
    auth: "viewer",
    query: FacetsQuery,
  },
  {
    method: "get",
    path: "/logs/volume",
    summary: "Lines per time bucket and level, with the filters of GET /logs (a histogram)",
    auth: "viewer",
    query: VolumeQuery,
  },
  {
    method: "post",
    path: "/logs/stream/ticket",
    summary: "A single-use live-tail ticket",
    auth: "viewer",
    body: TicketRequest,
  },
  {
    method: "get",
    path: "/logs/stream",
    summary: "Live tail",
    auth: "ticket",
    query: StreamQuery,
    note: "WebSocket upgrade",
  },
  {
    method: "post",
    path: "/sessions",
    summary: "Open a session (idempotent on session_id)",
    auth: "device",
    body: CreateSession,
  },
  {
    method: "patch",
    path: "/sessions/{session_id}",
    summary: "End a session",
    auth: "device",
    params: SessionParams,
    body: EndSession,
  },
  { method: "get", path: "/sessions", summary: "List sessions", auth: "viewer", query: ListSessions },
  {
    method: "get",
    path: "/sessions/{session_id}",
    summary: "A session with live counts",
    auth: "viewer",
    params: SessionParams,
    query: SessionQuery,
  },
  {
    method: "put",
    path: "/sessions/{session_id}/artifacts/*",
    summary:
      "Upload a session file to the path after /artifacts/: one streamed PUT with Content-Length, or a part of a multipart upload (?upload_id&part_number)",
    auth: "device",
    params: SessionParams,
    query: UploadQuery,
    note: "the raw file as the body; answers {path, size, etag}, or {part: {part_number, etag}} for a part",
  },
  {
    method: "post",
    path: "/sessions/{session_id}/artifacts/*",
    summary: "Start a multipart upload (?uploads) or complete one (?upload_id&complete with {parts})",
    auth: "device",
    params: SessionParams,
    query: UploadQuery,
    body: CompleteUpload,
  },
  {
    method: "delete",
    path: "/sessions/{session_id}/artifacts/*",
    summary: "Abort a multipart upload (?upload_id)",
    auth: "device",
    params: SessionParams,
    query: UploadQuery,
  },
  {
    method: "get",
    path: "/sessions/{session_id}/files",
    summary: "A page of the session's files",
    auth: "viewer",
    params: SessionParams,
    query: ListFiles,
  },
  {
    method: "get",
    path: "/sessions/{session_id}/files/download",
    summary: "A session file's bytes, with Range and If-None-Match",
    auth: "viewer",
    params: SessionParams,
    query: FileQuery,
    note: "the file itself",
  },
  {
    method: "delete",
    path: "/sessions/{session_id}/files",
    summary: "Delete a session file",
    auth: "operator",
    params: SessionParams,
    query: FileQuery,
  },
  {
    method: "post",
    path: "/downloads/ticket",
    summary:
      "A one-time link (60 s) that serves a file GET (export, session file, bundle) without an Authorization header",
    auth: "viewer",
    body: DownloadRequest,
  },
  {
    method: "get",
    path: "/downloads/{secret}",
    summary: "The file a download link names, once",
    auth: "none",
    params: DownloadParams,
    note: "the file itself",
  },
  {
    method: "get",
    path: "/sessions/{session_id}/bundle",
    summary:
      "The session as one streamed zip: files/<path> (renamed where a name would not extract everywhere), logs.ndjson and manifest.json",
    auth: "viewer",
    params: SessionParams,
    query: SessionQuery,
    note: "a zip stream",
  },
  {
    method: "get",
    path: "/stats/usage",
    summary: "This month's exact usage with tier limits, for a project or an org",
    auth: "viewer",
    query: UsageQuery,
  },
  {
    method: "get",
    path: "/stats/timeseries",
    summary: "Counts per 1, 5, 15 or 60-minute bucket (lines by event time), or per day",
    auth: "viewer",
    query: TimeseriesQuery,
  },
  {
    method: "get",
    path: "/stats/overview",
    summary: "Totals, error rate, top devices and modules of the last days",
    auth: "viewer",
    query: OverviewQuery,
  },
  {
    method: "get",
    path: "/stats/errors",
    summary: "ERROR and FATAL lines over time, top modules and most repeated messages",
    auth: "viewer",
    query: ErrorsQuery,
  },
  {
    method: "get",
    path: "/stats/api",
    summary: "API requests per hour and per route: counts, errors, latency p50/p95/p99",
    auth: "viewer",
    query: ApiStatsQuery,
  },
  {
    method: "get",
    path: "/stats/daily",
    summary: "Written days (the daily job's rows), for a project or summed over an org",
    auth: "viewer",
    query: DailyQuery,
  },
  {
    method: "get",
    path: "/stats/monthly",
    summary: "Closed months with overage, for a project or summed over an org",
    auth: "viewer",
    query: MonthlyQuery,
  },
  {
    method: "get",
    path: "/metrics",
    summary:
      "The project's devices (status, last seen, heartbeat metrics) and this month's counters for a Prometheus scrape",
    auth: "viewer",
    query: ScrapeQuery,
    note: "the Prometheus text format, version 0.0.4 (text/plain; version=0.0.4)",
  },
];

const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, any>;

function parameters(schema: z.ZodType | undefined, where: "path" | "query") {
  if (!schema) return [];
  const s = jsonSchema(schema);
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: where,
    required: where === "path" || (s.required ?? []).includes(name),
    schema: prop,
  }));
}

const ERROR = {
  description: "An error in the contract's shape",
  content: { "application/json": { schema: jsonSchema(ErrorBody) } },
};

/** Each operation's tag (the reference page at /docs groups by it), by its path's first segment. */
const TAGS: Record<string, string> = {
  health: "Service",
  "openapi.json": "Service",
  capsules: "Fleet",
  "alert-rules": "Alerts",
  me: "Keys",
};
const tagOf = (path: string) => {
  const first = path.split("/")[1]!;
  return TAGS[first] ?? first[0]!.toUpperCase() + first.slice(1);
};

export function openApiDocument(serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      tags: [tagOf(op.path)],
      summary: op.summary,
      description: `Auth: ${op.auth}.${op.note ? ` Answers with ${op.note}.` : ""}`,
      // Who may call it: none, server admin, viewer (any org key), admin, device (a device key) or ticket.
      "x-auth": op.auth,
      security: op.auth === "none" || op.auth === "ticket" ? [] : [{ bearer: [] }],
      parameters: [...parameters(op.params, "path"), ...parameters(op.query, "query")],
      ...(op.body
        ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(op.body) } } } }
        : {}),
      responses: { "2XX": { description: "Success" }, "4XX": ERROR },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "fleetbeat",
      version: VERSION,
      description:
        "Fleet telemetry on Cloudflare's edge. The contract is docs/api.md; additions are in docs/api-notes.md.",
    },
    servers: [{ url: `${serverUrl}/api/v1` }],
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    paths,
  };
}
