import { and, count, eq, isNull, ne, or, sql } from "drizzle-orm";
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { ORG_KEY_PREFIX } from "../contract/credentials";
import { orgKey } from "../auth/middleware";
import { apiKeys } from "../db/schema";
import { ApiError, notFound } from "../contract/errors";
import { jsonBody, params } from "../http/validate";
import { newId, newSecret, sha256 } from "../lib/crypto";
import { presentKey } from "../services/presenters";
import { CreateKey, KeyParams } from "../contract/tenancy";

export const keys = new Hono<AppEnv>()
  .use(orgKey("admin"))
  .post("/", jsonBody(CreateKey), async (c) => {
    const { role, name } = c.req.valid("json");
    const now = Date.now();
    const key = newSecret(ORG_KEY_PREFIX);
    const row = {
      id: newId("key", now),
      orgId: c.var.org.orgId,
      name,
      role,
      keyHash: await sha256(key),
      prefix: key.slice(0, 12),
      createdAt: now,
      revokedAt: null,
    };
    await c.var.db.insert(apiKeys).values(row);
    // The secret is in this answer only; we keep its hash.
    return c.json({ ...presentKey(row), key }, 201);
  })
  .get("/", async (c) => {
    const rows = await c.var.db.query.apiKeys.findMany({
      where: and(eq(apiKeys.orgId, c.var.org.orgId), isNull(apiKeys.revokedAt)),
      orderBy: apiKeys.id,
    });
    return c.json({ keys: rows.map(presentKey) });
  })
  .delete("/:id", params(KeyParams), async (c) => {
    const { id } = c.req.valid("param");
    const { db, org } = c.var;
    const live = and(eq(apiKeys.orgId, org.orgId), isNull(apiKeys.revokedAt));
    // One statement, so two admins revoking each other at once cannot both succeed: an
    // admin key is revoked only while another live admin key remains.
    const otherAdmins = db
      .select({ n: count() })
      .from(apiKeys)
      .where(and(live, eq(apiKeys.role, "admin"), ne(apiKeys.id, id)));
    const revoked = await db
      .update(apiKeys)
      .set({ revokedAt: Date.now() })
      .where(and(eq(apiKeys.id, id), live, or(ne(apiKeys.role, "admin"), sql`(${otherAdmins}) > 0`)))
      .returning({ id: apiKeys.id });
    if (revoked.length > 0) return c.json({ id, deleted: true });
    const key = await db.query.apiKeys.findFirst({ where: and(eq(apiKeys.id, id), live) });
    if (!key) throw notFound("key");
    throw new ApiError("conflict", "this is the org's last admin key; create another admin key first");
  });
