// Alert rules (admin to change, viewer to read), the alerts they raised, and each rule's
// webhook attempts. See src/contract/alerts.ts and docs/alerts.md.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import {
  AlertRuleParams,
  AlertRulesQuery,
  AlertsQuery,
  CreateAlertRule,
  DeliveriesQuery,
  PatchAlertRule,
  presentAlert,
  presentDelivery,
  presentRule,
} from "../contract/alerts";
import { listAlerts, listDeliveries, rulesOfProject } from "../db/repos/alerts";
import { jsonBody, params, query } from "../http/validate";
import { createRule, patchRule, removeRule, ruleOfOrg } from "../services/alert-rules";
import { projectOfOrg } from "../services/tenancy";

/** A page of rows newest first, and the cursor of the next (the last row's id), if the page is full. */
const page = <T extends { id: string }>(rows: T[], limit: number) => (rows.length === limit ? rows[rows.length - 1]!.id : null);

export const alertRules = new Hono<AppEnv>()
  .post("/", orgKey("admin"), jsonBody(CreateAlertRule), async (c) => {
    const rule = await createRule(c.env, c.var.db, c.var.org.orgId, c.req.valid("json"));
    return c.json({ rule: presentRule(rule), targets: rule.targets.map((t) => ({ id: t.id, url: t.url, format: t.format, secret: t.secret })) }, 201);
  })
  .get("/", orgKey("viewer"), query(AlertRulesQuery), async (c) => {
    const q = c.req.valid("query");
    await projectOfOrg(c.var.db, c.var.org.orgId, q.project_id);
    return c.json({ rules: (await rulesOfProject(c.var.db, q.project_id)).map(presentRule) });
  })
  .get("/:id", orgKey("viewer"), params(AlertRuleParams), async (c) => {
    return c.json({ rule: presentRule(await ruleOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").id)) });
  })
  .patch("/:id", orgKey("admin"), params(AlertRuleParams), jsonBody(PatchAlertRule), async (c) => {
    const rule = await patchRule(c.env, c.var.db, c.var.org.orgId, c.req.valid("param").id, c.req.valid("json"));
    return c.json({ rule: presentRule(rule) });
  })
  .delete("/:id", orgKey("admin"), params(AlertRuleParams), async (c) => {
    await removeRule(c.env, c.var.db, c.var.org.orgId, c.req.valid("param").id);
    return c.body(null, 204);
  })
  .get("/:id/deliveries", orgKey("viewer"), params(AlertRuleParams), query(DeliveriesQuery), async (c) => {
    const rule = await ruleOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").id);
    const q = c.req.valid("query");
    const rows = await listDeliveries(c.var.db, rule.id, q.limit, q.cursor);
    return c.json({ deliveries: rows.map(presentDelivery), next_cursor: page(rows, q.limit) });
  });

export const alertsList = new Hono<AppEnv>().get("/", orgKey("viewer"), query(AlertsQuery), async (c) => {
  const q = c.req.valid("query");
  await projectOfOrg(c.var.db, c.var.org.orgId, q.project_id);
  const rows = await listAlerts(c.var.db, q.project_id, q.state, q.limit, q.cursor);
  return c.json({ alerts: rows.map(presentAlert), next_cursor: page(rows, q.limit) });
});
