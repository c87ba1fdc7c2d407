// Orgs, their keys and projects. A row of another org is reported exactly like a missing
// row: 404.

import { projectPrefixes } from "../contract/artifacts";
import { ORG_KEY_PREFIX } from "../contract/credentials";
import { notFound } from "../contract/errors";
import type { Db } from "../db/client";
import { findDeviceOfOrg, listDeviceIdsOfProject } from "../db/repos/devices";
import { insertKeyWithinLimit, type KeyRole, revokeKeyUnlessLastAdmin } from "../db/repos/keys";
import { createOrgWithAdminKey, type OrgTier } from "../db/repos/orgs";
import { deleteProjectCascade, findProjectOfOrg, listProjects } from "../db/repos/projects";
import { addPurges } from "../db/repos/uploads";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { newSecret, sha256 } from "../lib/crypto";
import { deviceHub } from "../stubs/device-hub";
import { projectHub } from "../stubs/project-hub";
import { insertWithinLimit } from "./quotas";
import { findSessionOfOrg } from "./session-records";

export async function projectOfOrg(db: Db, orgId: string, projectId: string) {
  const project = await findProjectOfOrg(db, orgId, projectId);
  if (!project) throw notFound("project");
  return project;
}

export async function deviceOfOrg(db: Db, orgId: string, deviceId: string) {
  const device = await findDeviceOfOrg(db, orgId, deviceId);
  if (!device) throw notFound("device");
  return device;
}

/**
 * A device of the org that is also in `projectId` when one is named: a device of another
 * project is answered as one of another org, 404, as GET /logs does.
 */
export async function deviceInScope(db: Db, orgId: string, deviceId: string, projectId: string | undefined) {
  const device = await deviceOfOrg(db, orgId, deviceId);
  if (projectId !== undefined && device.projectId !== projectId) throw notFound("device");
  return device;
}

/** A session of the org (without a project id, every project of the org is asked: one call each). */
export async function sessionOfOrg(env: Env, db: Db, orgId: string, sessionId: string, projectId?: string) {
  const session = await findSessionOfOrg(env, db, orgId, sessionId, projectId);
  if (!session) throw notFound("session");
  return session;
}

/** A new org key: the secret for the answer, its hash and prefix for the row. */
async function mintOrgKey() {
  const secret = newSecret(ORG_KEY_PREFIX);
  // The prefix lets people tell their keys apart in a list.
  return { secret, keyHash: await sha256(secret), prefix: secret.slice(0, 12) };
}

/** The org and its first admin key; the key's secret is returned once and never stored. */
export async function createOrg(db: Db, name: string, tier: OrgTier) {
  const { secret, keyHash, prefix } = await mintOrgKey();
  const created = await createOrgWithAdminKey(db, { name, tier }, { name: "first admin key", keyHash, prefix });
  return { ...created, secret };
}

/** A new key of the org, made by key `createdBy`; its secret is returned once and never stored. */
export async function createKey(db: Db, orgId: string, role: KeyRole, name: string, createdBy: string) {
  const { secret, keyHash, prefix } = await mintOrgKey();
  const key = await insertWithinLimit(db, orgId, "api_keys", (max) =>
    insertKeyWithinLimit(db, orgId, { name, role, keyHash, prefix, createdBy }, max),
  );
  return { key, secret };
}

/** Projects (or devices) visited per page when a change fans out to their objects. */
const PAGE = 500;

/**
 * Revokes an org key, unless it is the org's last admin key; the live-tail streams it opened
 * close at once, in every project of the org.
 */
export async function revokeKey(env: Env, db: Db, orgId: string, keyId: string) {
  const outcome = await revokeKeyUnlessLastAdmin(db, orgId, keyId);
  if (outcome === "revoked") await closeTailsOf(env, db, orgId, keyId);
  return outcome;
}

/** Closes the live tails a key or person (`callerId`) opened, in every project of the org. */
export async function closeTailsOf(env: Env, db: Db, orgId: string, callerId: string): Promise<void> {
  let afterId: string | undefined;
  for (;;) {
    const page = await listProjects(db, orgId, { afterId, limit: PAGE });
    await mapLimit(page, FAN_OUT, (p) => projectHub(env, p.id).revokeKey(callerId));
    if (page.length < PAGE) return;
    afterId = page[page.length - 1]!.id;
  }
}

/** Stops every device key of the project, then removes the project's rows. */
export async function deleteProject(env: Env, db: Db, projectId: string): Promise<void> {
  // Keys, tails and alarms stop before the rows go, so nothing writes into a deleted project;
  // each device's object then wipes what it held.
  let afterId: string | undefined;
  for (;;) {
    const ids = await listDeviceIdsOfProject(db, projectId, { afterId, limit: PAGE });
    await mapLimit(ids, FAN_OUT, (id) => deviceHub(env, id).retire());
    if (ids.length < PAGE) break;
    afterId = ids[ids.length - 1];
  }
  await projectHub(env, projectId).retire();
  // Its files and archive go with the daily job (R2 deletes a thousand keys a call).
  await addPurges(db, projectPrefixes(projectId), Date.now());
  await deleteProjectCascade(db, projectId);
}
