// Who may call a route. Each middleware resolves the bearer secret to a caller or answers
// 401 (unknown secret) / 403 (a known secret of the wrong kind or role).
// Each middleware declares the variables it sets (app-env.ts) and describes itself in
// openapi.json: its security scheme, `x-auth`, and the refusals it answers (http/describe.ts).
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv, DeviceEnv, OrgEnv, OrgVariables, SignedDeviceEnv } from "../app-env";
import { bearer, DEVICE_KEY_PREFIX, ORG_KEY_PREFIX, verifyDeviceKey } from "../contract/credentials";
import { ApiError } from "../contract/errors";
import { PERSON_RANK, type SessionCaller } from "../contract/people";
import { clientIp, holdToRate, IP_RATE_LIMIT, rateLimited } from "../contract/rate-limits";
import { TIERS } from "../contract/tiers";
import { findLiveKeyByHash, type KeyRole } from "../db/repos/keys";
import { type Auth, describes, example } from "../http/describe";
import { signingKey } from "../lib/config";
import { secretsEqual, sha256 } from "../lib/crypto";
import { deviceHub } from "../stubs/device-hub";
import { accessConfig } from "./oidc";
import { accessCaller, sessionCaller, sessionCookie } from "./session";

/** Whether `token` is the server admin token (never true when none is configured). */
const isAdminToken = async (env: Env, token: string) =>
  Boolean(env.ADMIN_TOKEN) && (await secretsEqual(token, env.ADMIN_TOKEN));

const unknownCredential = () => new ApiError("unauthorized", "unknown or revoked credential");
const needsKind = (needs: string) => new ApiError("forbidden", `this route needs ${needs}`);

/**
 * A credential of another kind than the route wants: 403 when it is live (a known secret on
 * the wrong route), 401 when it is unknown or revoked, as for any other unknown secret.
 */
async function wrongKind<E extends AppEnv>(c: Context<E>, token: string, needs: string): Promise<ApiError> {
  let live: boolean;
  if (token.startsWith(`${ORG_KEY_PREFIX}_`))
    live = (await findLiveKeyByHash(c.var.db, await sha256(token))) !== undefined;
  else if (token.startsWith(`${DEVICE_KEY_PREFIX}_`)) {
    const device = await verifyDeviceKey(token, signingKey(c.env));
    live = device !== null && (await deviceHub(c.env, device.deviceId).holdsKey(await sha256(token)));
  } else live = await isAdminToken(c.env, token);
  return live ? needsKind(needs) : unknownCredential();
}

/** What an auth middleware adds to each operation it guards: who may call, and how it refuses. */
const guards = (auth: Auth, security: Record<string, string[]>[], refusals: (() => ApiError)[]) => () => ({
  "x-auth": auth,
  security,
  "x-errors": refusals.map((r) => example(r())),
});

const noAdminToken = () => new ApiError("unauthorized", "the server has no ADMIN_TOKEN configured");

export const serverAdmin = describes(
  createMiddleware<AppEnv>(async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (!c.env.ADMIN_TOKEN) throw noAdminToken();
    if (!(await isAdminToken(c.env, token))) throw await wrongKind(c, token, "the server admin token");
    await next();
  }),
  guards("server admin", [{ adminToken: [] }], [unknownCredential, () => needsKind("the server admin token")]),
);

/**
 * A route that takes no credential (registration, the live tail's upgrade): limited per client IP, before any
 * lookup.
 */
export const perClientIp = describes(
  createMiddleware<AppEnv>(async (c, next) => {
    await holdToRate(c.env, IP_RATE_LIMIT, clientIp(c.req.header("cf-connecting-ip")), "address");
    await next();
  }),
  () => ({ "x-errors": [example(rateLimited(IP_RATE_LIMIT, "address"))] }),
);

/** What each key role may do includes what the roles after it may (docs/security.md). */
const RANK: Record<KeyRole, number> = { viewer: 0, operator: 1, admin: 2 };

/** An org key, or a signed-in person (a session cookie, or Cloudflare Access's assertion when configured). */
const ORG_CALLER: Record<string, string[]>[] = [{ orgKey: [] }, { session: [] }, { cloudflareAccess: [] }];

const invalidKey = () => new ApiError("unauthorized", "invalid API key");
const keyBelow = (needs: KeyRole, role: KeyRole) =>
  new ApiError(
    "forbidden",
    `this route needs an ${needs === "admin" ? "admin" : "operator or admin"} key; this key is ${role === "admin" ? "an" : "a"} ${role}`,
  );
/** How an org route refuses: an unknown key, another kind of credential, a role below `needs`, too many requests. */
const orgRefusals = (needs: KeyRole) => [
  invalidKey,
  () => needsKind("an org API key"),
  ...(needs === "viewer" ? [] : [() => keyBelow(needs, "viewer")]),
  () => rateLimited(TIERS.free.rate_limits.key, "API key"),
];

/** Who is calling, and the rate limit they are held to once they are known (and so recorded) as the caller. */
interface Caller extends OrgVariables {
  hold: () => Promise<void>;
}

/**
 * The caller of an org route: an org API key of role `needs` or above, or (with no
 * Authorization header) a signed-in person whose role in the org is; a lower role gets 403.
 * `firstOrg`: a person of several orgs who names none acts in the first (GET /me, which lists
 * them all), instead of 400.
 */
async function orgCaller<E extends AppEnv>(
  c: Context<E>,
  needs: KeyRole,
  opts: { firstOrg?: boolean },
): Promise<Caller> {
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
      return personCaller(c, caller, needs);
    }
  }
  const token = bearer(header);
  if (!token.startsWith(`${ORG_KEY_PREFIX}_`)) throw await wrongKind(c, token, "an org API key");
  return orgKeyCaller(c, token, needs);
}

/** An org key or signed-in person of role `needs` or above (sets `org`, and `apiKey` or `person`). */
export const orgKey = (needs: KeyRole, opts: { firstOrg?: boolean } = {}) =>
  describes(
    createMiddleware<OrgEnv>(async (c, next) => {
      const { org, apiKey, person, hold } = await orgCaller(c, needs, opts);
      c.set("org", org);
      c.set("apiKey", apiKey);
      c.set("person", person);
      await hold();
      await next();
    }),
    guards(needs, ORG_CALLER, orgRefusals(needs)),
  );

/**
 * The server admin token (sets `serverAdmin`), or else an org key or person of role `needs`
 * (sets `org`): a route behind it checks which it got.
 */
export const serverAdminOrOrgKey = (needs: KeyRole) =>
  describes(
    createMiddleware<AppEnv>(async (c, next) => {
      if (await isAdminToken(c.env, bearer(c.req.header("authorization")))) {
        c.set("serverAdmin", true);
        return next();
      }
      const { org, apiKey, person, hold } = await orgCaller(c, needs, {});
      c.set("org", org);
      c.set("apiKey", apiKey);
      c.set("person", person);
      await hold();
      await next();
    }),
    guards(
      needs === "viewer" ? "server admin or viewer" : needs,
      [{ adminToken: [] }, ...ORG_CALLER],
      orgRefusals(needs),
    ),
  );

/** A signed-in person as the caller, in the org the request names (auth/session.ts). */
async function personCaller<E extends AppEnv>(c: Context<E>, caller: SessionCaller, needs: KeyRole): Promise<Caller> {
  const role = caller.person.role;
  if (PERSON_RANK[role] < PERSON_RANK[needs])
    throw new ApiError(
      "forbidden",
      `this needs the ${needs === "admin" ? "admin" : "operator or admin"} role in the org; yours is ${role}`,
    );
  // An owner acts as an admin wherever an admin may; what only owners may is checked by the route.
  return {
    org: { orgId: caller.org.id, keyId: caller.person.id, role: role === "owner" ? "admin" : role },
    person: caller,
    hold: () =>
      holdToRate(c.env, TIERS[caller.org.tier].rate_limits.key, `session:${caller.person.sessionHash}`, "session"),
  };
}

/** A live org key `token` as the caller: 401 when unknown or revoked, 403 for a key whose role is below `needs`. */
async function orgKeyCaller<E extends AppEnv>(c: Context<E>, token: string, needs: KeyRole): Promise<Caller> {
  const key = await findLiveKeyByHash(c.var.db, await sha256(token));
  if (!key) throw invalidKey();
  if (RANK[key.role] < RANK[needs]) throw keyBelow(needs, key.role);
  return {
    org: { orgId: key.orgId, keyId: key.id, role: key.role },
    apiKey: key,
    hold: () => holdToRate(c.env, TIERS[key.tier].rate_limits.key, key.id, "API key"),
  };
}

/**
 * Makes a live org key `token` the caller (sets `org` and `apiKey`), as orgKey does for a key:
 * for a middleware of its own (the Loki API's), whose environment is then OrgEnv.
 */
export async function acceptOrgKey(c: Context<OrgEnv> | Context<AppEnv>, token: string, needs: KeyRole): Promise<void> {
  // One request object either way; AppEnv's (optional) variables are the ones set here.
  const ctx = c as Context<AppEnv>;
  const { org, apiKey, hold } = await orgKeyCaller(ctx, token, needs);
  ctx.set("org", org);
  ctx.set("apiKey", apiKey);
  await hold();
}

/** A device key the server issued (its signature holds), or the 401/403 for anything else. */
async function signedDeviceKey<E extends AppEnv>(c: Context<E>): Promise<{ deviceId: string; keyHash: string }> {
  const token = bearer(c.req.header("authorization"));
  const device = await verifyDeviceKey(token, signingKey(c.env));
  if (!device) {
    if (token.startsWith(`${DEVICE_KEY_PREFIX}_`)) throw new ApiError("unauthorized", "invalid device key");
    throw await wrongKind(c, token, "a device key");
  }
  return { deviceId: device.deviceId, keyHash: await sha256(token) };
}

export const revokedDeviceKey = () => new ApiError("unauthorized", "invalid or decommissioned device key");

const deviceGuard = guards(
  "device",
  [{ deviceKey: [] }],
  [revokedDeviceKey, () => needsKind("a device key"), () => rateLimited(TIERS.free.rate_limits.device, "device")],
);

/**
 * A device key, checked by the device's own Durable Object (no D1 read on the hot path), and
 * held to the device's rate limit by it. A key the server did not issue is refused here, before
 * any object is addressed.
 */
export const deviceAuth = deviceKeyAuth({ rateLimited: true });

/** deviceAuth without the rate limit, for a command's acknowledgement: it is never refused for rate. */
export const deviceAuthUnlimited = deviceKeyAuth({ rateLimited: false });

function deviceKeyAuth({ rateLimited: limits }: { rateLimited: boolean }) {
  return describes(
    createMiddleware<DeviceEnv>(async (c, next) => {
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
    }),
    deviceGuard,
  );
}
/**
 * A device key whose signature holds, left for the device's object to check in the same call
 * as the work (heartbeats and log batches: one request to the object instead of two). The
 * route sets `device` from the object's answer.
 */
export const signedDevice = describes(
  createMiddleware<SignedDeviceEnv>(async (c, next) => {
    c.set("deviceKey", await signedDeviceKey(c));
    await next();
  }),
  deviceGuard,
);
