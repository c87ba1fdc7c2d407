import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { app } from "../../src/app";

it("answers health with ok and the version", async () => {
  const res = await exports.default.fetch("http://fleetbeat.test/api/v1/health");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ok: true, version: expect.any(String), sign_in: true });
});

it("describes every route the app serves in openapi.json", async () => {
  const res = await exports.default.fetch("http://fleetbeat.test/api/v1/openapi.json");
  expect(res.status).toBe(200);
  const doc = await res.json<any>();
  expect(doc.openapi).toBe("3.1.0");
  const served = app.routes
    .filter((r) => r.path.startsWith("/api/v1/") && r.method !== "ALL")
    .map((r) => `${r.method.toLowerCase()} ${r.path.slice("/api/v1".length).replace(/:(\w+)/g, "{$1}")}`);
  const described = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops as object).map((m) => `${m} ${path}`),
  );
  expect(new Set(described)).toEqual(new Set(served));
  const ingest = doc.paths["/logs/ingest"].post.requestBody.content["application/json"].schema;
  expect(ingest.properties.logs.items.properties.level).toBeDefined();
  expect(doc.paths["/fleet/devices"].get.parameters.map((p: any) => p.name)).toContain("status");
});
