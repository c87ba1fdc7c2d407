// /me: who the calling org key or signed-in person is, for dashboards and scripts: a person also
// gets their orgs (a person of several who names none is answered for the first).
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { ApiError } from "../contract/errors";
import { findOrg } from "../db/repos/orgs";
import { describer } from "../http/describe";
import { presentKey, presentOrg } from "../services/presenters";

const describe = describer("Keys");

export const me = new Hono<AppEnv>().get(
  "/",
  describe({
    summary: "The calling key or signed-in person and its org (with tier limits); a person's orgs",
    description: "A person of several orgs who names none is answered for the first.",
  }),
  orgKey("viewer", { firstOrg: true }),
  async (c) => {
    const { db, org, apiKey, person } = c.var;
    const orgRow = await findOrg(db, org.orgId);
    if (!orgRow) throw new ApiError("unauthorized", "invalid API key");
    // orgKey found either a key or a person.
    if (apiKey) return c.json({ org: presentOrg(orgRow, true), key: presentKey(apiKey) });
    const { id, email, name, role } = person!.person;
    return c.json({ org: presentOrg(orgRow, true), person: { id, email, name, role }, orgs: person!.orgs });
  },
);
