// Alert rules: kept in D1, and after every change the project's whole rule set is handed to
// its object, which versions it and passes it on to the devices it concerns
// (durable-objects/project-hub/alerts.ts).

import type { z } from "zod";
import {
  ALERT_PARAMS,
  type AlertRule,
  type CreateAlertRule,
  type PatchAlertRule,
  targetProblem,
} from "../contract/alerts";
import { ApiError, notFound } from "../contract/errors";
import { parseOrThrow } from "../contract/validation";
import type { Db } from "../db/client";
import { deleteRule, findRule, insertRule, rulesOfProject, updateRule } from "../db/repos/alerts";
import { newId, newSecret } from "../lib/crypto";
import { projectHub } from "../stubs/project-hub";
import { deviceOfOrg, projectOfOrg } from "./tenancy";

/** Plain http, localhost and private addresses are for local development only (wrangler.toml). */
const localTargets = (env: Env) => env.ALLOW_PRIVATE_WEBHOOKS === "true";

/** The project's object holds the rules as D1 now has them; a rule is in force once this answers. */
async function publish(env: Env, db: Db, projectId: string): Promise<void> {
  await projectHub(env, projectId).setAlertRules(await rulesOfProject(db, projectId));
}

async function checkDevice(
  db: Db,
  orgId: string,
  projectId: string,
  deviceId: string | null | undefined,
): Promise<void> {
  if (!deviceId) return;
  const device = await deviceOfOrg(db, orgId, deviceId);
  if (device.projectId !== projectId)
    throw new ApiError("validation_failed", "device_id: the device is in another project", [
      { path: "device_id", message: "the device is in another project" },
    ]);
}

/** Creates a rule; the answer holds each target's secret, shown only here. */
export async function createRule(env: Env, db: Db, orgId: string, body: z.output<typeof CreateAlertRule>) {
  await projectOfOrg(db, orgId, body.project_id);
  await checkDevice(db, orgId, body.project_id, body.device_id);
  body.targets.forEach((t, i) => {
    const problem = targetProblem(t.url, localTargets(env));
    if (problem)
      throw new ApiError("validation_failed", `targets.${i}.url: ${problem}`, [
        { path: `targets.${i}.url`, message: problem },
      ]);
  });
  const now = Date.now();
  const rule: AlertRule = {
    id: newId("alr", now),
    org_id: orgId,
    project_id: body.project_id,
    name: body.name,
    kind: body.kind,
    params: body.params,
    device_id: body.device_id ?? null,
    device_type: body.device_type ?? null,
    min_firing_s: body.min_firing_s,
    silenced_until: null,
    created_at: now,
    updated_at: now,
    targets: body.targets.map((t) => ({
      id: newId("tgt", now),
      url: t.url,
      format: t.format,
      secret: newSecret("whsec"),
    })),
  };
  await insertRule(db, rule);
  await publish(env, db, rule.project_id);
  return rule;
}

export async function ruleOfOrg(db: Db, orgId: string, id: string): Promise<AlertRule> {
  const rule = await findRule(db, orgId, id);
  if (!rule) throw notFound("alert rule");
  return rule;
}

export async function patchRule(
  env: Env,
  db: Db,
  orgId: string,
  id: string,
  patch: z.output<typeof PatchAlertRule>,
): Promise<AlertRule> {
  const rule = await ruleOfOrg(db, orgId, id);
  if (patch.device_id !== undefined) await checkDevice(db, orgId, rule.project_id, patch.device_id);
  const changed: AlertRule = {
    ...rule,
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.params !== undefined
      ? {
          params: parseOrThrow(
            ALERT_PARAMS[rule.kind].transform((p) => p as Record<string, unknown>),
            patch.params,
            "body",
          ),
        }
      : {}),
    ...(patch.device_id !== undefined ? { device_id: patch.device_id } : {}),
    ...(patch.device_type !== undefined ? { device_type: patch.device_type } : {}),
    ...(patch.min_firing_s !== undefined ? { min_firing_s: patch.min_firing_s } : {}),
    ...(patch.silenced_until !== undefined
      ? { silenced_until: patch.silenced_until === null ? null : Date.parse(patch.silenced_until) }
      : {}),
    updated_at: Date.now(),
  };
  await updateRule(db, changed);
  await publish(env, db, rule.project_id);
  return changed;
}

export async function removeRule(env: Env, db: Db, orgId: string, id: string): Promise<void> {
  const rule = await ruleOfOrg(db, orgId, id);
  await deleteRule(db, rule.id);
  await publish(env, db, rule.project_id);
}
