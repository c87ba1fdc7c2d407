// Who may call a route. Each middleware resolves the bearer secret to a caller or answers
// 401 (unknown secret) / 403 (a known secret of the wrong kind or role).
import type { MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { findLiveKeyByHash } from "../db/repos/keys";
import { ApiError } from "../contract/errors";
import { secretsEqual, sha256 } from "../lib/crypto";
import { deviceHub } from "../stubs/device-hub";
import { DEVICE_KEY_PREFIX, ORG_KEY_PREFIX, bearer, parseDeviceKey } from "../contract/credentials";

/** Whether `token` is the server admin token (never true when none is configured). */
const isAdminToken = async (env: Env, token: string) => Boolean(env.ADMIN_TOKEN) && (await secretsEqual(token, env.ADMIN_TOKEN));

export const serverAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearer(c.req.header("authorization"));
  if (!c.env.ADMIN_TOKEN) throw new ApiError("unauthorized", "the server has no ADMIN_TOKEN configured");
  if (!(await isAdminToken(c.env, token))) {
    if (token.startsWith(`${ORG_KEY_PREFIX}_`) || token.startsWith(`${DEVICE_KEY_PREFIX}_`)) {
      throw new ApiError("forbidden", "this route needs the server admin token");
    }
    throw new ApiError("unauthorized", "invalid admin token");
  }
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

/** An org API key; `admin` routes refuse viewer keys with 403. */
export const orgKey = (needs: "viewer" | "admin") =>
  createMiddleware<AppEnv>(async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (!token.startsWith(`${ORG_KEY_PREFIX}_`)) {
      const known = token.startsWith(`${DEVICE_KEY_PREFIX}_`) || (await isAdminToken(c.env, token));
      if (known) throw new ApiError("forbidden", "this route needs an org API key");
      throw new ApiError("unauthorized", "invalid API key");
    }
    const key = await findLiveKeyByHash(c.var.db, await sha256(token));
    if (!key) throw new ApiError("unauthorized", "invalid API key");
    if (needs === "admin" && key.role !== "admin") throw new ApiError("forbidden", "this key is read-only (viewer)");
    c.set("org", { orgId: key.orgId, keyId: key.id, role: key.role });
    await next();
  });

/** A device key, checked by the device's own Durable Object (no D1 read on the hot path). */
export const deviceAuth = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearer(c.req.header("authorization"));
  const parsed = parseDeviceKey(token);
  if (!parsed) {
    if (token.startsWith(`${ORG_KEY_PREFIX}_`)) throw new ApiError("forbidden", "this route needs a device key");
    throw new ApiError("unauthorized", "invalid device key");
  }
  const identity = await deviceHub(c.env, parsed.deviceId).authenticate(await sha256(token));
  if (!identity) throw new ApiError("unauthorized", "invalid or decommissioned device key");
  c.set("device", identity);
  await next();
});
