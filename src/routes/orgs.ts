import { eq } from "drizzle-orm";
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { ORG_KEY_PREFIX } from "../contract/credentials";
import { orgKey, serverAdmin, serverAdminOr } from "../auth/middleware";
import { apiKeys, orgs as orgsTable } from "../db/schema";
import { notFound } from "../contract/errors";
import { jsonBody, params } from "../http/validate";
import { newId, newSecret, sha256 } from "../lib/crypto";
import { presentOrg } from "../services/presenters";
import { CreateOrg, OrgParams, UpdateOrg } from "../contract/tenancy";

export const orgs = new Hono<AppEnv>()
  .post("/", serverAdmin, jsonBody(CreateOrg), async (c) => {
    const { name, tier } = c.req.valid("json");
    const now = Date.now();
    const org = { id: newId("org", now), name, tier, createdAt: now };
    const key = newSecret(ORG_KEY_PREFIX);
    const keyRow = {
      id: newId("key", now),
      orgId: org.id,
      name: "first admin key",
      role: "admin" as const,
      keyHash: await sha256(key),
      prefix: key.slice(0, 12),
      createdAt: now,
    };
    await c.var.db.batch([c.var.db.insert(orgsTable).values(org), c.var.db.insert(apiKeys).values(keyRow)]);
    return c.json({ org: presentOrg(org, true), api_key: { id: keyRow.id, key, role: keyRow.role, name: keyRow.name } }, 201);
  })
  .patch("/:org_id", serverAdmin, params(OrgParams), jsonBody(UpdateOrg), async (c) => {
    const { org_id } = c.req.valid("param");
    const [org] = await c.var.db.update(orgsTable).set(c.req.valid("json")).where(eq(orgsTable.id, org_id)).returning();
    if (!org) throw notFound("org");
    return c.json({ org: presentOrg(org, true) });
  })
  .get("/:org_id", serverAdminOr(orgKey("viewer")), params(OrgParams), async (c) => {
    const { org_id } = c.req.valid("param");
    const visible = c.var.serverAdmin || org_id === c.var.org.orgId;
    const org = visible ? await c.var.db.query.orgs.findFirst({ where: eq(orgsTable.id, org_id) }) : undefined;
    if (!org) throw notFound("org");
    return c.json({ org: presentOrg(org, true) });
  });
