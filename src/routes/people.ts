// /people and /invitations: an org's people and their roles, for its admins. Admins invite by
// email (a link shown once, valid 7 days, for that email only), change roles and remove people;
// only owners touch owners, and the last owner can be neither demoted nor removed. While an org
// has no owner, an admin (key or person) may invite one.

import type { Context } from "hono";
import { Hono } from "hono";
import type { AppEnv, OrgEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { personOfSession } from "../auth/session";
import { ApiError, notFound } from "../contract/errors";
import {
  AcceptInvitation,
  CreateInvitation,
  INVITATION_TTL_MS,
  InvitationParams,
  OrgScope,
  PatchPerson,
  PersonParams,
  type PersonRole,
} from "../contract/people";
import {
  addMember,
  insertInvitationWithinLimit,
  listMembers,
  listPendingInvitations,
  membershipOf,
  ownerCount,
  removeMember,
  revokeInvitation,
  setMemberRole,
  takeInvitation,
} from "../db/repos/people";
import { audit } from "../http/audit";
import { atLimit, describer } from "../http/describe";
import { jsonBody, params, query } from "../http/validate";
import { newSecret, sha256 } from "../lib/crypto";
import { iso } from "../lib/time";
import { insertWithinLimit } from "../services/quotas";
import { closeTailsOf } from "../services/tenancy";

const describePeople = describer("People");
const describeInvitations = describer("Invitations");
const invitationGone = () =>
  new ApiError("not_found", "this invitation is unknown, used, withdrawn, expired, or for another email");
const lastOwner = () => new ApiError("conflict", "this is the org's last owner; make another owner first");
const ownersOnlyError = (what: string) => new ApiError("forbidden", `only an owner may ${what}`);

/** Whether the caller is an owner of the org (only a signed-in person can be). */
const isOwner = <E extends OrgEnv>(c: Context<E>) => c.var.person?.person.role === "owner";

function ownersOnly<E extends OrgEnv>(c: Context<E>, what: string): void {
  if (!isOwner(c)) throw ownersOnlyError(what);
}

/** The org a request acts in must be the one it names, if it names one. */
function sameOrg<E extends OrgEnv>(c: Context<E>, named: string | undefined): string {
  if (named !== undefined && named !== c.var.org.orgId) throw notFound("org");
  return c.var.org.orgId;
}

const presentInvitation = (i: {
  id: string;
  email: string;
  role: PersonRole;
  expiresAt: number;
  createdAt: number;
}) => ({
  id: i.id,
  email: i.email,
  role: i.role,
  created_at: iso(i.createdAt),
  expires_at: iso(i.expiresAt),
});

export const people = new Hono<AppEnv>()
  .get(
    "/",
    describePeople({ summary: "The org's people and their roles", errors: [() => notFound("org")] }),
    orgKey("admin"),
    query(OrgScope),
    async (c) => {
      const orgId = sameOrg(c, c.req.valid("query").org_id);
      const rows = await listMembers(c.var.db, orgId);
      return c.json({
        people: rows.map((r) => ({
          id: r.person.id,
          email: r.person.email,
          name: r.person.name,
          role: r.role,
          joined_at: iso(r.joinedAt),
          last_seen_at: r.person.lastSeenAt === null ? null : iso(r.person.lastSeenAt),
        })),
      });
    },
  )
  .patch(
    "/:person_id",
    describePeople({
      summary: "Change a person's role (owners only by owners; never the last owner)",
      errors: [() => notFound("person"), () => ownersOnlyError("promote or demote an owner"), lastOwner],
    }),
    orgKey("admin"),
    params(PersonParams),
    query(OrgScope),
    jsonBody(PatchPerson),
    async (c) => {
      const orgId = sameOrg(c, c.req.valid("query").org_id);
      const { person_id } = c.req.valid("param");
      const { role } = c.req.valid("json");
      const member = await membershipOf(c.var.db, orgId, person_id);
      if (!member) throw notFound("person");
      if (member.role === "owner" || role === "owner") ownersOnly(c, "promote or demote an owner");
      if (!(await setMemberRole(c.var.db, orgId, person_id, role))) throw lastOwner();
      await audit(c, {
        action: "person.role_changed",
        target: { kind: "person", id: person_id },
        summary: { from: member.role, to: role },
      });
      return c.json({ person: { id: person_id, role } });
    },
  )
  .delete(
    "/:person_id",
    describePeople({
      summary: "Remove a person from the org (owners only by owners; never the last owner)",
      description: "Their next request to the org is refused, and their live tails close.",
      errors: [() => notFound("person"), () => ownersOnlyError("remove an owner"), lastOwner],
    }),
    orgKey("admin"),
    params(PersonParams),
    query(OrgScope),
    async (c) => {
      const orgId = sameOrg(c, c.req.valid("query").org_id);
      const { person_id } = c.req.valid("param");
      const member = await membershipOf(c.var.db, orgId, person_id);
      if (!member) throw notFound("person");
      if (member.role === "owner") ownersOnly(c, "remove an owner");
      if (!(await removeMember(c.var.db, orgId, person_id))) throw lastOwner();
      // Their next request to this org is refused (the membership is gone); their live tails close now.
      await closeTailsOf(c.env, c.var.db, orgId, person_id);
      await audit(c, {
        action: "person.removed",
        target: { kind: "person", id: person_id },
        summary: { role: member.role },
      });
      return c.json({ id: person_id, removed: true });
    },
  );

export const invitations = new Hono<AppEnv>()
  .post(
    "/",
    describeInvitations({
      summary: "Invite a person by email: a link shown once, valid 7 days, for that email",
      answers: { 201: "The invitation, and its link (shown once)" },
      errors: [() => ownersOnlyError("invite an owner"), atLimit("people")],
    }),
    orgKey("admin"),
    jsonBody(CreateInvitation),
    async (c) => {
      const body = c.req.valid("json");
      const orgId = sameOrg(c, body.org_id);
      if (body.role === "owner" && !isOwner(c) && (await ownerCount(c.var.db, orgId)) > 0)
        ownersOnly(c, "invite an owner");
      const token = newSecret("fbi");
      const now = Date.now();
      const tokenHash = await sha256(token);
      const invitation = await insertWithinLimit(c.var.db, orgId, "people", (max) =>
        insertInvitationWithinLimit(
          c.var.db,
          {
            orgId,
            email: body.email,
            role: body.role,
            tokenHash,
            createdBy: c.var.org.keyId,
            expiresAt: now + INVITATION_TTL_MS,
          },
          max,
          now,
        ),
      );
      await audit(c, {
        action: "person.invited",
        target: { kind: "invitation", id: invitation.id, label: body.email },
        summary: { email: body.email, role: body.role },
      });
      // The link opens the dashboard, which signs the person in and accepts it; shown once, kept only as a hash.
      const url = `${c.env.PUBLIC_URL || new URL(c.req.url).origin}/#/accept/${token}`;
      return c.json({ invitation: presentInvitation(invitation), url }, 201);
    },
  )
  .get(
    "/",
    describeInvitations({ summary: "Pending invitations", errors: [() => notFound("org")] }),
    orgKey("admin"),
    query(OrgScope),
    async (c) => {
      const orgId = sameOrg(c, c.req.valid("query").org_id);
      return c.json({ invitations: (await listPendingInvitations(c.var.db, orgId)).map(presentInvitation) });
    },
  )
  .delete(
    "/:id",
    describeInvitations({ summary: "Withdraw an invitation", errors: [() => notFound("invitation")] }),
    orgKey("admin"),
    params(InvitationParams),
    async (c) => {
      const { id } = c.req.valid("param");
      const revoked = await revokeInvitation(c.var.db, c.var.org.orgId, id);
      if (!revoked) throw notFound("invitation");
      await audit(c, { action: "invitation.revoked", target: { kind: "invitation", id, label: revoked.email } });
      return c.json({ id, deleted: true });
    },
  )
  // A signed-in person takes an invitation made for their email: once, within 7 days.
  .post(
    "/accept",
    describeInvitations({
      summary: "Accept an invitation made for the signed-in person's email",
      auth: "session",
      errors: [() => new ApiError("unauthorized", "sign in first"), invitationGone],
    }),
    jsonBody(AcceptInvitation),
    async (c) => {
      const person = await personOfSession(c);
      const taken = await takeInvitation(c.var.db, await sha256(c.req.valid("json").token), person.email);
      if (!taken) throw invitationGone();
      await addMember(c.var.db, taken.orgId, person.id, taken.role);
      await audit(c, {
        orgId: taken.orgId,
        actor: { kind: "person", id: person.id, label: person.email, role: taken.role },
        action: "person.joined",
        target: { kind: "person", id: person.id, label: person.email },
        summary: { role: taken.role, invitation: taken.id },
      });
      return c.json({ org_id: taken.orgId, role: taken.role });
    },
  );
