// The tier's limits on what an org holds: projects, devices and API keys answer 429
// quota_exceeded past them; what already exists keeps working.
import { describe, expect, it } from "vitest";
import { TIERS } from "../../src/contract/tiers";
import { call, capsule, newDevice, newOrg, newProject } from "./helpers";

const FREE = TIERS.free.limits;

describe("quotas on what an org holds (free tier)", () => {
  it("projects: the one past the limit is refused with the limit, the count and no reset", async () => {
    const { adminKey } = await newOrg("free");
    for (let i = 0; i < FREE.projects; i++) await newProject(adminKey, `p${i}`);
    const refused = await call("POST", "/projects", { token: adminKey, body: { name: "one too many" } });
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({
      code: "quota_exceeded",
      details: { quota: "projects", limit: FREE.projects, used: FREE.projects, resets_at: null },
    });
    const listed = await call("GET", "/projects", { token: adminKey });
    expect(listed.json.projects).toHaveLength(FREE.projects);
  });

  it("API keys: live keys count (the first admin key too); a revoked key frees its place", async () => {
    const { adminKey } = await newOrg("free");
    const made: string[] = [];
    for (let i = 1; i < FREE.api_keys; i++) {
      const res = await call("POST", "/keys", { token: adminKey, body: { role: "viewer", name: `k${i}` } });
      expect(res.status).toBe(201);
      made.push(res.json.id);
    }
    const refused = await call("POST", "/keys", { token: adminKey, body: { role: "viewer", name: "too many" } });
    expect(refused.status).toBe(429);
    expect(refused.json.error.details).toMatchObject({ quota: "api_keys", limit: FREE.api_keys, used: FREE.api_keys });
    expect((await call("DELETE", `/keys/${made[0]}`, { token: adminKey })).status).toBe(200);
    expect((await call("POST", "/keys", { token: adminKey, body: { role: "viewer", name: "again" } })).status).toBe(201);
  });

  it("devices: a new one past the limit is refused and its token stays usable; registered devices are never blocked", async () => {
    const { adminKey } = await newOrg("free");
    const projectId = await newProject(adminKey);
    const devices = [];
    for (let i = 0; i < FREE.devices; i++) devices.push(await newDevice(adminKey, projectId, `SN-${i}`));

    const token = await capsule(adminKey, projectId);
    const refused = await call("POST", "/fleet/register", { body: { dsn: "SN-new", registration_token: token } });
    expect(refused.status).toBe(429);
    expect(refused.json.error.details).toMatchObject({ quota: "devices", limit: FREE.devices, used: FREE.devices });
    const fleet = await call("GET", `/fleet/devices?project_id=${projectId}&limit=100`, { token: adminKey });
    expect(fleet.json.devices).toHaveLength(FREE.devices);

    // A device already registered re-registers, heartbeats and sends logs as before.
    const again = await call("POST", "/fleet/register", { body: { dsn: "SN-0", registration_token: await capsule(adminKey, projectId) } });
    expect(again.status).toBe(201);
    expect(again.json.device_id).toBe(devices[0]!.deviceId);
    expect((await call("POST", "/fleet/heartbeat", { token: again.json.device_key, body: {} })).status).toBe(200);

    // Decommissioning one frees a place, and the refused token was given back.
    expect((await call("DELETE", `/fleet/devices/${devices[1]!.deviceId}`, { token: adminKey })).status).toBe(200);
    const admitted = await call("POST", "/fleet/register", { body: { dsn: "SN-new", registration_token: token } });
    expect(admitted.status).toBe(201);
  });

  it("two creations racing for the last place never both stay", async () => {
    const { adminKey } = await newOrg("free");
    for (let i = 0; i < FREE.projects - 1; i++) await newProject(adminKey, `p${i}`);
    const both = await Promise.all([0, 1].map((i) => call("POST", "/projects", { token: adminKey, body: { name: `race${i}` } })));
    expect(both.filter((r) => r.status === 201).length).toBeLessThanOrEqual(1);
    const listed = await call("GET", "/projects", { token: adminKey });
    expect(listed.json.projects.length).toBeLessThanOrEqual(FREE.projects);
  });

  it("GET /orgs/:id shows every limit of the tier, which are hard and the overage prices", async () => {
    const { orgId, adminKey } = await newOrg("enterprise");
    const org = await call("GET", `/orgs/${orgId}`, { token: adminKey });
    expect(org.json.org.limits).toMatchObject({
      ...TIERS.enterprise.limits,
      soft_limits: TIERS.enterprise.soft,
      hot_retention_days: TIERS.enterprise.hot_retention_days,
      overage_cents: TIERS.enterprise.overage_cents,
    });
  });
});
