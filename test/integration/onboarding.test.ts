import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, capsule, newOrg, newProject, tenant } from "./helpers";

describe("capsules", () => {
  it("mint a one-time token valid 24 h by default and at most 7 days", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const before = Date.now();
    const res = await call("POST", "/capsules/generate", {
      token: adminKey,
      body: { project_id: projectId, device_type: "drone", environment: "testing", name: "Drone 7", dsn: "DR-7" },
    });
    expect(res.status).toBe(201);
    expect(res.json.capsule.device).toMatchObject({ dsn: "DR-7", type: "drone", environment: "testing" });
    const fleet = res.json.capsule.fleet;
    expect(fleet).toMatchObject({
      project_id: projectId,
      backend_url: "http://fleetbeat.test",
      registration_token: expect.stringMatching(/^fbr_/),
    });
    const ttl = Date.parse(fleet.expires_at) - before;
    expect(ttl).toBeGreaterThan(86_400_000 - 5000);
    expect(ttl).toBeLessThanOrEqual(86_400_000 + 5000);

    const week = await call("POST", "/capsules/generate", {
      token: adminKey,
      body: { project_id: projectId, device_type: "drone", environment: "testing", expires_in_s: 604_800 },
    });
    expect(week.status).toBe(201);
    const tooLong = await call("POST", "/capsules/generate", {
      token: adminKey,
      body: { project_id: projectId, device_type: "drone", environment: "testing", expires_in_s: 604_801 },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.error.details[0].path).toBe("expires_in_s");
  });
});

describe("registration", () => {
  it("consumes the token once: reuse 409, unknown 401, expired 410", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const token = await capsule(adminKey, projectId);

    const first = await call("POST", "/fleet/register", {
      body: { dsn: "AMR-1", registration_token: token, device_info: { fw: "1.2.0" } },
    });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({
      device_id: expect.stringMatching(/^dev_/),
      device_key: expect.stringMatching(/^fbd_dev_/),
      project_id: projectId,
      heartbeat_interval_ms: 30_000,
      log_upload: { max_lines: expect.any(Number), max_bytes: expect.any(Number) },
    });

    const reuse = await call("POST", "/fleet/register", { body: { dsn: "AMR-2", registration_token: token } });
    expect(reuse.status).toBe(409);
    expect(reuse.json.error.code).toBe("conflict");

    const unknown = await call("POST", "/fleet/register", {
      body: { dsn: "AMR-3", registration_token: "fbr_" + "0".repeat(64) },
    });
    expect(unknown.status).toBe(401);
    const garbage = await call("POST", "/fleet/register", { body: { dsn: "AMR-3", registration_token: "hello" } });
    expect(garbage.status).toBe(401);

    // A capsule may live as little as a second.
    const brief = await capsule(adminKey, projectId, { expires_in_s: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await call("POST", "/fleet/register", { body: { dsn: "AMR-5", registration_token: brief } })).status).toBe(
      410,
    );

    const old = await capsule(adminKey, projectId);
    // Age the token in the real D1 row rather than waiting a day.
    await env.DB.prepare("UPDATE registration_tokens SET expires_at = ? WHERE project_id = ? AND used_at IS NULL")
      .bind(Date.now() - 1000, projectId)
      .run();
    const expired = await call("POST", "/fleet/register", { body: { dsn: "AMR-4", registration_token: old } });
    expect(expired.status).toBe(410);
    expect(expired.json.error.code).toBe("gone");

    const stored = await env.DB.prepare("SELECT token_hash FROM registration_tokens WHERE project_id = ?")
      .bind(projectId)
      .all();
    expect(JSON.stringify(stored.results)).not.toContain(token);
  });

  it("of two registrations racing with one token exactly one wins", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const token = await capsule(adminKey, projectId);
    const answers = await Promise.all(
      ["R-1", "R-2", "R-3"].map((dsn) => call("POST", "/fleet/register", { body: { dsn, registration_token: token } })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409]);
  });

  it("a capsule made for one DSN cannot register another", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const token = await capsule(adminKey, projectId, { dsn: "CAM-9" });
    const wrong = await call("POST", "/fleet/register", { body: { dsn: "CAM-8", registration_token: token } });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.details[0].path).toBe("dsn");
    // The refusal did not burn the token.
    expect((await call("POST", "/fleet/register", { body: { dsn: "CAM-9", registration_token: token } })).status).toBe(
      201,
    );
  });

  it("the same DSN with a new token rotates the key and keeps the device's id and history", async () => {
    const t = await tenant();
    await call("PATCH", `/fleet/devices/${t.deviceId}`, { token: t.adminKey, body: { name: "Dock robot 7" } });
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { metrics: { cpu_usage: 10 } } });
    const queued = await call("POST", "/fleet/commands", {
      token: t.adminKey,
      body: { device_id: t.deviceId, command: "calibrate" },
    });

    const token = await capsule(t.adminKey, t.projectId);
    const again = await call("POST", "/fleet/register", { body: { dsn: t.dsn, registration_token: token } });
    expect(again.status).toBe(201);
    expect(again.json.device_id).toBe(t.deviceId);
    expect(again.json.device_key).not.toBe(t.deviceKey);

    expect((await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} })).status).toBe(401);
    expect((await call("POST", "/fleet/heartbeat", { token: again.json.device_key, body: {} })).status).toBe(200);
    const history = await call("GET", `/fleet/devices/${t.deviceId}/commands/history`, { token: t.adminKey });
    expect(history.json.commands.map((c: any) => c.id)).toEqual([queued.json.command.id]);
    const list = await call("GET", `/fleet/devices?project_id=${t.projectId}`, { token: t.adminKey });
    expect(list.json.devices).toHaveLength(1);
    // The operator's name survives a registration that names nothing.
    expect(list.json.devices[0].name).toBe("Dock robot 7");
  });

  it("register validates its body like every other route", async () => {
    const res = await call("POST", "/fleet/register", {
      body: { dsn: " bad\u0007dsn", device_info: { blob: "x".repeat(20_000) } },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.details.map((d: any) => d.path).sort()).toEqual(["device_info", "dsn", "registration_token"]);
  });
});
