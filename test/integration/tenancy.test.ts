import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN, call, newKey, newOrg, newProject, tenant } from "./helpers";

describe("orgs", () => {
  it("only the server admin token creates and retiers orgs", async () => {
    const created = await call("POST", "/orgs", { token: ADMIN, body: { name: "Acme", tier: "free" } });
    expect(created.status).toBe(201);
    expect(created.json.org).toMatchObject({ id: expect.stringMatching(/^org_/), name: "Acme", tier: "free" });
    expect(created.json.api_key).toMatchObject({
      id: expect.stringMatching(/^key_/),
      key: expect.stringMatching(/^fbk_[0-9a-f]{64}$/),
      role: "admin",
    });

    expect((await call("POST", "/orgs", { body: { name: "x", tier: "free" } })).status).toBe(401);
    expect((await call("POST", "/orgs", { token: "wrong", body: { name: "x", tier: "free" } })).status).toBe(401);
    const withOrgKey = await call("POST", "/orgs", {
      token: created.json.api_key.key,
      body: { name: "x", tier: "free" },
    });
    expect(withOrgKey.status).toBe(403);

    const orgId = created.json.org.id;
    const retier = await call("PATCH", `/orgs/${orgId}`, { token: ADMIN, body: { tier: "enterprise" } });
    expect(retier.status).toBe(200);
    expect(retier.json.org.tier).toBe("enterprise");
    expect(
      (await call("PATCH", `/orgs/${orgId}`, { token: created.json.api_key.key, body: { tier: "pro" } })).status,
    ).toBe(403);
    expect(
      (await call("PATCH", "/orgs/org_00000000000000000000000000", { token: ADMIN, body: { tier: "pro" } })).status,
    ).toBe(404);
  });

  it("an org key reads its org with its tier limits, and never another org", async () => {
    const a = await newOrg("free");
    const b = await newOrg("pro");
    const own = await call("GET", `/orgs/${a.orgId}`, { token: a.adminKey });
    expect(own.status).toBe(200);
    expect(own.json.org).toMatchObject({ id: a.orgId, tier: "free", limits: { devices: 10, hot_retention_days: 7 } });
    const viewer = await newKey(a.adminKey, "viewer");
    expect((await call("GET", `/orgs/${a.orgId}`, { token: viewer })).status).toBe(200);
    // The server admin reads any org.
    expect((await call("GET", `/orgs/${b.orgId}`, { token: ADMIN })).json.org).toMatchObject({
      id: b.orgId,
      tier: "pro",
    });
    const other = await call("GET", `/orgs/${b.orgId}`, { token: a.adminKey });
    expect(other.status).toBe(404);
    expect(other.json.error.code).toBe("not_found");
  });
});

describe("projects", () => {
  it("are created, listed with a cursor, read and deleted inside the org", async () => {
    const { adminKey } = await newOrg();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await newProject(adminKey, `p${i}`));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await call("GET", `/projects?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { token: adminKey });
      expect(res.status).toBe(200);
      seen.push(...res.json.projects.map((p: any) => p.id));
      cursor = res.json.next_cursor;
    } while (cursor);
    expect(seen).toEqual(ids);

    const one = await call("GET", `/projects/${ids[0]}`, { token: adminKey });
    expect(one.json.project).toMatchObject({ id: ids[0], name: "p0", created_at: expect.stringMatching(/Z$/) });
    expect((await call("DELETE", `/projects/${ids[0]}`, { token: adminKey })).status).toBe(200);
    expect((await call("GET", `/projects/${ids[0]}`, { token: adminKey })).status).toBe(404);
  });

  it("deleting a project stops its devices' keys", async () => {
    const t = await tenant();
    expect((await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} })).status).toBe(200);
    expect((await call("DELETE", `/projects/${t.projectId}`, { token: t.adminKey })).status).toBe(200);
    expect((await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} })).status).toBe(401);
    expect((await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey })).status).toBe(404);
  });
});

describe("API keys", () => {
  it("are shown once, listed without secrets and stored only as hashes", async () => {
    const { orgId, adminKey } = await newOrg();
    const made = await call("POST", "/keys", { token: adminKey, body: { role: "viewer", name: "dashboard" } });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({
      id: expect.stringMatching(/^key_/),
      key: expect.stringMatching(/^fbk_/),
      role: "viewer",
    });

    const listed = await call("GET", "/keys", { token: adminKey });
    expect(listed.json.keys).toHaveLength(2);
    expect(JSON.stringify(listed.json)).not.toContain(made.json.key);
    for (const k of listed.json.keys) expect(k).not.toHaveProperty("key");

    const rows = await env.DB.prepare("SELECT * FROM api_keys WHERE org_id = ?").bind(orgId).all();
    expect(JSON.stringify(rows.results)).not.toContain(made.json.key);
    expect(JSON.stringify(rows.results)).not.toContain(adminKey);
  });

  it("a deleted key stops working at once; the last admin key cannot be deleted", async () => {
    const { adminKey } = await newOrg();
    const listed = await call("GET", "/keys", { token: adminKey });
    const firstId = listed.json.keys[0].id;
    const last = await call("DELETE", `/keys/${firstId}`, { token: adminKey });
    expect(last.status).toBe(409);

    const second = await newKey(adminKey, "admin");
    expect((await call("DELETE", `/keys/${firstId}`, { token: second })).status).toBe(200);
    expect((await call("GET", "/projects", { token: adminKey })).status).toBe(401);
    expect((await call("GET", "/projects", { token: second })).status).toBe(200);
  });

  it("two admins revoking each other at once never leave the org without an admin key", async () => {
    for (let i = 0; i < 5; i++) {
      const { adminKey } = await newOrg();
      const second = await newKey(adminKey, "admin");
      const ids = (await call("GET", "/keys", { token: adminKey })).json.keys.map((k: any) => k.id);
      const [a, b] = await Promise.all([
        call("DELETE", `/keys/${ids[1]}`, { token: adminKey }),
        call("DELETE", `/keys/${ids[0]}`, { token: second }),
      ]);
      // One wins; the other is refused as the last admin key, or finds its own key already revoked.
      expect([a.status, b.status].filter((s) => s === 200)).toHaveLength(1);
      expect([a.status, b.status].every((s) => [200, 401, 409].includes(s))).toBe(true);
      const alive = await Promise.all([adminKey, second].map((k) => call("GET", "/projects", { token: k })));
      expect(alive.filter((r) => r.status === 200).length).toBe(1);
    }
  });

  it("keys of another org answer 404", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const bKeys = await call("GET", "/keys", { token: b.adminKey });
    const res = await call("DELETE", `/keys/${bKeys.json.keys[0].id}`, { token: a.adminKey });
    expect(res.status).toBe(404);
  });
});

describe("a viewer key never mutates", () => {
  it("answers 403 on every mutating route and 200 on reads", async () => {
    const t = await tenant();
    const cmd = await call("POST", "/fleet/commands", {
      token: t.adminKey,
      body: { device_id: t.deviceId, command: "reboot" },
    });
    const mutations: [string, string, unknown?][] = [
      ["POST", "/projects", { name: "x" }],
      ["DELETE", `/projects/${t.projectId}`],
      ["POST", "/keys", { role: "admin", name: "x" }],
      ["GET", "/keys"],
      ["DELETE", `/keys/key_00000000000000000000000000`],
      ["POST", "/capsules/generate", { project_id: t.projectId, device_type: "amr", environment: "dev" }],
      ["PATCH", `/fleet/devices/${t.deviceId}`, { name: "renamed" }],
      ["DELETE", `/fleet/devices/${t.deviceId}`],
      ["POST", "/fleet/commands", { device_id: t.deviceId, command: "reboot" }],
    ];
    for (const [method, path, body] of mutations) {
      const res = await call(method, path, { token: t.viewerKey, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.json.error.code).toBe("forbidden");
    }
    const reads = [
      `/orgs/${t.orgId}`,
      "/projects",
      `/projects/${t.projectId}`,
      `/fleet/devices?project_id=${t.projectId}`,
      `/fleet/devices/${t.deviceId}`,
      `/fleet/devices/${t.deviceId}/metrics`,
      `/fleet/devices/${t.deviceId}/commands/history`,
    ];
    for (const path of reads) expect((await call("GET", path, { token: t.viewerKey })).status, path).toBe(200);
    // Nothing changed behind the 403s.
    const device = await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey });
    expect(device.json.device.decommissioned_at).toBeNull();
    expect(cmd.status).toBe(201);
  });
});

describe("another org's objects answer 404 on every object route", () => {
  it("project, device, metrics, commands and keys of org A are invisible to org B", async () => {
    const a = await tenant();
    const b = await newOrg();
    const cmd = await call("POST", "/fleet/commands", {
      token: a.adminKey,
      body: { device_id: a.deviceId, command: "reboot" },
    });
    const aKeys = await call("GET", "/keys", { token: a.adminKey });
    const routes: [string, string, unknown?][] = [
      ["GET", `/orgs/${a.orgId}`],
      ["GET", `/projects/${a.projectId}`],
      ["DELETE", `/projects/${a.projectId}`],
      ["DELETE", `/keys/${aKeys.json.keys[0].id}`],
      ["POST", "/capsules/generate", { project_id: a.projectId, device_type: "amr", environment: "dev" }],
      ["GET", `/fleet/devices?project_id=${a.projectId}`],
      ["GET", `/fleet/devices/${a.deviceId}`],
      ["PATCH", `/fleet/devices/${a.deviceId}`, { name: "mine now" }],
      ["DELETE", `/fleet/devices/${a.deviceId}`],
      ["GET", `/fleet/devices/${a.deviceId}/metrics`],
      ["GET", `/fleet/devices/${a.deviceId}/commands/history`],
      ["POST", "/fleet/commands", { device_id: a.deviceId, command: "reboot" }],
    ];
    for (const [method, path, body] of routes) {
      const res = await call(method, path, { token: b.adminKey, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.json.error.code).toBe("not_found");
    }
    // Org B's unfiltered device list does not contain A's device.
    const list = await call("GET", "/fleet/devices", { token: b.adminKey });
    expect(list.json.devices).toEqual([]);

    // A device key of org A reaches no other device's inbox.
    const other = await tenant();
    const poll = await call("GET", `/fleet/devices/${other.deviceId}/commands`, { token: a.deviceKey });
    expect(poll.status).toBe(404);
    const ack = await call("POST", `/fleet/devices/${other.deviceId}/commands/${cmd.json.command.id}/ack`, {
      token: a.deviceKey,
      body: { status: "succeeded" },
    });
    expect(ack.status).toBe(404);
    // A's device key cannot ack a command id it does not have.
    const ownButUnknown = await call(
      "POST",
      `/fleet/devices/${a.deviceId}/commands/cmd_00000000000000000000000000/ack`,
      {
        token: a.deviceKey,
        body: { status: "succeeded" },
      },
    );
    expect(ownButUnknown.status).toBe(404);
  });

  it("device keys and org keys are not interchangeable", async () => {
    const t = await tenant();
    expect((await call("GET", "/projects", { token: t.deviceKey })).status).toBe(403);
    expect((await call("POST", "/fleet/heartbeat", { token: t.adminKey, body: {} })).status).toBe(403);
    expect((await call("GET", `/fleet/devices/${t.deviceId}/commands`, { token: t.adminKey })).status).toBe(403);
    expect((await call("POST", "/orgs", { token: t.deviceKey, body: { name: "x", tier: "free" } })).status).toBe(403);
    expect((await call("POST", "/projects", { token: ADMIN, body: { name: "x" } })).status).toBe(403);
  });
});
