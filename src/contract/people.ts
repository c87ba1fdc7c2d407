// People: who signs in through the team's OpenID provider, their roles per org, invitations,
// and their sign-in sessions (docs/security.md, "People").
import { z } from "zod";
import { orgId, personRole } from "./common";

export type PersonRole = z.output<typeof personRole>;

/** What each role may do includes what the roles after it may. */
export const PERSON_RANK: Record<PersonRole, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

export const SESSION = {
  cookie: "fleetbeat_session",
  /** Beside it, readable by the page and holding no secret: "a session may exist", so the dashboard asks. */
  hint: "fb_signed_in",
  /** A session unused this long ends (the dashboard's polling keeps an open page's alive). */
  idleMs: 60 * 60_000,
  /** A session ends this long after sign-in, however used. */
  absoluteMs: 12 * 3_600_000,
  /** last_used_at is written at most this often (one D1 write a minute per active person). */
  touchEveryMs: 60_000,
};

/** The sign-in in progress: PKCE verifier, state and nonce, in a short-lived signed cookie. */
export const LOGIN = { cookie: "fb_login", ttlMs: 10 * 60_000 };

export const INVITATION_TTL_MS = 7 * 24 * 3_600_000;

/** An email as providers give it, compared in lower case. */
export const email = z
  .string()
  .trim()
  .max(254)
  .email()
  .transform((s) => s.toLowerCase());

const personId = z.string().regex(/^psn_[0-9A-HJKMNP-TV-Z]{26}$/, "not a psn_ id");
const invitationId = z.string().regex(/^inv_[0-9A-HJKMNP-TV-Z]{26}$/, "not an inv_ id");

/** A same-origin path to go back to after sign-in (never another site). */
const returnTo = z
  .string()
  .max(2048)
  .regex(/^\/(?![/\\])/, "a path on this site, starting with a single /")
  .optional();

export const LoginQuery = z.object({ org_id: orgId.optional(), return_to: returnTo });
export const CallbackQuery = z.object({
  code: z.string().max(4096).optional(),
  state: z.string().max(1024).optional(),
  error: z.string().max(256).optional(),
});

export const OrgScope = z.object({ org_id: orgId.optional() });
export const PersonParams = z.object({ person_id: personId });
export const PatchPerson = z.object({ role: personRole });
export const InvitationParams = z.object({ id: invitationId });
export const CreateInvitation = z.object({ org_id: orgId.optional(), email, role: personRole });
export const AcceptInvitation = z.object({ token: z.string().min(1).max(256) });

/** A signed-in person as a request knows them: their role in the org it acts in, that org, and all of theirs. */
export interface SessionCaller {
  person: { id: string; email: string; name: string | null; role: PersonRole; sessionHash: string };
  org: { id: string; name: string; tier: "free" | "pro" | "enterprise" };
  orgs: { id: string; name: string; role: PersonRole }[];
}
