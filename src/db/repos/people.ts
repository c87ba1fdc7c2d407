// People, their memberships of orgs, invitations and sign-in sessions (src/contract/people.ts).
import { and, asc, count, eq, gt, isNull, ne, or, sql } from "drizzle-orm";
import type { PersonRole } from "../../contract/people";
import { newId } from "../../lib/crypto";
import type { Db } from "../client";
import { invitations, memberships, orgs, people, personSessions } from "../schema";
import { constantRow } from "./projects";

export type Person = typeof people.$inferSelect;
export type Invitation = typeof invitations.$inferSelect;

/** The person an identity names, made on first sign-in; their email and name as the provider gives them now. */
export async function upsertPerson(
  db: Db,
  who: { issuer: string; subject: string; email: string; name: string | null },
  now = Date.now(),
): Promise<Person> {
  const [row] = await db
    .insert(people)
    .values({ id: newId("psn", now), ...who, createdAt: now, lastSeenAt: now })
    .onConflictDoUpdate({
      target: [people.issuer, people.subject],
      set: { email: who.email, name: who.name, lastSeenAt: now },
    })
    .returning();
  return row!;
}

// ---- sessions ------------------------------------------------------------------------------

export async function insertSession(
  db: Db,
  hash: string,
  personId: string,
  now: number,
  lifetimeMs: number,
): Promise<void> {
  await db
    .insert(personSessions)
    .values({ id: hash, personId, createdAt: now, lastUsedAt: now, expiresAt: now + lifetimeMs });
}

/** The live session of a cookie's hash, with its person: not ended, within its lifetime and its idle timeout. */
export async function findLiveSession(db: Db, hash: string, now: number, idleMs: number) {
  const [row] = await db
    .select({ session: personSessions, person: people })
    .from(personSessions)
    .innerJoin(people, eq(people.id, personSessions.personId))
    .where(
      and(
        eq(personSessions.id, hash),
        isNull(personSessions.endedAt),
        gt(personSessions.expiresAt, now),
        gt(personSessions.lastUsedAt, now - idleMs),
      ),
    )
    .limit(1);
  return row;
}

export async function touchSession(db: Db, hash: string, now: number): Promise<void> {
  await db.update(personSessions).set({ lastUsedAt: now }).where(eq(personSessions.id, hash));
}

export async function endSession(db: Db, hash: string, now = Date.now()): Promise<void> {
  await db
    .update(personSessions)
    .set({ endedAt: now })
    .where(and(eq(personSessions.id, hash), isNull(personSessions.endedAt)));
}

// ---- memberships ---------------------------------------------------------------------------

/** The orgs a person belongs to, with their role in each. */
export async function orgsOf(db: Db, personId: string) {
  return db
    .select({ id: orgs.id, name: orgs.name, tier: orgs.tier, role: memberships.role })
    .from(memberships)
    .innerJoin(orgs, eq(orgs.id, memberships.orgId))
    .where(eq(memberships.personId, personId))
    .orderBy(asc(orgs.name))
    .limit(1000);
}

export async function membershipOf(db: Db, orgId: string, personId: string) {
  return db.query.memberships.findFirst({
    where: and(eq(memberships.orgId, orgId), eq(memberships.personId, personId)),
  });
}

/** The org's people, oldest member first. */
export async function listMembers(db: Db, orgId: string) {
  return db
    .select({ person: people, role: memberships.role, joinedAt: memberships.joinedAt })
    .from(memberships)
    .innerJoin(people, eq(people.id, memberships.personId))
    .where(eq(memberships.orgId, orgId))
    .orderBy(asc(memberships.joinedAt))
    .limit(1000);
}

const owners = (orgId: string) => sql`(SELECT count(*) FROM memberships WHERE org_id = ${orgId} AND role = 'owner')`;

/**
 * Changes a member's role, in one statement that leaves the org at least one owner: an owner is
 * demoted only while another owner remains. Answers whether it changed (false: not a member, or the last owner).
 */
export async function setMemberRole(db: Db, orgId: string, personId: string, role: PersonRole): Promise<boolean> {
  const rows = await db
    .update(memberships)
    .set({ role })
    .where(
      and(
        eq(memberships.orgId, orgId),
        eq(memberships.personId, personId),
        or(ne(memberships.role, "owner"), sql`${role} = 'owner'`, sql`${owners(orgId)} > 1`),
      ),
    )
    .returning();
  return rows.length > 0;
}

/** Removes a member unless they are the last owner, in one statement. */
export async function removeMember(db: Db, orgId: string, personId: string): Promise<boolean> {
  const rows = await db
    .delete(memberships)
    .where(
      and(
        eq(memberships.orgId, orgId),
        eq(memberships.personId, personId),
        or(ne(memberships.role, "owner"), sql`${owners(orgId)} > 1`),
      ),
    )
    .returning();
  return rows.length > 0;
}

/** Makes the person a member with `role`; a member already takes the invitation's role. */
export async function addMember(
  db: Db,
  orgId: string,
  personId: string,
  role: PersonRole,
  now = Date.now(),
): Promise<void> {
  await db
    .insert(memberships)
    .values({ orgId, personId, role, joinedAt: now })
    .onConflictDoUpdate({ target: [memberships.orgId, memberships.personId], set: { role } });
}

// ---- invitations ---------------------------------------------------------------------------

const pendingIn = (orgId: string, now: number) =>
  and(
    eq(invitations.orgId, orgId),
    isNull(invitations.acceptedAt),
    isNull(invitations.revokedAt),
    gt(invitations.expiresAt, now),
  );

/** What counts toward the tier's people limit: members and pending invitations. */
const heldPeople = (orgId: string, now: number) =>
  sql<number>`(SELECT count(*) FROM memberships WHERE org_id = ${orgId}) + (SELECT count(*) FROM invitations WHERE org_id = ${orgId} AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ${now})`;

/** Adds an invitation only while the org's people and pending invitations are fewer than `max`, in one statement. */
export async function insertInvitationWithinLimit(
  db: Db,
  row: Omit<Invitation, "id" | "createdAt" | "acceptedAt" | "revokedAt">,
  max: number,
  now = Date.now(),
) {
  const invitation: Invitation = { id: newId("inv", now), createdAt: now, acceptedAt: null, revokedAt: null, ...row };
  const held = heldPeople(row.orgId, now);
  const [stored, [after]] = await db.batch([
    db
      .insert(invitations)
      .select((qb) =>
        qb
          .select(constantRow(invitations, invitation))
          .from(orgs)
          .where(and(eq(orgs.id, row.orgId), sql`${held} < ${max}`)),
      )
      .returning(),
    db.select({ n: held }).from(orgs).where(eq(orgs.id, row.orgId)),
  ]);
  return { created: stored[0], used: Number(after?.n ?? 0) };
}

export async function listPendingInvitations(db: Db, orgId: string, now = Date.now()): Promise<Invitation[]> {
  return db.query.invitations.findMany({ where: pendingIn(orgId, now), orderBy: asc(invitations.id), limit: 1000 });
}

export async function revokeInvitation(
  db: Db,
  orgId: string,
  id: string,
  now = Date.now(),
): Promise<Invitation | undefined> {
  const [row] = await db
    .update(invitations)
    .set({ revokedAt: now })
    .where(and(eq(invitations.id, id), pendingIn(orgId, now)))
    .returning();
  return row;
}

/**
 * Takes the pending invitation of a link's hash for `email`, once: one statement, so two
 * acceptances of one link cannot both succeed. Undefined: unknown, used, withdrawn, expired, or another email's.
 */
export async function takeInvitation(
  db: Db,
  tokenHash: string,
  emailAddress: string,
  now = Date.now(),
): Promise<Invitation | undefined> {
  const [row] = await db
    .update(invitations)
    .set({ acceptedAt: now })
    .where(
      and(
        eq(invitations.tokenHash, tokenHash),
        eq(invitations.email, emailAddress),
        isNull(invitations.acceptedAt),
        isNull(invitations.revokedAt),
        gt(invitations.expiresAt, now),
      ),
    )
    .returning();
  return row;
}

/** The owner invitations without a link (POST /orgs owner_email) waiting for this email, taken now. */
export async function takeOwnerInvitations(db: Db, emailAddress: string, now = Date.now()): Promise<Invitation[]> {
  return db
    .update(invitations)
    .set({ acceptedAt: now })
    .where(
      and(
        eq(invitations.email, emailAddress),
        isNull(invitations.tokenHash),
        isNull(invitations.acceptedAt),
        isNull(invitations.revokedAt),
        gt(invitations.expiresAt, now),
      ),
    )
    .returning();
}

/** Whether the org has an owner, or an owner invitation pending. */
export async function ownerCount(db: Db, orgId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(memberships)
    .where(and(eq(memberships.orgId, orgId), eq(memberships.role, "owner")));
  return row?.n ?? 0;
}
