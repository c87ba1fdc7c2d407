// Every credential arrives as `Authorization: Bearer <secret>`; its prefix says which kind it is.
import { isSignedFor, signedSecret } from "../lib/crypto";
import { ApiError } from "./errors";

export const ORG_KEY_PREFIX = "fbk";
export const DEVICE_KEY_PREFIX = "fbd";
export const REGISTRATION_TOKEN_PREFIX = "fbr";

export function bearer(header: string | undefined): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!match) throw new ApiError("unauthorized", "send Authorization: Bearer <key>");
  return match[1]!;
}

/**
 * A device key is `fbd_<device id>.<secret>`: the device's own object checks it, and the
 * secret carries a tag under the server's signing key, so a made-up device id is refused
 * before that object is addressed (it would otherwise build storage for nobody).
 */
export async function newDeviceKey(deviceId: string, signingKey: string): Promise<string> {
  return `${DEVICE_KEY_PREFIX}_${deviceId}.${await signedSecret(signingKey, `device:${deviceId}`)}`;
}

/** The device a key names, when the server issued a key for it; null for anything else. */
export async function verifyDeviceKey(key: string, signingKey: string): Promise<{ deviceId: string } | null> {
  const match = /^fbd_(dev_[0-9A-HJKMNP-TV-Z]{26})\.([0-9a-f]{64})$/.exec(key);
  if (!match || !(await isSignedFor(signingKey, `device:${match[1]}`, match[2]!))) return null;
  return { deviceId: match[1]! };
}
