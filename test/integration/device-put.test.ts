// PUT /fleet/devices/:id is a synonym of PATCH: the same partial update, checks and answers.
import { describe, expect, it } from "vitest";
import { call, newOrg, tenant } from "./helpers";

describe("PUT /fleet/devices/:device_id", () => {
  it("renames and moves a device like PATCH, changing only the fields sent", async () => {
    const t = await tenant();
    const put = await call("PUT", `/fleet/devices/${t.deviceId}`, {
      token: t.adminKey,
      body: { name: "Line 4 arm", environment: "testing" },
    });
    expect(put.status).toBe(200);
    expect(put.json.device).toMatchObject({ id: t.deviceId, name: "Line 4 arm", environment: "testing", dsn: t.dsn });

    const renamed = await call("PUT", `/fleet/devices/${t.deviceId}`, {
      token: t.adminKey,
      body: { name: "Dock arm" },
    });
    expect(renamed.json.device).toMatchObject({ name: "Dock arm", environment: "testing" });
    const patched = await call("PATCH", `/fleet/devices/${t.deviceId}`, {
      token: t.adminKey,
      body: { name: "Dock arm" },
    });
    // The same answer, but for when it was changed.
    const { changed_by: byPatch, ...patchedDevice } = patched.json.device;
    const { changed_by: byPut, ...renamedDevice } = renamed.json.device;
    expect(patchedDevice).toEqual(renamedDevice);
    expect({ ...byPatch, at: null }).toEqual({ ...byPut, at: null });
    expect(byPatch).toMatchObject({ kind: "key", label: "first admin key" });
  });

  it("sets and clears maintenance", async () => {
    const t = await tenant();
    const maintenance = await call("PUT", `/fleet/devices/${t.deviceId}`, {
      token: t.adminKey,
      body: { status: "maintenance" },
    });
    expect(maintenance.json.device.status).toBe("maintenance");
    await call("PUT", `/fleet/devices/${t.deviceId}`, { token: t.adminKey, body: { status: "online" } });
    expect((await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey })).json.device.status).toBe(
      "offline",
    );
  });

  it("validates and authorizes exactly as PATCH does", async () => {
    const t = await tenant();
    const other = await newOrg();
    const cases: [string, Record<string, unknown>][] = [
      [t.adminKey, { status: "offline" }],
      [t.adminKey, {}],
      [t.viewerKey, { name: "x" }],
      [t.deviceKey, { name: "x" }],
      [other.adminKey, { name: "x" }],
    ];
    for (const [token, body] of cases) {
      const put = await call("PUT", `/fleet/devices/${t.deviceId}`, { token, body });
      const patch = await call("PATCH", `/fleet/devices/${t.deviceId}`, { token, body });
      expect(put.status).toBe(patch.status);
      expect(put.json.error.code).toBe(patch.json.error.code);
    }
    expect((await call("PUT", `/fleet/devices/${t.deviceId}`, { token: t.adminKey, body: {} })).status).toBe(400);
    expect(
      (await call("PUT", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey, body: { name: "x" } })).status,
    ).toBe(403);
    expect(
      (await call("PUT", `/fleet/devices/${t.deviceId}`, { token: other.adminKey, body: { name: "x" } })).status,
    ).toBe(404);
    const text = await call("PUT", `/fleet/devices/${t.deviceId}`, {
      token: t.adminKey,
      raw: "name=x",
      headers: { "content-type": "text/plain" },
    });
    expect(text.status).toBe(415);
  });

  it("refuses a decommissioned device with 409", async () => {
    const t = await tenant();
    expect((await call("DELETE", `/fleet/devices/${t.deviceId}`, { token: t.adminKey })).status).toBe(200);
    const put = await call("PUT", `/fleet/devices/${t.deviceId}`, { token: t.adminKey, body: { name: "back" } });
    expect(put.status).toBe(409);
    expect(put.json.error.code).toBe("conflict");
  });
});
