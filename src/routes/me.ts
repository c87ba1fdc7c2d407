// /me: who the calling org key is, for dashboards and scripts that hold only a key.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { findLiveKey } from "../db/repos/keys";
import { findOrg } from "../db/repos/orgs";
import { ApiError } from "../contract/errors";
import { presentKey, presentOrg } from "../services/presenters";

export const me = new Hono<AppEnv>().get("/", orgKey("viewer"), async (c) => {
  const { db, org } = c.var;
  const [orgRow, key] = await Promise.all([findOrg(db, org.orgId), findLiveKey(db, org.orgId, org.keyId)]);
  // The key passed the middleware a moment ago; gone now means revoked in between.
  if (!orgRow || !key) throw new ApiError("unauthorized", "invalid API key");
  return c.json({ org: presentOrg(orgRow, true), key: presentKey(key) });
});
