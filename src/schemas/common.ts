// Field shapes reused by every payload schema.
import { z } from "zod";

export const name = z.string().trim().min(1).max(200);
export const label = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "letters, digits and . _ : - only, starting with a letter or digit");
export const dsn = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, "letters, digits and . _ : / - only, starting with a letter or digit");

/** An id made by lib/crypto newId: `<prefix>_` and 26 Crockford base-32 characters. */
export const idOf = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`), `not a ${prefix}_ id`);

/** Chosen by the device: a UUID, or another id of letters, digits and . _ : - */
export const sessionId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "a UUID, or letters, digits and . _ : -");

export const orgId = idOf("org");
export const projectId = idOf("prj");
export const keyId = idOf("key");
export const deviceId = idOf("dev");
export const commandId = idOf("cmd");

export const tier = z.enum(["free", "pro", "enterprise"]);
export const role = z.enum(["admin", "viewer"]);

/** A page size from the query string. */
export const limit = (max = 100, fallback = 50) => z.coerce.number().int().min(1).max(max).default(fallback);
export const cursor = z.string().max(512).optional();

/** A timestamp as ISO 8601 or as milliseconds since the epoch, from the query string. */
export const instant = z.union([
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
  z.coerce.number().int().nonnegative(),
]);

/** Any JSON value from a client, bounded by its serialised size. */
export const boundedJsonValue = (maxBytes: number) =>
  z.json().refine((v) => JSON.stringify(v).length <= maxBytes, `larger than ${maxBytes} bytes as JSON`);

/** Free-form JSON objects from clients are bounded by their serialised size. */
export const boundedJson = (maxBytes: number) =>
  z
    .record(z.string().max(128), z.unknown())
    .refine((v) => JSON.stringify(v).length <= maxBytes, `larger than ${maxBytes} bytes as JSON`);
