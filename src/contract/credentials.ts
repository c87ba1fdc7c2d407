// Every credential arrives as `Authorization: Bearer <secret>`; its prefix says which kind it is.
import { ApiError } from "./errors";

export const ORG_KEY_PREFIX = "fbk";
export const DEVICE_KEY_PREFIX = "fbd";
export const REGISTRATION_TOKEN_PREFIX = "fbr";

export function bearer(header: string | undefined): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!match) throw new ApiError("unauthorized", "send Authorization: Bearer <key>");
  return match[1]!;
}

/** A device key is `fbd_<device id>.<secret>`, so it is checked by the device's own object. */
export function deviceKey(deviceId: string, secret: string): string {
  return `${DEVICE_KEY_PREFIX}_${deviceId}.${secret}`;
}

export function parseDeviceKey(key: string): { deviceId: string } | null {
  const match = /^fbd_(dev_[0-9A-HJKMNP-TV-Z]{26})\.[0-9a-f]{64}$/.exec(key);
  return match ? { deviceId: match[1]! } : null;
}
