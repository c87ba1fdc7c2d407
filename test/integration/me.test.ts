import { describe, expect, it } from "vitest";
import { ADMIN, call, newKey, newOrg, tenant } from "./helpers";

describe("GET /me", () => {
  it("tells an admin key which key it is and which org it belongs to", async () => {
    const { orgId, adminKey } = await newOrg("pro");
    const res = await call("GET", "/me", { token: adminKey });
    expect(res.status).toBe(200);
    expect(res.json.org).toMatchObject({ id: orgId, name: "Acme Robotics", tier: "pro", limits: { devices: 1_000 } });
    expect(res.json.key).toMatchObject({
      id: expect.stringMatching(/^key_/),
      name: "first admin key",
      role: "admin",
      prefix: adminKey.slice(0, 12),
    });
    expect(JSON.stringify(res.json)).not.toContain(adminKey);
  });

  it("answers a viewer key too, with its own name and role", async () => {
    const { orgId, adminKey } = await newOrg("free");
    const viewer = await newKey(adminKey, "viewer");
    const res = await call("GET", "/me", { token: viewer });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ org: { id: orgId, tier: "free" }, key: { name: "viewer key", role: "viewer" } });
    const listed = await call("GET", "/keys", { token: adminKey });
    expect(listed.json.keys.map((k: any) => k.id)).toContain(res.json.key.id);
  });

  it("refuses device keys and the server admin token (403) and unknown or revoked keys (401)", async () => {
    const t = await tenant();
    const device = await call("GET", "/me", { token: t.deviceKey });
    expect(device.status).toBe(403);
    expect(device.json.error.code).toBe("forbidden");
    expect((await call("GET", "/me", { token: ADMIN })).status).toBe(403);
    expect((await call("GET", "/me", { token: `fbk_${"0".repeat(64)}` })).status).toBe(401);
    expect((await call("GET", "/me")).status).toBe(401);

    const viewerId = (await call("GET", "/me", { token: t.viewerKey })).json.key.id;
    expect((await call("DELETE", `/keys/${viewerId}`, { token: t.adminKey })).status).toBe(200);
    const revoked = await call("GET", "/me", { token: t.viewerKey });
    expect(revoked.status).toBe(401);
    expect(revoked.json.error.code).toBe("unauthorized");
  });
});
