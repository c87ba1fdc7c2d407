// /me: who the calling org key or signed-in person is, for dashboards and scripts: a person also
// gets their orgs (a person of several who names none is answered for the first).
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { findOrg } from "../db/repos/orgs";
import { ApiError } from "../contract/errors";
import { presentKey, presentOrg } from "../services/presenters";

export const me = new Hono<AppEnv>().get("/", orgKey("viewer", { firstOrg: true }), async (c) => {
  const { db, org, apiKey, person } = c.var;
  const orgRow = await findOrg(db, org.orgId);
  if (!orgRow) throw new ApiError("unauthorized", "invalid API key");
  if (person) {
    const { id, email, name, role } = person.person;
    return c.json({ org: presentOrg(orgRow, true), person: { id, email, name, role }, orgs: person.orgs });
  }
  return c.json({ org: presentOrg(orgRow, true), key: presentKey(apiKey) });
});
