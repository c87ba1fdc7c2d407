// GET /api/v1/openapi.json, generated from the app's routes: each route describes itself where
// it is defined (http/describe.ts), and hono-openapi gathers what its middleware and its own
// describeRoute say. Generated once per isolate, when first asked for, never at start-up.
import type { Hono } from "hono";
import { generateSpecs } from "hono-openapi";
import type { AppEnv } from "../app-env";
import { ApiError, ErrorBody } from "../contract/errors";
import { SESSION } from "../contract/people";
import { VERSION } from "../contract/version";
import { type ErrorExample, example, jsonSchema, type RouteDoc } from "./describe";

/** The API's own prefix: paths under it are written relative to the server URL, which names it. */
const API = "/api/v1";

const STATUS_TEXT: Record<number, string> = {
  400: "The request is malformed or a field fails validation (details name each field)",
  401: "No credential, or an unknown, revoked or expired one",
  403: "A live credential of another kind, or a role below the route's",
  404: "Nothing of the caller's by that id",
  409: "Conflicts with the current state",
  410: "Gone",
  413: "The body is larger than the route takes",
  415: "The body is not of a media type the route takes",
  429: "Over a rate limit (retry after Retry-After seconds) or a quota",
  500: "The server failed; nothing the request could change",
  503: "The server could not do it now; retry after Retry-After seconds",
};

type Operation = Record<string, unknown> & {
  "x-errors"?: ErrorExample[];
  "x-errors-as"?: RouteDoc["errorsAs"];
  responses?: Record<string, unknown>;
};
type Document = Awaited<ReturnType<typeof generateSpecs>>;

/**
 * Each operation's error examples (`x-errors`, gathered from its parts) as its error responses,
 * one example per refusal: in the contract's ErrorBody, or as the route itself answers errors
 * (`x-errors-as`: OTLP's Status, with the status it gives).
 */
async function withErrorResponses(op: Operation): Promise<Operation> {
  const { "x-errors": refusals = [], "x-errors-as": as, ...rest } = op;
  // Any route may fail inside: the contract's 500 (a route with answers of its own says so itself).
  const errors = as ? refusals : [...refusals, example(new ApiError("internal", "internal error"))];
  const byStatus = new Map<number, Record<string, { summary: string; value: unknown }>>();
  for (const e of errors) {
    const { code, message, details } = e.value.error;
    const { status, value } = as ? await as.answer(new ApiError(code, message, details)) : e;
    const examples = byStatus.get(status) ?? {};
    if (Object.values(examples).some((x) => x.summary === message)) continue;
    let name: string = code;
    for (let n = 2; name in examples; n++) name = `${code}_${n}`;
    examples[name] = { summary: message, value };
    byStatus.set(status, examples);
  }
  const schema = as?.schema ?? { $ref: "#/components/schemas/ErrorBody" };
  const responses: Record<string, unknown> = { ...rest.responses };
  for (const [status, examples] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      description: STATUS_TEXT[status] ?? "An error",
      content: { "application/json": { schema, examples } },
    };
  }
  return { ...rest, responses };
}

type Example = { summary: string; value: unknown };

const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");

/**
 * Examples that several operations give (the same refusal of an auth middleware or of a body
 * reader) are written once, under components.examples, and referenced where they apply, with
 * their summary beside the reference for readers that do not follow it.
 */
function shareExamples(paths: Record<string, Record<string, unknown>>): Record<string, Example> {
  const lists: Record<string, Example>[] = [];
  for (const item of Object.values(paths))
    for (const op of Object.values(item) as Operation[])
      for (const response of Object.values(op.responses ?? {}) as {
        content?: Record<string, { examples?: Record<string, Example> }>;
      }[])
        for (const media of Object.values(response.content ?? {})) if (media.examples) lists.push(media.examples);
  const uses = new Map<string, number>();
  for (const list of lists)
    for (const e of Object.values(list)) uses.set(JSON.stringify(e), (uses.get(JSON.stringify(e)) ?? 0) + 1);
  const shared: Record<string, Example> = {};
  const names = new Map<string, string>();
  for (const list of lists) {
    for (const [key, e] of Object.entries(list)) {
      const text = JSON.stringify(e);
      if ((uses.get(text) ?? 0) < 2) continue;
      let name = names.get(text);
      if (!name) {
        const base = slug(e.summary).slice(0, 60);
        name = base;
        for (let n = 2; name in shared; n++) name = `${base}-${n}`;
        shared[name] = e;
        names.set(text, name);
      }
      (list as Record<string, unknown>)[key] = { $ref: `#/components/examples/${name}`, summary: e.summary };
    }
  }
  return shared;
}

/**
 * Error answers several operations give whole (an auth middleware's 401, a body reader's 413)
 * are written once, under components.responses, and referenced where they apply.
 */
function shareResponses(paths: Record<string, Record<string, unknown>>): Record<string, unknown> {
  const all = Object.values(paths).flatMap((item) =>
    (Object.values(item) as Operation[]).flatMap((op) =>
      Object.keys(op.responses ?? {})
        .filter((status) => /^[45]/.test(status))
        .map((status) => ({ responses: op.responses!, status, text: JSON.stringify(op.responses![status]) })),
    ),
  );
  const uses = new Map<string, number>();
  for (const r of all) uses.set(r.text, (uses.get(r.text) ?? 0) + 1);
  const shared: Record<string, unknown> = {};
  const names = new Map<string, string>();
  for (const r of all) {
    if ((uses.get(r.text) ?? 0) < 2) continue;
    let name = names.get(r.text);
    if (!name) {
      // Named by its status and its first example: 401-invalid-api-key.
      const first = Object.values(
        (r.responses[r.status] as { content: Record<string, { examples: Record<string, Example> }> }).content[
          "application/json"
        ]?.examples ?? {},
      )[0];
      const base = `${r.status}-${slug(first?.summary ?? "error").slice(0, 40)}`;
      name = base;
      for (let n = 2; name in shared; n++) name = `${base}-${n}`;
      shared[name] = r.responses[r.status];
      names.set(r.text, name);
    }
    r.responses[r.status] = { $ref: `#/components/responses/${name}` };
  }
  return shared;
}

const METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);

/** The document without its servers, which depend on the URL it is asked at; and the paths outside /api/v1. */
async function generate(app: Hono<AppEnv>): Promise<{ doc: Document; outside: Set<string> }> {
  const doc = await generateSpecs(app, {
    documentation: {
      info: {
        title: "fleetbeat",
        version: VERSION,
        description:
          "Fleet telemetry on Cloudflare's edge. The contract is docs/api.md; additions are in docs/api-notes.md. " +
          "OTLP/HTTP logs are at /v1/logs, outside /api/v1. Grafana's Loki API (/loki/api/v1) is Loki's own " +
          "and is not described here: docs/grafana.md.",
      },
      components: {
        schemas: { ErrorBody: jsonSchema(ErrorBody) },
        securitySchemes: {
          orgKey: {
            type: "http",
            scheme: "bearer",
            description: "An org API key (fbk_…); each route names the role it needs.",
          },
          deviceKey: { type: "http", scheme: "bearer", description: "A device key (fbd_…), from registration." },
          adminToken: { type: "http", scheme: "bearer", description: "The server admin token (ADMIN_TOKEN)." },
          session: {
            type: "apiKey",
            in: "cookie",
            name: SESSION.cookie,
            description: "A signed-in person's session (GET /auth/login); mutations must come from this site.",
          },
          cloudflareAccess: {
            type: "apiKey",
            in: "header",
            name: "Cf-Access-Jwt-Assertion",
            description: "Cloudflare Access's assertion, when the server is configured for Access.",
          },
          tailTicket: {
            type: "apiKey",
            in: "query",
            name: "ticket",
            description: "A single-use live-tail ticket (POST /logs/stream/ticket).",
          },
        },
      },
    },
    // openapi.json itself ends in ".json": it is a route, not a static file.
    excludeStaticFile: false,
    exclude: [/^\/loki\//],
    // Each validator says how it refuses (http/validate.ts); no generic 400.
    defaultValidationErrorResponse: false,
  });
  const paths: Record<string, Record<string, unknown>> = {};
  const outside = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    const ops = await Promise.all(
      Object.entries(item as Record<string, Operation>).map(async ([m, op]) => [
        m,
        METHODS.has(m) ? await withErrorResponses(op) : op,
      ]),
    );
    const inApi = path.startsWith(`${API}/`);
    if (!inApi) outside.add(path);
    paths[inApi ? path.slice(API.length) : path] = Object.fromEntries(ops);
  }
  const examples = shareExamples(paths);
  const responses = shareResponses(paths);
  return { doc: { ...doc, paths, components: { ...doc.components, examples, responses } } as Document, outside };
}

let generated: ReturnType<typeof generate> | undefined;

/**
 * The API's description as served at `origin`: /api/v1 is the server; a path outside it (OTLP's /v1/logs)
 * names the origin itself.
 */
export async function openApiDocument(app: Hono<AppEnv>, origin: string) {
  generated ??= generate(app).catch((err) => {
    generated = undefined;
    throw err;
  });
  const { doc, outside } = await generated;
  const paths = Object.fromEntries(
    Object.entries(doc.paths).map(([path, item]) => [
      path,
      outside.has(path) ? { servers: [{ url: origin }], ...item } : item,
    ]),
  );
  return { ...doc, servers: [{ url: `${origin}${API}` }], paths };
}
