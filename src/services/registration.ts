// Registration tokens: minted with a capsule, turned once into a device and its key.
import type { z } from "zod";
import { newDeviceKey, REGISTRATION_TOKEN_PREFIX } from "../contract/credentials";
import { ApiError, invalidField } from "../contract/errors";
import type { GenerateCapsule, Register } from "../contract/fleet";
import { LOG_UPLOAD } from "../contract/limits";
import { TIERS } from "../contract/tiers";
import type { Db } from "../db/client";
import { registerWithToken } from "../db/repos/devices";
import { findTokenByHash, insertToken, releaseToken } from "../db/repos/tokens";
import { heartbeatIntervalMs, signingKey } from "../lib/config";
import { newSecret, sha256 } from "../lib/crypto";
import { deviceHub } from "../stubs/device-hub";
import { insertWithinLimit, tierOf } from "./quotas";

/** A one-time token for a device of the project; the secret is returned once and stored as a hash. */
export async function issueToken(db: Db, orgId: string, projectId: string, body: z.output<typeof GenerateCapsule>) {
  const secret = newSecret(REGISTRATION_TOKEN_PREFIX);
  const token = await insertToken(db, {
    orgId,
    projectId,
    tokenHash: await sha256(secret),
    deviceType: body.device_type,
    environment: body.environment,
    name: body.name ?? null,
    dsn: body.dsn ?? null,
    expiresAt: Date.now() + body.expires_in_s * 1000,
  });
  return { secret, expiresAt: token.expiresAt };
}

export async function registerDevice(env: Env, db: Db, body: z.output<typeof Register>) {
  const token = await findToken(db, body.registration_token);
  if (token.dsn !== null && token.dsn !== body.dsn) {
    throw invalidField("body", "dsn", `this token was issued for DSN ${token.dsn}`, "dsn_mismatch");
  }

  const interval = heartbeatIntervalMs(env);
  const registration = {
    orgId: token.orgId,
    projectId: token.projectId,
    dsn: body.dsn,
    deviceType: body.device_type ?? token.deviceType,
    environment: body.environment ?? token.environment,
    heartbeatIntervalMs: interval,
    name: body.name ?? token.name ?? undefined,
    deviceInfo: body.device_info,
  };
  // The token is taken and the device stored together, or neither: of two racing registrations
  // with one token exactly one gets a device, and one refused for the org's devices limit leaves
  // the token unused. A device already registered and live is never refused.
  const device = await insertWithinLimit(db, token.orgId, "devices", async (max) => {
    const registered = await registerWithToken(db, token.id, registration, max);
    if (registered.tokenTaken) throw new ApiError("conflict", "registration token was already used");
    return registered;
  });

  try {
    const key = await newDeviceKey(device.id, signingKey(env));
    const tier = await tierOf(db, device.orgId);
    await deviceHub(env, device.id).provision({
      deviceId: device.id,
      orgId: device.orgId,
      projectId: device.projectId,
      deviceType: device.deviceType ?? null,
      keyHash: await sha256(key),
      heartbeatIntervalMs: interval,
      hotWindowDays: TIERS[tier].hot_retention_days,
      tier,
    });
    return {
      answer: {
        device_id: device.id,
        device_key: key,
        project_id: device.projectId,
        heartbeat_interval_ms: interval,
        log_upload: LOG_UPLOAD,
      },
      device,
    };
  } catch (err) {
    // Nothing usable was handed out: give the token back so the device can retry.
    await releaseToken(db, token.id);
    throw err;
  }
}

async function findToken(db: Db, token: string) {
  const row = token.startsWith(`${REGISTRATION_TOKEN_PREFIX}_`)
    ? await findTokenByHash(db, await sha256(token))
    : undefined;
  if (!row) throw new ApiError("unauthorized", "unknown registration token");
  if (row.usedAt !== null) throw new ApiError("conflict", "registration token was already used");
  if (row.expiresAt <= Date.now()) throw new ApiError("gone", "registration token has expired");
  return row;
}
