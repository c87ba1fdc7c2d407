import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { ApiError, notFound } from "../contract/errors";
import { CreateKey, KeyParams } from "../contract/tenancy";
import { findLiveKey, listLiveKeys } from "../db/repos/keys";
import { audit } from "../http/audit";
import { atLimit, describer } from "../http/describe";
import { jsonBody, params } from "../http/validate";
import { presentKey } from "../services/presenters";
import { createKey, revokeKey } from "../services/tenancy";

const describe = describer("Keys");
const lastAdminKey = () => new ApiError("conflict", "this is the org's last admin key; create another admin key first");

export const keys = new Hono<AppEnv>()
  .use(orgKey("admin"))
  .post(
    "/",
    describe({
      summary: "Create an API key (the secret is shown once)",
      answers: { 201: "The key, with its secret" },
      errors: [atLimit("api_keys")],
    }),
    jsonBody(CreateKey),
    async (c) => {
      const { role, name } = c.req.valid("json");
      const { key, secret } = await createKey(c.var.db, c.var.org.orgId, role, name, c.var.org.keyId);
      await audit(c, {
        action: "key.created",
        target: { kind: "key", id: key.id, label: key.name },
        summary: { name: key.name, role: key.role },
      });
      // The secret is in this answer only; we keep its hash.
      return c.json({ ...presentKey(key), key: secret }, 201);
    },
  )
  .get("/", describe({ summary: "List API keys, without secrets" }), async (c) => {
    return c.json({ keys: (await listLiveKeys(c.var.db, c.var.org.orgId)).map(presentKey) });
  })
  .delete(
    "/:id",
    describe({ summary: "Revoke an API key", errors: [() => notFound("key"), lastAdminKey] }),
    params(KeyParams),
    async (c) => {
      const { id } = c.req.valid("param");
      const key = await findLiveKey(c.var.db, c.var.org.orgId, id);
      const outcome = await revokeKey(c.env, c.var.db, c.var.org.orgId, id);
      if (outcome === "not_found") throw notFound("key");
      if (outcome === "last_admin") throw lastAdminKey();
      await audit(c, {
        action: "key.revoked",
        target: { kind: "key", id, ...(key ? { label: key.name } : {}) },
        summary: key ? { name: key.name, role: key.role } : {},
      });
      return c.json({ id, deleted: true });
    },
  );
