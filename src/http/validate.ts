// zod at the edge: every body, query and path parameter passes a schema before a route sees it.
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env";
import { validator } from "hono/validator";
import { z } from "zod";
import { readJson } from "./body";
import { ApiError } from "../contract/errors";
import { parseOrThrow, pathOf } from "../contract/validation";

/** Bodies of control-plane requests are small; ingest sets its own, larger limits. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** Validates the JSON body; wrong media type, oversize and malformed bodies are answered before parsing. */
export function jsonBody<S extends z.ZodType>(schema: S, maxBytes = DEFAULT_BODY_LIMIT) {
  const check = validator("json", (value) => parseOrThrow(schema, value, "body") as z.output<S>);
  const guarded: MiddlewareHandler = async (c: Context, next) => {
    const parsed = await readJson(c.req.raw, maxBytes);
    c.set("jsonBody", parsed);
    // Hand the parsed value to Hono's validator through its body cache.
    c.req.bodyCache.json = Promise.resolve(parsed);
    return (await check(c, next)) as Response | void;
  };
  // Clients (the dashboard's typed client) send the schema's input: fields with defaults may be left out.
  return guarded as MiddlewareHandler<AppEnv, string, { in: { json: z.input<S> }; out: { json: z.output<S> } }>;
}

/**
 * What a client may send in a query string for schema S: each of its keys, optional (the
 * schema's defaults fill in), as text. This is the type the dashboard's typed client sees.
 */
type QueryInput<S extends z.ZodType> = { [K in keyof z.input<S>]?: string | string[] };

/** Validates the query string. Repeated keys arrive as arrays; single ones as strings. */
export const query = <S extends z.ZodType>(schema: S) =>
  validator("query", (value) => parseOrThrow(schema, value, "query") as z.output<S>) as MiddlewareHandler<
    AppEnv,
    string,
    { in: { query: QueryInput<S> }; out: { query: z.output<S> } }
  >;

/** Validates path parameters. An id that cannot exist names nothing: 404, like an unknown one. */
export const params = <S extends z.ZodType>(schema: S) =>
  validator("param", (value) => {
    const result = schema.safeParse(value);
    if (result.success) return result.data as z.output<S>;
    const [issue] = result.error.issues;
    throw new ApiError("not_found", `no such ${String(issue!.path[0] ?? "object").replace(/_id$/, "")}`, {
      location: "path",
      path: pathOf(issue!.path),
      message: issue!.message,
    });
  });
