// A person's sign-in session: an HttpOnly cookie whose secret's hash names a row in D1, so that
// sign-out and removal take effect on the next request. A session request acts in one org: the
// one its X-Fleetbeat-Org header (or ?org_id) names, the org of the project it names, or the
// person's only org. A mutation from a session must come from this site (Fetch Metadata or Origin).
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../app-env";
import { ApiError } from "../contract/errors";
import { SESSION, type SessionCaller } from "../contract/people";
import { orgOfDevice } from "../db/repos/devices";
import {
  addMember,
  findLiveSession,
  insertSession,
  orgsOf,
  type Person,
  takeOwnerInvitations,
  touchSession,
  upsertPerson,
} from "../db/repos/people";
import { findProject } from "../db/repos/projects";
import { audit } from "../http/audit";
import { newSecret, sha256 } from "../lib/crypto";
import { type AccessConfig, accessPerson, type SignedIn } from "./oidc";

/** Whether the request came over HTTPS: local development (plain http) gets no Secure flag. */
const secure = <E extends AppEnv>(c: Context<E>) => new URL(c.req.url).protocol === "https:";

/** Starts a session for `personId` and sets its cookie. */
export async function startSession<E extends AppEnv>(c: Context<E>, personId: string): Promise<void> {
  const secret = newSecret("fbs");
  await insertSession(c.var.db, await sha256(secret), personId, Date.now(), SESSION.absoluteMs);
  setCookie(c, SESSION.cookie, secret, {
    path: "/",
    httpOnly: true,
    secure: secure(c),
    sameSite: "Lax",
    maxAge: SESSION.absoluteMs / 1000,
  });
  // No secret: only tells the dashboard a session may exist, so it asks GET /me (no 401 to log otherwise).
  setCookie(c, SESSION.hint, "1", { path: "/", secure: secure(c), sameSite: "Lax", maxAge: SESSION.absoluteMs / 1000 });
}

export const sessionCookie = <E extends AppEnv>(c: Context<E>) => getCookie(c, SESSION.cookie);

export function clearSessionCookie<E extends AppEnv>(c: Context<E>): void {
  deleteCookie(c, SESSION.cookie, { path: "/", secure: secure(c) });
  deleteCookie(c, SESSION.hint, { path: "/", secure: secure(c) });
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * A mutation with a session cookie must come from this site: the browser's Sec-Fetch-Site says
 * so, or (older browsers) its Origin is this origin. A cookie sent by another site's form or
 * script is refused.
 */
function holdToSameOrigin<E extends AppEnv>(c: Context<E>): void {
  if (SAFE.has(c.req.method)) return;
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) {
    if (site === "same-origin" || site === "none") return;
  } else {
    const origin = c.req.header("origin");
    if (origin !== undefined && origin === new URL(c.req.url).origin) return;
  }
  throw new ApiError(
    "forbidden",
    "a cross-site request with a session cookie is refused; send it from this site (or use an API key)",
  );
}

/**
 * The signed-in person of a session cookie, whatever their orgs (accepting an invitation): 401 without a live
 * session.
 */
export async function personOfSession<E extends AppEnv>(c: Context<E>) {
  const secret = sessionCookie(c);
  const found = secret ? await findLiveSession(c.var.db, await sha256(secret), Date.now(), SESSION.idleMs) : undefined;
  if (!found) throw new ApiError("unauthorized", "sign in first");
  holdToSameOrigin(c);
  return found.person;
}

/**
 * The person behind a session cookie and the org this request acts in: 401 for an ended,
 * expired or idle session, 403 when the person is not a member of the org named, 400 when a
 * person of several orgs names none.
 */
export async function sessionCaller<E extends AppEnv>(
  c: Context<E>,
  secret: string,
  firstOrg = false,
): Promise<SessionCaller> {
  const db = c.var.db;
  const now = Date.now();
  const hash = await sha256(secret);
  const found = await findLiveSession(db, hash, now, SESSION.idleMs);
  if (!found) throw new ApiError("unauthorized", "the session has ended or expired; sign in again");
  holdToSameOrigin(c);
  if (now - found.session.lastUsedAt > SESSION.touchEveryMs) await touchSession(db, hash, now);
  return inOrg(c, found.person, hash, firstOrg);
}

/**
 * The person Cloudflare Access vouches for (its Cf-Access-Jwt-Assertion header, auth/oidc.ts),
 * as a session would be: their orgs, and the one this request acts in. Access sends the header
 * with every request it lets through, so the same-origin rule holds for mutations here too.
 */
export async function accessCaller<E extends AppEnv>(
  c: Context<E>,
  cfg: AccessConfig,
  assertion: string,
  firstOrg = false,
): Promise<SessionCaller> {
  const person = await signedInPerson(c, await accessPerson(cfg, assertion));
  holdToSameOrigin(c);
  return inOrg(c, person, `access:${person.id}`, firstOrg);
}

/**
 * A person who signed in (OIDC or Access): their row, and the orgs made for their email (POST /orgs
 * owner_email) now theirs.
 */
export async function signedInPerson<E extends AppEnv>(c: Context<E>, who: SignedIn): Promise<Person> {
  const person = await upsertPerson(c.var.db, who);
  for (const invitation of await takeOwnerInvitations(c.var.db, person.email)) {
    await addMember(c.var.db, invitation.orgId, person.id, "owner");
    await audit(c, {
      orgId: invitation.orgId,
      actor: { kind: "person", id: person.id, label: person.email, role: "owner" },
      action: "person.joined",
      target: { kind: "person", id: person.id, label: person.email },
      summary: { role: "owner", invitation: invitation.id },
    });
  }
  return person;
}

/** The org a person's request acts in, among theirs. */
async function inOrg<E extends AppEnv>(
  c: Context<E>,
  p: Person,
  sessionHash: string,
  firstOrg: boolean,
): Promise<SessionCaller> {
  const db = c.var.db;
  const orgs = await orgsOf(db, p.id);
  const named = c.req.header("x-fleetbeat-org") ?? c.req.query("org_id");
  let org = named ? orgs.find((o) => o.id === named) : undefined;
  if (named && !org) throw new ApiError("forbidden", "you are not a member of that org");
  if (!org) {
    // The project or device the request names (in its path or query), if it is in one of theirs.
    const projectId = c.req.param("project_id") ?? c.req.query("project_id");
    const deviceId = c.req.param("device_id") ?? c.req.query("device_id");
    // One read whatever the number of orgs: the thing's org, then whether it is one of theirs.
    if (projectId) {
      const owner = (await findProject(db, projectId))?.orgId;
      org = orgs.find((o) => o.id === owner);
      if (!org) throw new ApiError("not_found", "project not found");
    } else if (deviceId) {
      const owner = await orgOfDevice(db, deviceId);
      org = orgs.find((o) => o.id === owner);
      if (!org) throw new ApiError("not_found", "device not found");
    }
  }
  if (!org) {
    if (orgs.length === 0)
      throw new ApiError("forbidden", "you are not a member of any org yet; ask an admin for an invitation");
    if (orgs.length > 1 && !firstOrg)
      throw new ApiError("bad_request", "you belong to several orgs: name one with the X-Fleetbeat-Org header");
    org = orgs[0]!;
  }
  return {
    person: { id: p.id, email: p.email, name: p.name, role: org.role, sessionHash },
    org: { id: org.id, name: org.name, tier: org.tier },
    orgs: orgs.map((o) => ({ id: o.id, name: o.name, role: o.role })),
  };
}
