import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { ErrorBody } from "../../src/contract/errors";

it("answers health with ok and the version", async () => {
  const res = await exports.default.fetch("http://fleetbeat.test/api/v1/health");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ok: true, version: expect.any(String), sign_in: true });
});

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
const AUTH = [
  "none",
  "server admin",
  "server admin or viewer",
  "viewer",
  "operator",
  "admin",
  "device",
  "ticket",
  "session",
];

interface Operation {
  operationId: string;
  tags: string[];
  summary: string;
  "x-auth": string;
  security: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean; schema: object }[];
  requestBody?: { content: Record<string, { schema: any }> };
  responses: Record<string, { description: string; content?: Record<string, { schema?: any; examples?: any }> }>;
}

async function openApi() {
  const res = await exports.default.fetch("http://fleetbeat.test/api/v1/openapi.json");
  expect(res.status).toBe(200);
  return res.json<any>();
}

const operations = (doc: any) =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item as Record<string, Operation>)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ path, method, op })),
  );

/** Follows a local $ref (#/components/…) inside the document. */
function resolve(doc: any, ref: string): unknown {
  return ref
    .slice(2)
    .split("/")
    .reduce((at, key) => at?.[key.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
}

/** Every example of an operation's error answers, with its status, refs followed. */
function errorExamples(doc: any, op: Operation) {
  return Object.entries(op.responses)
    .filter(([status]) => /^[45]/.test(status))
    .flatMap(([status, ref]) => {
      const r = ("$ref" in ref ? resolve(doc, ref.$ref as string) : ref) as Operation["responses"][string];
      return Object.values(r.content?.["application/json"]?.examples ?? {}).map((e: any) => ({
        status: Number(status),
        summary: e.summary as string,
        value: ("$ref" in e ? (resolve(doc, e.$ref) as any).value : e.value) as any,
      }));
    });
}

describe("openapi.json, generated from the routes", () => {
  it("describes every route the app serves under /api/v1 and /v1, and no other", async () => {
    const doc = await openApi();
    const served = app.routes
      .filter((r) => (r.path.startsWith("/api/v1/") || r.path.startsWith("/v1/")) && r.method !== "ALL")
      .map(
        (r) =>
          `${r.method.toLowerCase()} ${r.path.replace(/^\/api\/v1(?=\/)/, "").replace(/:(\w+)(\{[^}]*\})?/g, "{$1}")}`,
      );
    const described = operations(doc).map(({ method, path }) => `${method} ${path}`);
    expect(new Set(described)).toEqual(new Set(served));
    expect(described.length).toBe(new Set(described).size);
    // OTLP's fixed path is at the site's root: its own server says so.
    expect(doc.paths["/v1/logs"].servers).toEqual([{ url: "http://fleetbeat.test" }]);
    expect(doc.servers).toEqual([{ url: "http://fleetbeat.test/api/v1" }]);
  });

  it("says who may call each route, and how each refuses, with examples in the error shape", async () => {
    const doc = await openApi();
    for (const { method, path, op } of operations(doc)) {
      const where = `${method} ${path}`;
      expect(op.summary, where).toMatch(/\w/);
      expect(op.tags, where).toHaveLength(1);
      expect(AUTH, where).toContain(op["x-auth"]);
      expect(Array.isArray(op.security), where).toBe(true);
      if (op["x-auth"] !== "none") expect(op.security.length, where).toBeGreaterThan(0);
      for (const requirement of op.security)
        for (const scheme of Object.keys(requirement))
          expect(doc.components.securitySchemes, where).toHaveProperty(scheme);
      const examples = errorExamples(doc, op);
      expect(examples.length, where).toBeGreaterThan(0);
      for (const e of examples) {
        if (path === "/v1/logs") {
          expect(e.value, where).toEqual({ code: expect.any(Number), message: e.summary });
          continue;
        }
        expect(ErrorBody.safeParse(e.value).success, `${where}: ${JSON.stringify(e.value)}`).toBe(true);
        expect(e.value.error.message, where).toBe(e.summary);
      }
      // Who refuses what: a credential route its 401, a role below its own a 403, an input a 400, an id a 404.
      const statuses = new Set(examples.map((e) => e.status));
      if (!["none", "ticket", "session"].includes(op["x-auth"])) expect([...statuses], where).toContain(401);
      if (["operator", "admin", "server admin", "device"].includes(op["x-auth"]))
        expect([...statuses], where).toContain(403);
      // The sign-in callback reads what the provider sends, and answers a bad sign-in 401.
      const validated =
        (op.parameters ?? []).some((p) => p.in === "query") || op.requestBody?.content["application/json"];
      if (validated && path !== "/auth/callback") expect([...statuses], where).toContain(400);
      if ((op.parameters ?? []).some((p) => p.in === "path")) expect([...statuses], where).toContain(404);
    }
    const ingest = doc.paths["/logs/ingest"].post.requestBody.content["application/json"].schema;
    expect(ingest.properties.logs.items.properties.level).toBeDefined();
    expect(doc.paths["/fleet/devices"].get.parameters.map((p: any) => p.name)).toContain("status");
    expect(doc.paths["/fleet/devices"].get.security).toEqual([
      { orgKey: [] },
      { session: [] },
      { cloudflareAccess: [] },
    ]);
    expect(doc.paths["/fleet/heartbeat"].post.security).toEqual([{ deviceKey: [] }]);
    expect(doc.paths["/orgs"].post.security).toEqual([{ adminToken: [] }]);
  });

  it("gives, as examples, what the routes really answer", async () => {
    const doc = await openApi();
    const created = await exports.default.fetch("http://fleetbeat.test/api/v1/orgs", {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" },
      body: JSON.stringify({ name: "Docs org" }),
    });
    const key = (await created.json<any>()).api_key.key as string;
    const answer = async (path: string, token: string) => {
      const res = await exports.default.fetch(`http://fleetbeat.test/api/v1${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: res.status, value: await res.json<any>() };
    };
    const examples = errorExamples(doc, doc.paths["/fleet/devices/{device_id}"].get);
    // A path id that cannot exist, and an unknown key.
    expect(examples).toContainEqual({ ...(await answer("/fleet/devices/x", key)), summary: "no such device" });
    expect(examples).toContainEqual({ ...(await answer("/fleet/devices/x", "fbk_nope")), summary: "invalid API key" });
    // A query field refused, word for word.
    const sessions = errorExamples(doc, doc.paths["/sessions"].get).filter((e) => e.status === 400);
    const [refusal] = sessions;
    const field = refusal!.value.error.details[0].path as string;
    const sent = await answer(`/sessions?${field}=%00`, key);
    expect(sent.status).toBe(400);
    expect(sent.value.error.details[0]).toEqual(refusal!.value.error.details[0]);
  });

  it("is an OpenAPI 3.1 document, structurally", async () => {
    const doc = await openApi();
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toEqual(expect.objectContaining({ title: expect.any(String), version: expect.any(String) }));
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths) as [string, Record<string, unknown>][]) {
      expect(path.startsWith("/"), path).toBe(true);
      for (const key of Object.keys(item)) expect([...METHODS, "servers", "parameters"], path).toContain(key);
    }
    for (const { method, path, op } of operations(doc)) {
      const where = `${method} ${path}`;
      expect(ids.has(op.operationId), `${where}: operationId ${op.operationId} twice`).toBe(false);
      ids.add(op.operationId);
      const params = op.parameters ?? [];
      for (const p of params) {
        expect(["path", "query", "header", "cookie"], where).toContain(p.in);
        expect(typeof p.name, where).toBe("string");
        expect(p.schema, where).toBeTypeOf("object");
        if (p.in === "path") expect(p.required, `${where} ${p.name}`).toBe(true);
      }
      expect(new Set(params.map((p) => `${p.in} ${p.name}`)).size, where).toBe(params.length);
      for (const [, name] of path.matchAll(/\{(\w+)\}/g))
        expect(
          params.some((p) => p.in === "path" && p.name === name),
          `${where}: {${name}} has no parameter`,
        ).toBe(true);
      expect(Object.keys(op.responses).length, where).toBeGreaterThan(0);
      for (const [status, ref] of Object.entries(op.responses)) {
        expect(status, where).toMatch(/^([1-5]\d\d|[1-5]XX|default)$/);
        const r = ("$ref" in ref ? resolve(doc, ref.$ref as string) : ref) as { description: string };
        expect(typeof r.description, `${where} ${status}`).toBe("string");
      }
    }
    // Every reference names something in the document.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      const target = ref.slice('"$ref":"'.length, -1);
      expect(target.startsWith("#/"), target).toBe(true);
      expect(resolve(doc, target), target).toBeDefined();
    }
  });
});
