// zod at the edge: every body, query and path parameter passes a schema before a route sees it.
// Each validator also describes what it checks in openapi.json (http/describe.ts): the schema,
// and a refusal of it as a client would get it.
import type { Context, MiddlewareHandler } from "hono";
import { validator } from "hono/validator";
import type { z } from "zod";
import type { AppEnv, JsonBodyEnv } from "../app-env";
import { ApiError } from "../contract/errors";
import { parseOrThrow, pathOf } from "../contract/validation";
import { notJson, readJson, tooLarge } from "./body";
import { bodyRefusals, describes, example, jsonSchema, parametersOf, refusal, refusedBy } from "./describe";

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
    return (await check(c, next)) as Response | undefined;
  };
  // Clients (the dashboard's typed client) send the schema's input: fields with defaults may be left out.
  const typed = guarded as MiddlewareHandler<
    JsonBodyEnv,
    string,
    { in: { json: z.input<S> }; out: { json: z.output<S> } }
  >;
  return describes(typed, () => {
    return {
      // An empty body reads as {}: a body is needed only when {} is refused.
      requestBody: {
        required: !schema.safeParse({}).success,
        content: { "application/json": { schema: jsonSchema(schema) } },
      },
      "x-errors": [...bodyRefusals(schema), tooLarge(maxBytes), notJson("text/plain")].map(example),
    };
  });
}

/**
 * What a client may send in a query string for schema S: each of its keys, optional (the
 * schema's defaults fill in), as text. This is the type the dashboard's typed client sees.
 */
type QueryInput<S extends z.ZodType> = { [K in keyof z.input<S>]?: string | string[] };

/** Validates the query string. Repeated keys arrive as arrays; single ones as strings. */
export const query = <S extends z.ZodType>(schema: S) =>
  describes(
    validator("query", (value) => parseOrThrow(schema, value, "query") as z.output<S>) as MiddlewareHandler<
      AppEnv,
      string,
      { in: { query: QueryInput<S> }; out: { query: z.output<S> } }
    >,
    () => {
      const refused = refusal(schema, refusedBy(schema, "query"));
      return { parameters: parametersOf(schema, "query"), "x-errors": refused ? [example(refused)] : [] };
    },
  );

/** An id that cannot exist names nothing: 404, like an unknown one, with the field that failed. */
function pathRefusal(issue: z.core.$ZodIssue): ApiError {
  return new ApiError("not_found", `no such ${String(issue.path[0] ?? "object").replace(/_id$/, "")}`, {
    location: "path",
    path: pathOf(issue.path),
    message: issue.message,
  });
}

/** Validates path parameters. An id that cannot exist names nothing: 404, like an unknown one. */
export const params = <S extends z.ZodType>(schema: S) =>
  describes(
    validator("param", (value) => {
      const result = schema.safeParse(value);
      if (result.success) return result.data as z.output<S>;
      throw pathRefusal(result.error.issues[0]!);
    }),
    () => {
      // A path always has its ids: the example is one that cannot exist (too short, or too long).
      const refused = refusal(
        schema,
        (value) => {
          const result = schema.safeParse(value);
          return result.success ? undefined : pathRefusal(result.error.issues[0]!);
        },
        (fields) => fields.flatMap((f) => [{ [f]: "x" }, { [f]: "x".repeat(1000) }]),
      );
      return { parameters: parametersOf(schema, "path"), "x-errors": refused ? [example(refused)] : [] };
    },
  );
