import { Hono } from "hono";
import { TIERS } from "../contract/tiers";
import { insertInvitationWithinLimit } from "../db/repos/people";
import { audit } from "../http/audit";

/** How long an org's named owner has to sign in for the first time. */
const OWNER_INVITATION_MS = 365 * 24 * 3_600_000;

import type { AppEnv } from "../app-env";
import { serverAdmin, serverAdminOrOrgKey } from "../auth/middleware";
import { notFound } from "../contract/errors";
import { CreateOrg, OrgParams, UpdateOrg } from "../contract/tenancy";
import { findOrg, updateOrg } from "../db/repos/orgs";
import { describer } from "../http/describe";
import { jsonBody, params } from "../http/validate";
import { presentOrg } from "../services/presenters";
import { createOrg } from "../services/tenancy";

const describe = describer("Orgs");

export const orgs = new Hono<AppEnv>()
  .post(
    "/",
    describe({
      summary: "Create an org and its first admin key",
      description:
        "The admin key's secret is in this answer only. `owner_email`: whoever first signs in with that email becomes the org's owner.",
      answers: { 201: "The org, and its first admin key with its secret" },
    }),
    serverAdmin,
    jsonBody(CreateOrg),
    async (c) => {
      const { name, tier, owner_email } = c.req.valid("json");
      const { org, key, secret } = await createOrg(c.var.db, name, tier);
      if (owner_email) {
        // No link: the owner is whoever signs in with this email (a pending invitation, counted as a person).
        const now = Date.now();
        await insertInvitationWithinLimit(
          c.var.db,
          {
            orgId: org.id,
            email: owner_email,
            role: "owner",
            tokenHash: null,
            createdBy: null,
            expiresAt: now + OWNER_INVITATION_MS,
          },
          TIERS[tier].limits.people,
          now,
        );
      }
      await audit(c, {
        orgId: org.id,
        action: "org.created",
        target: { kind: "org", id: org.id, label: name },
        summary: { name, tier, ...(owner_email ? { owner_email } : {}) },
      });
      await audit(c, {
        orgId: org.id,
        action: "key.created",
        target: { kind: "key", id: key.id, label: key.name },
        summary: { name: key.name, role: key.role },
      });
      return c.json(
        { org: presentOrg(org, true), api_key: { id: key.id, key: secret, role: key.role, name: key.name } },
        201,
      );
    },
  )
  .patch(
    "/:org_id",
    describe({ summary: "Change an org's tier or name", errors: [() => notFound("org")] }),
    serverAdmin,
    params(OrgParams),
    jsonBody(UpdateOrg),
    async (c) => {
      const org = await updateOrg(c.var.db, c.req.valid("param").org_id, c.req.valid("json"));
      if (!org) throw notFound("org");
      await audit(c, {
        orgId: org.id,
        action: "org.updated",
        target: { kind: "org", id: org.id, label: org.name },
        summary: c.req.valid("json"),
      });
      return c.json({ org: presentOrg(org, true) });
    },
  )
  .get(
    "/:org_id",
    describe({
      summary: "An org with its tier limits",
      description: "An org key sees its own org; the server admin token sees any.",
      errors: [() => notFound("org")],
    }),
    serverAdminOrOrgKey("viewer"),
    params(OrgParams),
    async (c) => {
      const { org_id } = c.req.valid("param");
      const visible = c.var.serverAdmin || org_id === c.var.org?.orgId;
      const org = visible ? await findOrg(c.var.db, org_id) : undefined;
      if (!org) throw notFound("org");
      return c.json({ org: presentOrg(org, true) });
    },
  );
