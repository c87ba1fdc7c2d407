// Alert rules (admin to change, viewer to read), the alerts they raised, and each rule's
// webhook attempts. See src/contract/alerts.ts and docs/alerts.md.
import { Hono } from "hono";
import { z } from "zod";
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
import { decodeCursor, page } from "../contract/cursor";
import { ApiError, notFound } from "../contract/errors";
import { listAlerts, listDeliveries, rulesOfProject } from "../db/repos/alerts";
import { audit } from "../http/audit";
import { describer } from "../http/describe";
import { jsonBody, params, query } from "../http/validate";
import { createRule, patchRule, removeRule, ruleOfOrg } from "../services/alert-rules";
import { projectOfOrg } from "../services/tenancy";

/** Both lists run newest first by id (ids sort by creation time); a page continues before the last id. */
const IdCursor = z.object({ id: z.string() });

const describe = describer("Alerts");
const ruleNotFound = () => notFound("alert rule");

export const alertRules = new Hono<AppEnv>()
  .post(
    "/",
    describe({
      summary: "Create an alert rule; answers each target's signing secret, once",
      answers: { 201: "The rule, and each webhook target with its secret" },
      errors: [() => notFound("project")],
    }),
    orgKey("admin"),
    jsonBody(CreateAlertRule),
    async (c) => {
      const rule = await createRule(c.env, c.var.db, c.var.org.orgId, c.req.valid("json"));
      await audit(c, {
        action: "alert_rule.created",
        target: { kind: "alert_rule", id: rule.id, label: rule.name },
        projectId: rule.project_id,
        summary: {
          name: rule.name,
          kind: rule.kind,
          params: rule.params,
          device_id: rule.device_id,
          device_type: rule.device_type,
          targets: rule.targets.length,
        },
      });
      return c.json(
        {
          rule: presentRule(rule),
          targets: rule.targets.map((t) => ({ id: t.id, url: t.url, format: t.format, secret: t.secret })),
        },
        201,
      );
    },
  )
  .get(
    "/",
    describe({ summary: "A project's alert rules", errors: [() => notFound("project")] }),
    orgKey("viewer"),
    query(AlertRulesQuery),
    async (c) => {
      const q = c.req.valid("query");
      await projectOfOrg(c.var.db, c.var.org.orgId, q.project_id);
      return c.json({ rules: (await rulesOfProject(c.var.db, q.project_id)).map(presentRule) });
    },
  )
  .get(
    "/:id",
    describe({ summary: "An alert rule", errors: [ruleNotFound] }),
    orgKey("viewer"),
    params(AlertRuleParams),
    async (c) => {
      return c.json({ rule: presentRule(await ruleOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").id)) });
    },
  )
  .patch(
    "/:id",
    describe({
      summary: "Change an alert rule (admin) or silence it (operator: silenced_until alone)",
      errors: [
        ruleNotFound,
        () => new ApiError("forbidden", "an operator key may change only silenced_until, not threshold"),
      ],
    }),
    orgKey("operator"),
    params(AlertRuleParams),
    jsonBody(PatchAlertRule),
    async (c) => {
      const change = c.req.valid("json");
      // An operator silences a rule (or ends its silence); changing it is an admin's.
      const others = Object.keys(change).filter((k) => k !== "silenced_until");
      if (c.var.org.role !== "admin" && others.length > 0)
        throw new ApiError("forbidden", `an operator key may change only silenced_until, not ${others.join(", ")}`);
      const rule = await patchRule(c.env, c.var.db, c.var.org.orgId, c.req.valid("param").id, change);
      await audit(c, {
        action: others.length === 0 ? "alert_rule.silenced" : "alert_rule.updated",
        target: { kind: "alert_rule", id: rule.id, label: rule.name },
        projectId: rule.project_id,
        // Webhook targets carry secrets: a change of them is named, not shown.
        summary: Object.fromEntries(Object.entries(change).map(([k, v]) => [k, k === "targets" ? "changed" : v])),
      });
      return c.json({ rule: presentRule(rule) });
    },
  )
  .delete(
    "/:id",
    describe({ summary: "Delete an alert rule", answers: { 204: "Deleted" }, errors: [ruleNotFound] }),
    orgKey("admin"),
    params(AlertRuleParams),
    async (c) => {
      const { id } = c.req.valid("param");
      const rule = await ruleOfOrg(c.var.db, c.var.org.orgId, id);
      await removeRule(c.env, c.var.db, c.var.org.orgId, id);
      await audit(c, {
        action: "alert_rule.deleted",
        target: { kind: "alert_rule", id, label: rule.name },
        projectId: rule.project_id,
      });
      return c.body(null, 204);
    },
  )
  .get(
    "/:id/deliveries",
    describe({ summary: "Each webhook attempt of a rule, newest first", errors: [ruleNotFound] }),
    orgKey("viewer"),
    params(AlertRuleParams),
    query(DeliveriesQuery),
    async (c) => {
      const rule = await ruleOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").id);
      const q = c.req.valid("query");
      const rows = await listDeliveries(c.var.db, rule.id, q.limit + 1, decodeCursor(q.cursor, IdCursor)?.id);
      const { items, next_cursor } = page(rows, q.limit, (d) => ({ id: d.id }));
      return c.json({ deliveries: items.map(presentDelivery), next_cursor });
    },
  );

export const alertsList = new Hono<AppEnv>().get(
  "/",
  describe({ summary: "A project's firing and resolved alerts, newest first", errors: [() => notFound("project")] }),
  orgKey("viewer"),
  query(AlertsQuery),
  async (c) => {
    const q = c.req.valid("query");
    await projectOfOrg(c.var.db, c.var.org.orgId, q.project_id);
    const rows = await listAlerts(c.var.db, q.project_id, q.state, q.limit + 1, decodeCursor(q.cursor, IdCursor)?.id);
    const { items, next_cursor } = page(rows, q.limit, (a) => ({ id: a.id }));
    return c.json({ alerts: items.map(presentAlert), next_cursor });
  },
);
