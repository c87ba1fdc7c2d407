// Turning a one-time registration token into a device and its key.
import { and, eq, isNull } from "drizzle-orm";
import type { z } from "zod";
import { REGISTRATION_TOKEN_PREFIX, deviceKey } from "../contract/credentials";
import type { Db } from "../db/client";
import { devices, registrationTokens } from "../db/schema";
import { ApiError, invalidField } from "../contract/errors";
import { newId, randomHex, sha256 } from "../lib/crypto";
import { LOG_UPLOAD } from "../contract/limits";
import { heartbeatIntervalMs } from "../lib/config";
import type { Register } from "../contract/fleet";
import { deviceHub } from "../stubs/device-hub";

export async function registerDevice(env: Env, db: Db, body: z.output<typeof Register>) {
  const token = await findToken(db, body.registration_token);
  if (token.dsn !== null && token.dsn !== body.dsn) {
    throw invalidField("body", "dsn", `this token was issued for DSN ${token.dsn}`, "dsn_mismatch");
  }

  const now = Date.now();
  // Consume first, atomically: of two racing registrations exactly one gets past here.
  const consumed = await db
    .update(registrationTokens)
    .set({ usedAt: now })
    .where(and(eq(registrationTokens.id, token.id), isNull(registrationTokens.usedAt)))
    .returning({ id: registrationTokens.id });
  if (consumed.length === 0) throw new ApiError("conflict", "registration token was already used");

  try {
    const interval = heartbeatIntervalMs(env);
    const fields = {
      deviceType: body.device_type ?? token.deviceType,
      environment: body.environment ?? token.environment,
      heartbeatIntervalMs: interval,
      decommissionedAt: null,
    };
    // A name or device_info given now replaces the old one; otherwise an operator's rename stays.
    const named = body.name ?? token.name;
    const given = { ...(named ? { name: named } : {}), ...(body.device_info ? { deviceInfo: body.device_info } : {}) };
    // The same DSN in the same project is the same device: it keeps its id and history.
    const [device] = await db
      .insert(devices)
      .values({
        id: newId("dev", now),
        orgId: token.orgId,
        projectId: token.projectId,
        dsn: body.dsn,
        status: "offline",
        registeredAt: now,
        name: named ?? body.dsn,
        deviceInfo: body.device_info ?? null,
        ...fields,
      })
      .onConflictDoUpdate({ target: [devices.projectId, devices.dsn], set: { ...fields, ...given } })
      .returning();
    const key = deviceKey(device!.id, randomHex());
    await deviceHub(env, device!.id).provision({
      deviceId: device!.id,
      orgId: device!.orgId,
      projectId: device!.projectId,
      keyHash: await sha256(key),
      heartbeatIntervalMs: interval,
    });
    await db.update(registrationTokens).set({ deviceId: device!.id }).where(eq(registrationTokens.id, token.id));
    return {
      device_id: device!.id,
      device_key: key,
      project_id: device!.projectId,
      heartbeat_interval_ms: interval,
      log_upload: LOG_UPLOAD,
    };
  } catch (err) {
    // Nothing usable was handed out: give the token back so the device can retry.
    await db.update(registrationTokens).set({ usedAt: null }).where(eq(registrationTokens.id, token.id));
    throw err;
  }
}

async function findToken(db: Db, token: string) {
  const row = token.startsWith(`${REGISTRATION_TOKEN_PREFIX}_`)
    ? await db.query.registrationTokens.findFirst({ where: eq(registrationTokens.tokenHash, await sha256(token)) })
    : undefined;
  if (!row) throw new ApiError("unauthorized", "unknown registration token");
  if (row.usedAt !== null) throw new ApiError("conflict", "registration token was already used");
  if (row.expiresAt <= Date.now()) throw new ApiError("gone", "registration token has expired");
  return row;
}
