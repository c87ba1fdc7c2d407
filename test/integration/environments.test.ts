// Environments are production, testing or development: the short names are accepted
// everywhere an environment is, and stored as the full name; anything else is refused.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, newDevice, newOrg, newProject } from "./helpers";

async function project() {
  const { adminKey } = await newOrg();
  return { adminKey, projectId: await newProject(adminKey) };
}

const generate = (adminKey: string, projectId: string, environment: unknown) =>
  call("POST", "/capsules/generate", {
    token: adminKey,
    body: { project_id: projectId, device_type: "amr", environment },
  });

const device = (adminKey: string, deviceId: string) => call("GET", `/fleet/devices/${deviceId}`, { token: adminKey });

function expectRefused(res: { status: number; json: any }, location: string) {
  expect(res.status).toBe(400);
  expect(res.json.error.code).toBe("validation_failed");
  expect(res.json.error.details).toEqual([
    expect.objectContaining({
      location,
      path: "environment",
      message: expect.stringContaining("production, testing or development"),
    }),
  ]);
}

describe("environments", () => {
  it("a capsule stores prod, test and dev (in any case) as the full name, and its device inherits it", async () => {
    const { adminKey, projectId } = await project();
    for (const [given, stored] of [
      ["prod", "production"],
      ["TEST", "testing"],
      ["Dev", "development"],
      ["Production", "production"],
      ["testing", "testing"],
    ]) {
      const res = await generate(adminKey, projectId, given);
      expect(res.status).toBe(201);
      expect(res.json.capsule.device.environment).toBe(stored);
    }
    const { deviceId } = await newDevice(adminKey, projectId, "AMR-1", { environment: "dev" });
    expect((await device(adminKey, deviceId)).json.device.environment).toBe("development");
  });

  it("registration and PATCH take the short names too", async () => {
    const { adminKey, projectId } = await project();
    const cap = await generate(adminKey, projectId, "production");
    const reg = await call("POST", "/fleet/register", {
      body: { dsn: "AMR-2", registration_token: cap.json.capsule.fleet.registration_token, environment: "test" },
    });
    expect(reg.status).toBe(201);
    expect((await device(adminKey, reg.json.device_id)).json.device.environment).toBe("testing");

    const patched = await call("PATCH", `/fleet/devices/${reg.json.device_id}`, {
      token: adminKey,
      body: { environment: "PROD" },
    });
    expect(patched.status).toBe(200);
    expect(patched.json.device.environment).toBe("production");
  });

  it("refuses any other environment with validation_failed naming the field", async () => {
    const { adminKey, projectId } = await project();
    for (const bad of ["staging", "", "production-eu", "pro", 3]) {
      expectRefused(await generate(adminKey, projectId, bad), "body");
    }

    const cap = await generate(adminKey, projectId, "prod");
    const token = cap.json.capsule.fleet.registration_token;
    expectRefused(
      await call("POST", "/fleet/register", { body: { dsn: "AMR-3", registration_token: token, environment: "qa" } }),
      "body",
    );
    // The refused registration did not use the token up.
    const reg = await call("POST", "/fleet/register", { body: { dsn: "AMR-3", registration_token: token } });
    expect(reg.status).toBe(201);

    expectRefused(
      await call("PATCH", `/fleet/devices/${reg.json.device_id}`, {
        token: adminKey,
        body: { environment: "staging" },
      }),
      "body",
    );
    expectRefused(
      await call("GET", `/fleet/devices?project_id=${projectId}&environment=staging`, { token: adminKey }),
      "query",
    );
    expect((await device(adminKey, reg.json.device_id)).json.device.environment).toBe("production");
  });

  it("the device list filter accepts a short name", async () => {
    const { adminKey, projectId } = await project();
    const prod = await newDevice(adminKey, projectId, "AMR-10", { environment: "production" });
    const dev = await newDevice(adminKey, projectId, "AMR-11", { environment: "development" });
    const ids = async (environment: string) => {
      const res = await call("GET", `/fleet/devices?project_id=${projectId}&environment=${environment}`, {
        token: adminKey,
      });
      expect(res.status).toBe(200);
      return res.json.devices.map((d: { id: string }) => d.id);
    };
    expect(await ids("prod")).toEqual([prod.deviceId]);
    expect(await ids("DEV")).toEqual([dev.deviceId]);
    expect(await ids("testing")).toEqual([]);
  });

  it("the migration rewrites stored free text the same way, and anything else to production", async () => {
    const { adminKey, projectId } = await project();
    const legacy: Record<string, string> = {
      PROD: "production",
      " dev ": "development",
      Test: "testing",
      Testing: "testing",
      development: "development",
      staging: "production",
      "field trial": "production",
    };
    const made: [string, string][] = [];
    for (const [old, expected] of Object.entries(legacy)) {
      const { deviceId } = await newDevice(adminKey, projectId);
      await env.DB.prepare("UPDATE devices SET environment = ? WHERE id = ?").bind(old, deviceId).run();
      made.push([deviceId, expected]);
    }
    const cap = await generate(adminKey, projectId, "production");
    const token = cap.json.capsule.fleet.registration_token as string;
    await env.DB.prepare("UPDATE registration_tokens SET environment = 'Dev' WHERE device_id IS NULL").run();

    const migration = env.TEST_MIGRATIONS.find((m) => m.name.startsWith("0002_environments"));
    expect(migration).toBeDefined();
    for (const query of migration!.queries) await env.DB.prepare(query).run();

    for (const [deviceId, expected] of made) {
      expect((await device(adminKey, deviceId)).json.device.environment).toBe(expected);
    }
    const { results } = await env.DB.prepare(
      "SELECT DISTINCT environment FROM registration_tokens WHERE device_id IS NULL",
    ).all();
    expect(results).toEqual([{ environment: "development" }]);
    // A token minted before the migration registers its device in the rewritten environment.
    const reg = await call("POST", "/fleet/register", { body: { dsn: "AMR-20", registration_token: token } });
    expect((await device(adminKey, reg.json.device_id)).json.device.environment).toBe("development");
  });
});
