// zod failures in the contract's shape: validation_failed with the location and path of each
// field, the same wherever the value came from (a body, a query, a socket frame).
import type { z } from "zod";
import { ApiError } from "./errors";

export type Location = "body" | "query" | "path";

export function pathOf(path: PropertyKey[]): string {
  return path.length === 0 ? "(root)" : path.map(String).join(".");
}

export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, location: Location): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ApiError(
    "validation_failed",
    `invalid ${location}: ${result.error.issues.map((i) => `${pathOf(i.path)}: ${i.message}`).join("; ")}`,
    result.error.issues.map((i) => ({ location, path: pathOf(i.path), message: i.message, code: i.code })),
  );
}
