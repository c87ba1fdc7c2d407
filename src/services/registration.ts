// Registration tokens: minted with a capsule, turned once into a device and its key.
import type { z } from "zod";
import { REGISTRATION_TOKEN_PREFIX, newDeviceKey } from "../contract/credentials";
import type { Db } from "../db/client";
import { countLiveDevicesOfOrg, deleteDeviceRow, dsnState, markDecommissioned, upsertRegisteredDevice } from "../db/repos/devices";
import { consumeToken, findTokenByHash, insertToken, recordTokenDevice, releaseToken } from "../db/repos/tokens";
import { ApiError, invalidField } from "../contract/errors";
import { newSecret, sha256 } from "../lib/crypto";
import { LOG_UPLOAD } from "../contract/limits";
import { heartbeatIntervalMs, signingKey } from "../lib/config";
import type { GenerateCapsule, Register } from "../contract/fleet";
import { deviceHub } from "../stubs/device-hub";
import { TIERS } from "../contract/tiers";
import { findOrg } from "../db/repos/orgs";
import { createWithinLimit } from "./quotas";

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

  // Consume first, atomically: of two racing registrations exactly one gets past here.
  if (!(await consumeToken(db, token.id, Date.now()))) throw new ApiError("conflict", "registration token was already used");

  try {
    const interval = heartbeatIntervalMs(env);
    // The same DSN in the same project is the same device: it keeps its id and history.
    const upsert = () =>
      upsertRegisteredDevice(db, {
        orgId: token.orgId,
        projectId: token.projectId,
        dsn: body.dsn,
        deviceType: body.device_type ?? token.deviceType,
        environment: body.environment ?? token.environment,
        heartbeatIntervalMs: interval,
        name: body.name ?? token.name ?? undefined,
        deviceInfo: body.device_info,
      });
    // A device already registered and live is never blocked; a new one (or one coming back
    // from decommissioning) counts against the tier's devices.
    const before = await dsnState(db, token.projectId, body.dsn);
    const device =
      before === "live"
        ? await upsert()
        : await createWithinLimit(db, token.orgId, "devices", {
            count: () => countLiveDevicesOfOrg(db, token.orgId),
            create: upsert,
            undo: (d) => (before === "absent" ? deleteDeviceRow(db, d.id) : markDecommissioned(db, d.id, Date.now())),
          });
    const key = await newDeviceKey(device.id, signingKey(env));
    await deviceHub(env, device.id).provision({
      deviceId: device.id,
      orgId: device.orgId,
      projectId: device.projectId,
      deviceType: device.deviceType ?? null,
      keyHash: await sha256(key),
      heartbeatIntervalMs: interval,
      hotWindowDays: TIERS[(await findOrg(db, device.orgId))?.tier ?? "free"].hot_retention_days,
    });
    await recordTokenDevice(db, token.id, device.id);
    return {
      device_id: device.id,
      device_key: key,
      project_id: device.projectId,
      heartbeat_interval_ms: interval,
      log_upload: LOG_UPLOAD,
    };
  } catch (err) {
    // Nothing usable was handed out: give the token back so the device can retry.
    await releaseToken(db, token.id);
    throw err;
  }
}

async function findToken(db: Db, token: string) {
  const row = token.startsWith(`${REGISTRATION_TOKEN_PREFIX}_`) ? await findTokenByHash(db, await sha256(token)) : undefined;
  if (!row) throw new ApiError("unauthorized", "unknown registration token");
  if (row.usedAt !== null) throw new ApiError("conflict", "registration token was already used");
  if (row.expiresAt <= Date.now()) throw new ApiError("gone", "registration token has expired");
  return row;
}
