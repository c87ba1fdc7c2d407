// Alert rules with their targets, the alerts they raised and the webhook attempts (schema.ts).
import { and, desc, eq, inArray, lt, sql } from "drizzle-orm";
import type { AlertKind, AlertRecord, AlertRule, DeliveryRecord } from "../../contract/alerts";
import type { Db } from "../client";
import { alertDeliveries, alertRules, alerts, alertTargets } from "../schema";

type RuleRow = typeof alertRules.$inferSelect;
type TargetRow = typeof alertTargets.$inferSelect;

const ruleOf = (r: RuleRow, targets: TargetRow[]): AlertRule => ({
  id: r.id,
  org_id: r.orgId,
  project_id: r.projectId,
  name: r.name,
  kind: r.kind as AlertKind,
  params: JSON.parse(r.params),
  device_id: r.deviceId,
  device_type: r.deviceType,
  min_firing_s: r.minFiringS,
  silenced_until: r.silencedUntil,
  created_at: r.createdAt,
  updated_at: r.updatedAt,
  targets: targets
    .filter((t) => t.ruleId === r.id)
    .map((t) => ({ id: t.id, url: t.url, format: t.format, secret: t.secret })),
});

const rowOf = (r: AlertRule): RuleRow => ({
  id: r.id,
  orgId: r.org_id,
  projectId: r.project_id,
  name: r.name,
  kind: r.kind,
  params: JSON.stringify(r.params),
  deviceId: r.device_id,
  deviceType: r.device_type,
  minFiringS: r.min_firing_s,
  silencedUntil: r.silenced_until,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export async function insertRule(db: Db, rule: AlertRule): Promise<void> {
  await db.batch([
    db.insert(alertRules).values(rowOf(rule)),
    db.insert(alertTargets).values(
      rule.targets.map((t) => ({
        id: t.id,
        ruleId: rule.id,
        url: t.url,
        format: t.format,
        secret: t.secret,
        createdAt: rule.created_at,
      })),
    ),
  ]);
}

export async function updateRule(db: Db, rule: AlertRule): Promise<void> {
  const { id, orgId, projectId, createdAt, ...changed } = rowOf(rule);
  await db.update(alertRules).set(changed).where(eq(alertRules.id, id));
}

export async function deleteRule(db: Db, id: string): Promise<void> {
  await db.batch([
    db.delete(alertTargets).where(eq(alertTargets.ruleId, id)),
    db.delete(alertRules).where(eq(alertRules.id, id)),
  ]);
}

/** Every rule of a project, with its targets, oldest first. */
export async function rulesOfProject(db: Db, projectId: string): Promise<AlertRule[]> {
  const rules = await db.select().from(alertRules).where(eq(alertRules.projectId, projectId)).orderBy(alertRules.id);
  if (rules.length === 0) return [];
  const targets = await db
    .select()
    .from(alertTargets)
    .where(
      inArray(
        alertTargets.ruleId,
        rules.map((r) => r.id),
      ),
    );
  return rules.map((r) => ruleOf(r, targets));
}

/** A rule of this org, or undefined (another org's rule is as unknown as a missing one). */
export async function findRule(db: Db, orgId: string, id: string): Promise<AlertRule | undefined> {
  const [rule] = await db
    .select()
    .from(alertRules)
    .where(and(eq(alertRules.id, id), eq(alertRules.orgId, orgId)));
  if (!rule) return undefined;
  return ruleOf(rule, await db.select().from(alertTargets).where(eq(alertTargets.ruleId, id)));
}

/** Alerts as they are now: a resolved alert replaces its firing row. */
export async function saveAlerts(db: Db, records: AlertRecord[]): Promise<void> {
  if (records.length === 0) return;
  const rows = records.map((a) => ({
    id: a.id,
    orgId: a.org_id,
    projectId: a.project_id,
    ruleId: a.rule_id,
    deviceId: a.device_id,
    state: a.state,
    startedAt: a.started_at,
    resolvedAt: a.resolved_at,
    summary: a.summary,
  }));
  await db
    .insert(alerts)
    .values(rows)
    .onConflictDoUpdate({
      target: alerts.id,
      set: { state: sql`excluded.state`, resolvedAt: sql`excluded.resolved_at`, summary: sql`excluded.summary` },
    });
}

/** Webhook attempts; one written twice (an object retried its D1 write) is kept once. */
export async function saveDeliveries(db: Db, records: DeliveryRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db
    .insert(alertDeliveries)
    .values(
      records.map((d) => ({
        id: d.id,
        ruleId: d.rule_id,
        alertId: d.alert_id,
        targetId: d.target_id,
        stateChange: d.state_change,
        attempt: d.attempt,
        at: d.at,
        status: d.status,
        error: d.error,
      })),
    )
    .onConflictDoNothing();
}

/** A project's alerts, newest first, by id (ids sort by creation time). */
export async function listAlerts(
  db: Db,
  projectId: string,
  state: "firing" | "resolved" | undefined,
  limit: number,
  before?: string,
): Promise<AlertRecord[]> {
  const rows = await db
    .select()
    .from(alerts)
    .where(
      and(
        eq(alerts.projectId, projectId),
        state ? eq(alerts.state, state) : undefined,
        before ? lt(alerts.id, before) : undefined,
      ),
    )
    .orderBy(desc(alerts.id))
    .limit(limit);
  return rows.map((a) => ({
    id: a.id,
    org_id: a.orgId,
    project_id: a.projectId,
    rule_id: a.ruleId,
    device_id: a.deviceId,
    state: a.state,
    started_at: a.startedAt,
    resolved_at: a.resolvedAt,
    summary: a.summary,
  }));
}

/** A rule's webhook attempts, newest first. */
export async function listDeliveries(
  db: Db,
  ruleId: string,
  limit: number,
  before?: string,
): Promise<DeliveryRecord[]> {
  const rows = await db
    .select()
    .from(alertDeliveries)
    .where(and(eq(alertDeliveries.ruleId, ruleId), before ? lt(alertDeliveries.id, before) : undefined))
    .orderBy(desc(alertDeliveries.id))
    .limit(limit);
  return rows.map((d) => ({
    id: d.id,
    rule_id: d.ruleId,
    alert_id: d.alertId,
    target_id: d.targetId,
    state_change: d.stateChange,
    attempt: d.attempt,
    at: d.at,
    status: d.status,
    error: d.error,
  }));
}

/**
 * Deletes at most `limit` of the projects' alerts that resolved before `resolvedBefore`, with
 * their webhook attempts, in one transaction; answers how many alerts went (the caller comes
 * back while `limit` went). A firing alert stays, however old.
 */
export async function pruneAlerts(
  db: Db,
  projectIds: string[],
  resolvedBefore: number,
  limit: number,
): Promise<number> {
  if (projectIds.length === 0) return 0;
  const doomed = db
    .select({ id: alerts.id })
    .from(alerts)
    .where(
      and(inArray(alerts.projectId, projectIds), eq(alerts.state, "resolved"), lt(alerts.resolvedAt, resolvedBefore)),
    )
    .orderBy(alerts.id)
    .limit(limit);
  const [, gone] = await db.batch([
    db.delete(alertDeliveries).where(inArray(alertDeliveries.alertId, doomed)),
    db.delete(alerts).where(inArray(alerts.id, doomed)),
  ]);
  return gone.meta.changes;
}
