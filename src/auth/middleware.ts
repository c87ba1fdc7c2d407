// Who may call a route. Each middleware resolves the bearer secret to a caller or answers
// 401 (unknown secret) / 403 (a known secret of the wrong kind or role).
import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { DEVICE_KEY_PREFIX, ORG_KEY_PREFIX, bearer, verifyDeviceKey } from "../contract/credentials";
import { ApiError } from "../contract/errors";
import { IP_RATE_LIMIT, clientIp, holdToRate, rateLimited } from "../contract/rate-limits";
import { TIERS } from "../contract/tiers";
import { type KeyRole, findLiveKeyByHash } from "../db/repos/keys";
import { signingKey } from "../lib/config";
import { secretsEqual, sha256 } from "../lib/crypto";
import { deviceHub } from "../stubs/device-hub";
import { PERSON_RANK, type SessionCaller } from "../contract/people";
import { accessCaller, sessionCaller, sessionCookie } from "./session";
import { accessConfig } from "./oidc";

/** Whether `token` is the server admin token (never true when none is configured). */
const isAdminToken = async (env: Env, token: string) =>
  Boolean(env.ADMIN_TOKEN) && (await secretsEqual(token, env.ADMIN_TOKEN));

/**
 * A credential of another kind than the route wants: 403 when it is live (a known secret on
 * the wrong route), 401 when it is unknown or revoked, as for any other unknown secret.
 */
async function wrongKind(c: Context<AppEnv>, token: string, needs: string): Promise<ApiError> {
  let live: boolean;
  if (token.startsWith(`${ORG_KEY_PREFIX}_`))
    live = (await findLiveKeyByHash(c.var.db, await sha256(token))) !== undefined;
  else if (token.startsWith(`${DEVICE_KEY_PREFIX}_`)) {
    const device = await verifyDeviceKey(token, signingKey(c.env));
    live = device !== null && (await deviceHub(c.env, device.deviceId).holdsKey(await sha256(token)));
  } else live = await isAdminToken(c.env, token);
  return live
    ? new ApiError("forbidden", `this route needs ${needs}`)
    : new ApiError("unauthorized", "unknown or revoked credential");
}

export const serverAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearer(c.req.header("authorization"));
  if (!c.env.ADMIN_TOKEN) throw new ApiError("unauthorized", "the server has no ADMIN_TOKEN configured");
  if (!(await isAdminToken(c.env, token))) throw await wrongKind(c, token, "the server admin token");
  await next();
});

/** The server admin token, or else whatever `otherwise` accepts. Sets `serverAdmin`. */
export const serverAdminOr = (otherwise: MiddlewareHandler<AppEnv>) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (await isAdminToken(c.env, token)) {
      c.set("serverAdmin", true);
      return next();
    }
    return otherwise(c, next);
  });

/** A route that takes no credential (registration, the live tail's upgrade): limited per client IP, before any lookup. */
export const perClientIp = createMiddleware<AppEnv>(async (c, next) => {
  await holdToRate(c.env, IP_RATE_LIMIT, clientIp(c.req.header("cf-connecting-ip")), "address");
  await next();
});

/** What each key role may do includes what the roles after it may (docs/security.md). */
const RANK: Record<KeyRole, number> = { viewer: 0, operator: 1, admin: 2 };

/**
 * An org API key of role `needs` or above, or (with no Authorization header) a signed-in
 * person's session whose role in the org is; a lower role gets 403. `firstOrg`: a person of
 * several orgs who names none acts in the first (GET /me, which lists them all), instead of 400.
 */
export const orgKey = (needs: KeyRole, opts: { firstOrg?: boolean } = {}) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header("authorization");
    if (header === undefined) {
      // A person: Cloudflare Access's assertion (when configured), else a session cookie.
      const access = accessConfig(c.env);
      const assertion = access ? c.req.header("cf-access-jwt-assertion") : undefined;
      const session = sessionCookie(c);
      if (assertion !== undefined || session !== undefined) {
        const caller =
          assertion !== undefined
            ? await accessCaller(c, access!, assertion, opts.firstOrg === true)
            : await sessionCaller(c, session!, opts.firstOrg === true);
        await acceptPerson(c, caller, needs);
        return next();
      }
    }
    const token = bearer(header);
    if (!token.startsWith(`${ORG_KEY_PREFIX}_`)) throw await wrongKind(c, token, "an org API key");
    await acceptOrgKey(c, token, needs);
    await next();
  });

/** Makes a signed-in person the caller, in the org the request names (auth/session.ts). */
async function acceptPerson(c: Context<AppEnv>, caller: SessionCaller, needs: KeyRole): Promise<void> {
  const role = caller.person.role;
  if (PERSON_RANK[role] < PERSON_RANK[needs])
    throw new ApiError(
      "forbidden",
      `this needs the ${needs === "admin" ? "admin" : "operator or admin"} role in the org; yours is ${role}`,
    );
  // An owner acts as an admin wherever an admin may; what only owners may is checked by the route.
  c.set("org", { orgId: caller.org.id, keyId: caller.person.id, role: role === "owner" ? "admin" : role });
  c.set("person", caller);
  await holdToRate(c.env, TIERS[caller.org.tier].rate_limits.key, `session:${caller.person.sessionHash}`, "session");
}

/** Makes a live org key `token` the caller (sets `org` and `apiKey`): 401 when unknown or revoked, 403 for a key whose role is below `needs`. */
export async function acceptOrgKey(c: Context<AppEnv>, token: string, needs: KeyRole): Promise<void> {
  const key = await findLiveKeyByHash(c.var.db, await sha256(token));
  if (!key) throw new ApiError("unauthorized", "invalid API key");
  if (RANK[key.role] < RANK[needs])
    throw new ApiError(
      "forbidden",
      `this route needs an ${needs === "admin" ? "admin" : "operator or admin"} key; this key is ${key.role === "admin" ? "an" : "a"} ${key.role}`,
    );
  c.set("org", { orgId: key.orgId, keyId: key.id, role: key.role });
  c.set("apiKey", key);
  await holdToRate(c.env, TIERS[key.tier].rate_limits.key, key.id, "API key");
}

/** A device key the server issued (its signature holds), or the 401/403 for anything else. */
async function signedDeviceKey(c: Context<AppEnv>): Promise<{ deviceId: string; keyHash: string }> {
  const token = bearer(c.req.header("authorization"));
  const device = await verifyDeviceKey(token, signingKey(c.env));
  if (!device) {
    if (token.startsWith(`${DEVICE_KEY_PREFIX}_`)) throw new ApiError("unauthorized", "invalid device key");
    throw await wrongKind(c, token, "a device key");
  }
  return { deviceId: device.deviceId, keyHash: await sha256(token) };
}

export const revokedDeviceKey = () => new ApiError("unauthorized", "invalid or decommissioned device key");

/**
 * A device key, checked by the device's own Durable Object (no D1 read on the hot path), and
 * held to the device's rate limit by it. A key the server did not issue is refused here, before
 * any object is addressed.
 */
export const deviceAuth = deviceKeyAuth({ rateLimited: true });

/** deviceAuth without the rate limit, for a command's acknowledgement: it is never refused for rate. */
export const deviceAuthUnlimited = deviceKeyAuth({ rateLimited: false });

function deviceKeyAuth({ rateLimited: limits }: { rateLimited: boolean }) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const key = await signedDeviceKey(c);
    const hub = deviceHub(c.env, key.deviceId);
    const { identity, limited } = limits
      ? await hub.admit(key.keyHash)
      : { identity: await hub.authenticate(key.keyHash) };
    if (!identity) throw revokedDeviceKey();
    c.set("device", identity);
    if (limited) throw rateLimited(limited, "device");
    try {
      await next();
    } finally {
      // A request refused after authentication: the work that would have saved its counts did not run.
      if (c.error || c.res.status >= 400) await hub.keepCounts();
    }
  });
}
/**
 * A device key whose signature holds, left for the device's object to check in the same call
 * as the work (heartbeats and log batches: one request to the object instead of two). The
 * route sets `device` from the object's answer.
 */
export const signedDevice = createMiddleware<AppEnv>(async (c, next) => {
  c.set("deviceKey", await signedDeviceKey(c));
  await next();
});
