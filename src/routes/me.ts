// /me: who the calling org key is, for dashboards and scripts that hold only a key.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { findOrg } from "../db/repos/orgs";
import { ApiError } from "../contract/errors";
import { presentKey, presentOrg } from "../services/presenters";

export const me = new Hono<AppEnv>().get("/", orgKey("viewer"), async (c) => {
  const { db, org, apiKey } = c.var;
  const orgRow = await findOrg(db, org.orgId);
  if (!orgRow) throw new ApiError("unauthorized", "invalid API key");
  return c.json({ org: presentOrg(orgRow, true), key: presentKey(apiKey) });
});
