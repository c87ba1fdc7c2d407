// Alerts: rules per project, the alerts they raise, and the webhooks that tell people.
// A rule is kept in D1 (the routes' source of truth) and copied, with its targets' secrets,
// into the project's object, which hands each device's object the rules that concern it.
import { z } from "zod";
import { iso, isoOrNull } from "../lib/time";
import { cursor, deviceId, label, limit, name, printable, projectId } from "./common";
import { nonPublicHost } from "./special-addresses";

const ALERT_KINDS = ["device_offline", "error_rate", "metric_threshold", "quota"] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** A metric a heartbeat carries: the contract's names and any other number a device sends. */
const metricName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]{0,63}$/, "a metric name, as heartbeats send it");

/** Each kind's params: what the rule watches and when it fires. */
export const ALERT_PARAMS = {
  device_offline: z
    .object({
      for_s: z
        .number()
        .int()
        .min(60)
        .max(7 * 86_400),
    })
    .strict(),
  error_rate: z
    .object({
      count: z.number().int().min(1).max(1_000_000),
      window_s: z.number().int().min(10).max(86_400),
      module: printable(128, "a module").optional(),
      scope: z.enum(["device", "project"]).default("device"),
    })
    .strict(),
  metric_threshold: z
    .object({
      metric: metricName,
      op: z.enum(["<", ">"]),
      value: z.number().finite(),
      for_s: z.number().int().min(0).max(86_400),
    })
    .strict(),
  quota: z.object({ percent: z.number().min(1).max(100) }).strict(),
} satisfies Record<AlertKind, z.ZodType>;

export type AlertParams = { [K in AlertKind]: z.output<(typeof ALERT_PARAMS)[K]> };

const Target = z
  .object({ url: z.string().url().max(2048), format: z.enum(["json", "slack"]).default("json") })
  .strict();

const ruleFields = {
  project_id: projectId,
  name,
  device_id: deviceId.optional(),
  device_type: label.optional(),
  /** Flapping is damped: an alert stays firing at least this long before it may resolve. */
  min_firing_s: z.number().int().min(0).max(86_400).default(0),
  targets: z.array(Target).min(1).max(10),
};

export const CreateAlertRule = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("device_offline"), params: ALERT_PARAMS.device_offline, ...ruleFields }).strict(),
  z.object({ kind: z.literal("error_rate"), params: ALERT_PARAMS.error_rate, ...ruleFields }).strict(),
  z.object({ kind: z.literal("metric_threshold"), params: ALERT_PARAMS.metric_threshold, ...ruleFields }).strict(),
  z.object({ kind: z.literal("quota"), params: ALERT_PARAMS.quota, ...ruleFields }).strict(),
]);

/** A change to a rule; params are checked against the rule's kind by the route. */
export const PatchAlertRule = z
  .object({
    name: name.optional(),
    params: z.record(z.string(), z.unknown()).optional(),
    device_id: deviceId.nullable().optional(),
    device_type: label.nullable().optional(),
    min_firing_s: z.number().int().min(0).max(86_400).optional(),
    /** Until then the rule raises nothing (alerts already firing stay, and may resolve). */
    silenced_until: z.iso.datetime({ offset: true }).nullable().optional(),
  })
  .strict();

export const AlertRuleParams = z.object({ id: z.string().regex(/^alr_[0-9A-HJKMNP-TV-Z]{26}$/, "not an alr_ id") });
export const AlertRulesQuery = z.object({ project_id: projectId });
export const AlertsQuery = z.object({
  project_id: projectId,
  state: z.enum(["firing", "resolved"]).optional(),
  limit: limit(200, 50),
  cursor,
});
export const DeliveriesQuery = z.object({ limit: limit(500, 100), cursor });

/** A webhook target as the objects hold it: with its secret, which signs every POST. */
interface AlertTarget {
  id: string;
  url: string;
  format: "json" | "slack";
  secret: string;
}

/** A rule as the objects hold it (times in ms). */
export interface AlertRule {
  id: string;
  org_id: string;
  project_id: string;
  name: string;
  kind: AlertKind;
  params: Record<string, unknown>;
  device_id: string | null;
  device_type: string | null;
  min_firing_s: number;
  silenced_until: number | null;
  created_at: number;
  updated_at: number;
  targets: AlertTarget[];
}

/** Whether a rule watches each device on its own (else the project as a whole). */
export const perDevice = (r: AlertRule): boolean =>
  r.kind === "device_offline" ||
  r.kind === "metric_threshold" ||
  (r.kind === "error_rate" && (r.params as AlertParams["error_rate"]).scope !== "project");

/** Whether a per-device rule concerns this device. */
export const concerns = (r: AlertRule, device: { deviceId: string; deviceType: string | null }): boolean =>
  perDevice(r) &&
  (r.device_id === null || r.device_id === device.deviceId) &&
  (r.device_type === null || r.device_type === device.deviceType);

export const silenced = (r: AlertRule, now: number): boolean => r.silenced_until !== null && r.silenced_until > now;

export function presentRule(r: AlertRule) {
  return {
    id: r.id,
    project_id: r.project_id,
    name: r.name,
    kind: r.kind,
    params: r.params,
    device_id: r.device_id,
    device_type: r.device_type,
    min_firing_s: r.min_firing_s,
    silenced_until: isoOrNull(r.silenced_until),
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    targets: r.targets.map((t) => ({ id: t.id, url: t.url, format: t.format })),
  };
}

export type AlertState = "firing" | "resolved";

/**
 * A state change a device's object (or the project's) reports for a rule and subject; the same report twice
 * changes nothing.
 */
export interface AlertReport {
  rule_id: string;
  /** A device id, or "project". */
  subject: string;
  state: AlertState;
  at: number;
  summary: string;
}

/** An alert as D1 keeps it and GET /alerts shows it (times in ms). */
export interface AlertRecord {
  id: string;
  org_id: string;
  project_id: string;
  rule_id: string;
  device_id: string | null;
  state: AlertState;
  started_at: number;
  resolved_at: number | null;
  summary: string;
}

export function presentAlert(a: AlertRecord) {
  return {
    id: a.id,
    rule_id: a.rule_id,
    device_id: a.device_id,
    state: a.state,
    started_at: iso(a.started_at),
    resolved_at: isoOrNull(a.resolved_at),
    summary: a.summary,
  };
}

/** One webhook attempt, as D1 keeps it and GET /alert-rules/:id/deliveries shows it. */
export interface DeliveryRecord {
  id: string;
  rule_id: string;
  alert_id: string;
  target_id: string;
  state_change: AlertState;
  attempt: number;
  at: number;
  /** The receiver's HTTP status; null when none came (a network error, a timeout). */
  status: number | null;
  error: string | null;
}

export function presentDelivery(d: DeliveryRecord) {
  return {
    alert_id: d.alert_id,
    target_id: d.target_id,
    state_change: d.state_change,
    attempt: d.attempt,
    at: iso(d.at),
    status: d.status,
    error: d.error,
  };
}

/** The JSON a target receives; `id` is the same on every retry, so a receiver can drop replays. */
export function webhookBody(rule: AlertRule, alert: AlertRecord) {
  return {
    id: `${alert.id}.${alert.state}`,
    project_id: rule.project_id,
    rule: { id: rule.id, name: rule.name, kind: rule.kind },
    alert: {
      id: alert.id,
      state: alert.state,
      ...(alert.device_id ? { device_id: alert.device_id } : {}),
      started_at: iso(alert.started_at),
      resolved_at: isoOrNull(alert.resolved_at),
      summary: alert.summary,
    },
  };
}

/** Slack's incoming-webhook shape, for targets with format "slack". */
export function slackBody(rule: AlertRule, alert: AlertRecord) {
  const mark = alert.state === "firing" ? ":red_circle: FIRING" : ":large_green_circle: RESOLVED";
  return { text: `${mark} *${rule.name}* (${rule.kind}): ${alert.summary}` };
}

/**
 * Whether a webhook may go to `url`. Production sends only to public https addresses
 * (special-addresses.ts says which hosts are); plain http, localhost and private or
 * link-local addresses are for local development.
 */
export function targetProblem(url: string, local: boolean): string | null {
  const u = new URL(url);
  if (u.username || u.password) return "a target URL carries no credentials (sign with the secret instead)";
  if (local) return u.protocol === "https:" || u.protocol === "http:" ? null : "a target is an http(s) URL";
  if (u.protocol !== "https:") return "a target is an https URL (plain http only in local development)";
  const why = nonPublicHost(u.hostname);
  return why
    ? `a target is a public address (localhost and private addresses only in local development): ${why}`
    : null;
}
