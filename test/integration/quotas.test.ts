// The tier's limits on what an org holds: projects, devices and API keys answer 429
// quota_exceeded past them; what already exists keeps working.
import { describe, expect, it } from "vitest";
import { TIERS } from "../../src/contract/tiers";
import { type Answer, call, capsule, newDevice, newOrg, newProject } from "./helpers";

const FREE = TIERS.free.limits;
/** Each race runs this many times, each on a fresh org: a lost race shows on some runs, not on every one. */
const RUNS = 4;

/** `n` of the creations were stored; every other one was refused with the limit, full. */
function expectPlaces(answers: Answer[], quota: string, limit: number, n: number) {
  const stored = answers.filter((a) => a.status === 201);
  const refused = answers.filter((a) => a.status !== 201);
  expect(stored, JSON.stringify(refused[0]?.json)).toHaveLength(n);
  for (const r of refused) {
    expect(r.status).toBe(429);
    expect(r.json.error).toMatchObject({
      code: "quota_exceeded",
      details: { quota, limit, used: limit, resets_at: null },
    });
  }
}

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
    expect((await call("POST", "/keys", { token: adminKey, body: { role: "viewer", name: "again" } })).status).toBe(
      201,
    );
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
    const again = await call("POST", "/fleet/register", {
      body: { dsn: "SN-0", registration_token: await capsule(adminKey, projectId) },
    });
    expect(again.status).toBe(201);
    expect(again.json.device_id).toBe(devices[0]!.deviceId);
    expect((await call("POST", "/fleet/heartbeat", { token: again.json.device_key, body: {} })).status).toBe(200);

    // Decommissioning one frees a place, and the refused token was given back.
    expect((await call("DELETE", `/fleet/devices/${devices[1]!.deviceId}`, { token: adminKey })).status).toBe(200);
    const admitted = await call("POST", "/fleet/register", { body: { dsn: "SN-new", registration_token: token } });
    expect(admitted.status).toBe(201);
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

// N creations at once against room for L store exactly min(N, L), every run: places are taken
// in turn, so a race costs only the creations past the limit.
describe("creations racing for an org's places (free tier)", () => {
  it(`20 projects at once: exactly ${FREE.projects} stored, the rest refused with used = the limit`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const { adminKey } = await newOrg("free");
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          call("POST", "/projects", { token: adminKey, body: { name: `race${i}` } }),
        ),
      );
      expectPlaces(answers, "projects", FREE.projects, FREE.projects);
      expect((await call("GET", "/projects", { token: adminKey })).json.projects).toHaveLength(FREE.projects);
    }
  });

  it(`25 API keys at once: the org holds exactly ${FREE.api_keys} live keys, its first admin key included`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const { adminKey } = await newOrg("free");
      const answers = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          call("POST", "/keys", { token: adminKey, body: { role: "viewer", name: `race${i}` } }),
        ),
      );
      expectPlaces(answers, "api_keys", FREE.api_keys, FREE.api_keys - 1);
      expect((await call("GET", "/keys", { token: adminKey })).json.keys).toHaveLength(FREE.api_keys);
    }
  });

  it(`12 devices registering at once: exactly ${FREE.devices} stored, and the refused keep their tokens`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const { adminKey } = await newOrg("free");
      const projectId = await newProject(adminKey);
      const tokens = await Promise.all(Array.from({ length: 12 }, () => capsule(adminKey, projectId)));
      const register = (i: number) =>
        call("POST", "/fleet/register", { body: { dsn: `SN-${i}`, registration_token: tokens[i] } });
      const answers = await Promise.all(tokens.map((_, i) => register(i)));
      expectPlaces(answers, "devices", FREE.devices, FREE.devices);
      const fleet = await call("GET", `/fleet/devices?project_id=${projectId}&limit=100`, { token: adminKey });
      expect(fleet.json.devices).toHaveLength(FREE.devices);

      // Places freed by decommissioning go to the refused devices, with the tokens they already hold.
      const refused = answers.flatMap((a, i) => (a.status === 429 ? [i] : []));
      const admitted = answers.flatMap((a) => (a.status === 201 ? [a.json.device_id as string] : []));
      for (const id of admitted.slice(0, refused.length)) {
        expect((await call("DELETE", `/fleet/devices/${id}`, { token: adminKey })).status).toBe(200);
      }
      expect((await Promise.all(refused.map(register))).map((a) => a.status)).toEqual(refused.map(() => 201));
    }
  });

  it("one token raced by five registrations with room for one more device: one device, four 409s", async () => {
    for (let run = 0; run < RUNS; run++) {
      const { adminKey } = await newOrg("free");
      const projectId = await newProject(adminKey);
      for (let i = 0; i < FREE.devices - 1; i++) await newDevice(adminKey, projectId, `SN-${i}`);
      const token = await capsule(adminKey, projectId);
      const answers = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          call("POST", "/fleet/register", { body: { dsn: `SN-race-${i}`, registration_token: token } }),
        ),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409]);
      const fleet = await call("GET", `/fleet/devices?project_id=${projectId}&limit=100`, { token: adminKey });
      expect(fleet.json.devices).toHaveLength(FREE.devices);
    }
  });
});
