// /auth: people sign in through the team's OpenID provider (auth/oidc.ts) and get a session
// cookie (auth/session.ts). Sign-in starts with a navigation to /auth/login (the dashboard's CSP
// allows forms to post only to itself), and ends at /auth/callback, which sets the cookie and
// goes back to the dashboard. Each sign-in, and each failed one, is audited.
import { type Context, Hono } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import type { AppEnv } from "../app-env";
import { perClientIp } from "../auth/middleware";
import { beginLogin, finishLogin, type LoginState, oidcConfig, SignInFailed } from "../auth/oidc";
import { clearSessionCookie, sessionCookie, signedInPerson, startSession } from "../auth/session";
import { DEPLOYMENT_LOG } from "../contract/audit";
import { ApiError } from "../contract/errors";
import { CallbackQuery, LOGIN, LoginQuery } from "../contract/people";
import { endSession, orgsOf } from "../db/repos/people";
import { audit } from "../http/audit";
import { describer } from "../http/describe";
import { query } from "../http/validate";
import { signingKey } from "../lib/config";
import { sha256 } from "../lib/crypto";

const describe = describer("Auth");
const notConfigured = () =>
  new ApiError("not_found", "sign-in is not configured on this server (set OIDC_ISSUER and OIDC_CLIENT_ID)");

/** A person in more orgs than this gets their sign-in audited in the first ones only. */
const AUDITED_ORGS = 20;

const redirectUri = <E extends AppEnv>(c: Context<E>) =>
  `${c.env.PUBLIC_URL || new URL(c.req.url).origin}/api/v1/auth/callback`;
const loginCookie = <E extends AppEnv>(c: Context<E>) => ({
  path: "/api/v1/auth",
  httpOnly: true,
  secure: new URL(c.req.url).protocol === "https:",
  sameSite: "Lax" as const,
});

function configured<E extends AppEnv>(c: Context<E>) {
  const cfg = oidcConfig(c.env);
  if (!cfg) throw notConfigured();
  return cfg;
}

export const auth = new Hono<AppEnv>()
  .get(
    "/login",
    describe({
      summary: "Start signing in: a redirect to the OpenID provider (authorization code + PKCE)",
      description: "A browser navigates here; `return_to` must be a path on this site.",
      auth: "none",
      answers: { 302: "To the OpenID provider" },
      errors: [notConfigured],
    }),
    perClientIp,
    query(LoginQuery),
    async (c) => {
      const q = c.req.valid("query");
      const { url, state } = await beginLogin(configured(c), redirectUri(c), {
        returnTo: q.return_to ?? "/",
        ...(q.org_id ? { orgId: q.org_id } : {}),
      });
      await setSignedCookie(c, LOGIN.cookie, JSON.stringify(state), signingKey(c.env), {
        ...loginCookie(c),
        maxAge: LOGIN.ttlMs / 1000,
      });
      return c.redirect(url.toString(), 302);
    },
  )
  .get(
    "/callback",
    describe({
      summary: "The provider's redirect back: sets the session cookie, then a redirect to return_to",
      query: CallbackQuery,
      auth: "none",
      answers: { 302: "To return_to, signed in" },
      errors: [
        notConfigured,
        () => new SignInFailed("no sign-in in progress here (it expired, or began in another browser)"),
      ],
    }),
    perClientIp,
    async (c) => {
      const cfg = configured(c);
      const kept = await getSignedCookie(c, signingKey(c.env), LOGIN.cookie);
      deleteCookie(c, LOGIN.cookie, loginCookie(c));
      const state = kept ? (JSON.parse(kept) as LoginState) : null;
      let who: Awaited<ReturnType<typeof finishLogin>>;
      try {
        if (!state) throw new SignInFailed("no sign-in in progress here (it expired, or began in another browser)");
        who = await finishLogin(cfg, redirectUri(c), new URL(c.req.url), state);
      } catch (err) {
        if (err instanceof SignInFailed) {
          await audit(c, {
            orgId: state?.orgId ?? DEPLOYMENT_LOG,
            actor: { kind: "person", id: "unknown", label: "unknown" },
            action: "person.sign_in_failed",
            target: { kind: "org", id: state?.orgId ?? DEPLOYMENT_LOG },
            summary: { reason: err.reason },
          });
        }
        throw err;
      }
      const person = await signedInPerson(c, who);
      const actor = { kind: "person" as const, id: person.id, label: person.email };
      await startSession(c, person.id);
      for (const org of (await orgsOf(c.var.db, person.id)).slice(0, AUDITED_ORGS)) {
        await audit(c, {
          orgId: org.id,
          actor: { ...actor, role: org.role },
          action: "person.signed_in",
          target: { kind: "person", id: person.id, label: person.email },
          summary: { issuer: who.issuer },
        });
      }
      return c.redirect(state!.returnTo, 302);
    },
  )
  // Sign-out ends the session on the server: the cookie stops at once, wherever it was copied.
  .post(
    "/logout",
    describe({ summary: "End the session (the cookie stops at once)", auth: "none", answers: { 204: "Signed out" } }),
    async (c) => {
      const secret = sessionCookie(c);
      if (secret) await endSession(c.var.db, await sha256(secret));
      clearSessionCookie(c);
      return c.body(null, 204);
    },
  );
