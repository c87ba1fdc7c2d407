import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";

it("answers health with ok and the version", async () => {
  const res = await exports.default.fetch("http://fleetbeat.test/api/v1/health");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ok: true, version: expect.any(String) });
});
