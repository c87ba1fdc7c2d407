// How a route describes itself in GET /api/v1/openapi.json (src/http/openapi.ts). Each part of a
// route adds what it knows: its auth middleware the security scheme and the refusals it answers,
// a validator the parameters or body it checks and a real refusal of its schema, and the route's
// own describeRoute() its summary, answers and errors. hono-openapi gathers them from the app's
// routes. Nothing here runs until the document is first asked for: each part is a getter.
import { type DescribeRouteOptions, describeRoute, uniqueSymbol } from "hono-openapi";
import type { OpenAPIV3_1 } from "openapi-types";
import { z } from "zod";
import { ApiError, errorBody } from "../contract/errors";
import { type LimitName, TIERS } from "../contract/tiers";
import { type Location, parseOrThrow } from "../contract/validation";
import { quotaExceeded } from "../services/quotas";
import { malformedJson } from "./body";

/** One error answer, as the code raises it. openapi.ts turns these into each status's examples. */
export interface ErrorExample {
  status: number;
  value: ReturnType<typeof errorBody>;
}

export const example = (err: ApiError): ErrorExample => ({
  status: err.status,
  value: errorBody(err.code, err.message, err.details),
});

/** The 429 of a creation past the tier's limit of `limit`, as for an org on the free tier. */
export const atLimit = (limit: LimitName) => () => {
  const max = TIERS.free.limits[limit];
  return quotaExceeded(limit, max, max, null, "free");
};

/** Who may call a route, in the words of `x-auth` (docs/api-notes.md). */
export type Auth =
  | "none"
  | "server admin"
  | "server admin or viewer"
  | "viewer"
  | "operator"
  | "admin"
  | "device"
  | "ticket"
  | "session";

/** What a part of a route adds to its operation. Arrays add up across parts; `x-errors` becomes `responses`. */
export type OperationPart = Omit<DescribeRouteOptions, "parameters"> & {
  parameters?: object[];
  "x-auth"?: Auth;
  "x-errors"?: ErrorExample[];
};

/** Marks middleware `mw` as adding `part()` to the operation of every route it is used in. */
export function describes<M extends object>(mw: M, part: () => OperationPart): M {
  return Object.assign(mw, {
    [uniqueSymbol]: {
      get spec() {
        return part();
      },
    },
  });
}

/** A zod schema as JSON Schema: what a client sends (defaults may be left out). */
export const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as OpenAPIV3_1.SchemaObject;

/** The path or query parameters of an object schema. */
export function parametersOf(schema: z.ZodType, where: "path" | "query"): object[] {
  const s = jsonSchema(schema);
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: where,
    required: where === "path" || (s.required ?? []).includes(name),
    schema: prop,
  }));
}

/** What a route answers when it succeeds, by status. */
type Answers = Partial<Record<101 | 200 | 201 | 204 | 206 | 302, string>>;

export interface RouteDoc {
  summary: string;
  /** More than the summary says: behaviour worth knowing, an example request. */
  description?: string;
  /** Success answers by status (default: 200 with a JSON body). */
  answers?: Answers;
  /** The success answer's media type, when it is not JSON (a file, a stream, text). */
  media?: string;
  /** Routes with no auth middleware say who may call them here. */
  auth?: "none" | "ticket" | "session";
  /** Query parameters the route reads itself (not through query), for its description. */
  query?: z.ZodType;
  /** A JSON body the route reads itself (not through jsonBody), for its description. */
  body?: z.ZodType;
  /**
   * Errors in another shape than the contract's (OTLP's Status): its schema, and each refusal as the route
   * answers it.
   */
  errorsAs?: { schema: object; answer: (err: ApiError) => Promise<{ status: number; value: unknown }> };
  /** Refusals the route itself makes, beyond its auth and validators, built as the code builds them. */
  errors?: (() => ApiError)[];
}

const SECURITY_OF = { none: [], ticket: [{ tailTicket: [] }], session: [{ session: [] }] };

/**
 * A real refusal of `schema`, as the validator answers it: the first of a few wrong values that
 * it refuses (nothing, then each field as a control character, then as a list).
 */
export function refusal(
  schema: z.ZodType,
  refuse: (value: unknown) => ApiError | undefined,
  tries = (fields: string[]) => [
    {},
    ...fields.map((f) => ({ [f]: "\u0000" })),
    ...fields.map((f) => ({ [f]: ["a", "b"] })),
  ],
): ApiError | undefined {
  for (const value of tries(Object.keys(jsonSchema(schema).properties ?? {}))) {
    const refused = refuse(value);
    if (refused) return refused;
  }
  return undefined;
}

export const refusedBy = (schema: z.ZodType, location: Location) => (value: unknown) => {
  try {
    parseOrThrow(schema, value, location);
    return undefined;
  } catch (err) {
    return err instanceof ApiError ? err : undefined;
  }
};

/** How a JSON body is refused: a real refusal of its schema, and malformed JSON. */
export function bodyRefusals(schema: z.ZodType): ApiError[] {
  const refused = refusal(schema, refusedBy(schema, "body"));
  let syntax = new Error("malformed");
  try {
    JSON.parse("{");
  } catch (err) {
    syntax = err as Error;
  }
  return [...(refused ? [refused] : []), malformedJson(syntax)];
}

/** The describeRoute of the routes of one group (`tag`: their heading at /docs). */
export const describer =
  (tag: string) =>
  ({
    summary,
    description,
    answers = { 200: "OK" },
    media = "application/json",
    auth,
    query,
    body,
    errorsAs,
    errors = [],
  }: RouteDoc) =>
    describeRoute({
      tags: [tag],
      summary,
      ...(description ? { description } : {}),
      responses: Object.fromEntries(
        Object.entries(answers).map(([status, text]) => [
          status,
          status === "204" || status === "302" || status === "101"
            ? { description: text }
            : { description: text, content: { [media]: {} } },
        ]),
      ),
      ...(auth ? { "x-auth": auth, security: SECURITY_OF[auth] } : {}),
      ...(errorsAs ? { "x-errors-as": errorsAs } : {}),
      get parameters() {
        return query && parametersOf(query, "query");
      },
      get requestBody() {
        return body && { required: true, content: { "application/json": { schema: jsonSchema(body) } } };
      },
      // Built when the document is: each factory is the one the route throws with.
      get "x-errors"() {
        return [...(body ? bodyRefusals(body) : []), ...errors.map((e) => e())].map(example);
      },
    } as DescribeRouteOptions);
