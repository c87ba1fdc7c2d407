import { describe, expect, it } from "vitest";
import { writeTransitionsNow } from "../support/transitions";
import { call, newDevice, newOrg, newProject } from "./helpers";

async function pageAll(token: string, query: string, limit: number, between?: () => Promise<void>) {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res: any = await call("GET", `/fleet/devices?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`, { token });
    expect(res.status).toBe(200);
    ids.push(...res.json.devices.map((d: any) => d.id));
    cursor = res.json.next_cursor;
    await between?.();
  } while (cursor);
  return ids;
}

describe("fleet list", () => {
  it("filters by environment, status, type and name or DSN", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const a = await newDevice(adminKey, projectId, "AMR-100", { device_type: "amr", environment: "production", name: "Picker north" });
    const b = await newDevice(adminKey, projectId, "DRN-200", { device_type: "drone", environment: "testing", name: "Scout 100%" });
    const c = await newDevice(adminKey, projectId, "CAM-300", { device_type: "camera", environment: "production", name: "Dock cam" });
    await call("POST", "/fleet/heartbeat", { token: a.deviceKey, body: {} });
    // A status filter reads the project's statuses row in D1, which the project rewrites within a minute.
    await writeTransitionsNow(projectId);

    const ids = async (q: string) =>
      (await call("GET", `/fleet/devices?project_id=${projectId}&${q}`, { token: adminKey })).json.devices.map((d: any) => d.id);
    expect(await ids("environment=production")).toEqual([a.deviceId, c.deviceId]);
    expect(await ids("type=drone")).toEqual([b.deviceId]);
    expect(await ids("environment=testing")).toEqual([b.deviceId]);
    expect(await ids("status=online")).toEqual([a.deviceId]);
    expect(await ids("status=offline")).toEqual([b.deviceId, c.deviceId]);
    expect(await ids("q=picker")).toEqual([a.deviceId]);
    expect(await ids("q=CAM-3")).toEqual([c.deviceId]);
    expect(await ids("q=100")).toEqual([a.deviceId, b.deviceId]);
    // % and _ are the user's text, not wildcards.
    expect(await ids(`q=${encodeURIComponent("100%")}`)).toEqual([b.deviceId]);
    expect(await ids("q=_")).toEqual([]);
    // Long search text (a whole DSN or name) is fine.
    expect(await ids(`q=${"x".repeat(120)}`)).toEqual([]);
    expect(await ids(`q=${encodeURIComponent("%".repeat(60))}`)).toEqual([]);
    expect(await ids("environment=production&type=camera")).toEqual([c.deviceId]);

    const device = (await call("GET", `/fleet/devices?project_id=${projectId}&q=picker`, { token: adminKey })).json.devices[0];
    expect(Object.keys(device)).toEqual(
      expect.arrayContaining(["id", "name", "dsn", "device_type", "environment", "status", "last_seen_at", "last_heartbeat_at", "metrics", "current_session_id"]),
    );
  });

  it("pages through every device exactly once, even while new ones register", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const made: string[] = [];
    for (let i = 0; i < 23; i++) made.push((await newDevice(adminKey, projectId, `PG-${i}`)).deviceId);

    expect(await pageAll(adminKey, `project_id=${projectId}`, 5)).toEqual(made);

    // Devices registering mid-walk sort after the cursor: the walk sees each id once.
    let extra = 0;
    const walked = await pageAll(adminKey, `project_id=${projectId}`, 4, async () => {
      if (extra < 3) made.push((await newDevice(adminKey, projectId, `PG-late-${extra++}`)).deviceId);
    });
    expect(new Set(walked).size).toBe(walked.length);
    expect(walked).toEqual(made);
  });

  it("spans the org's projects when no project is named", async () => {
    const { adminKey } = await newOrg();
    const p1 = await newProject(adminKey, "one");
    const p2 = await newProject(adminKey, "two");
    const d1 = await newDevice(adminKey, p1);
    const d2 = await newDevice(adminKey, p2);
    const all = await call("GET", "/fleet/devices", { token: adminKey });
    expect(all.json.devices.map((d: any) => d.id)).toEqual([d1.deviceId, d2.deviceId]);
  });

  it("patches name and environment", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const d = await newDevice(adminKey, projectId);
    const res = await call("PATCH", `/fleet/devices/${d.deviceId}`, { token: adminKey, body: { name: "Line 4 arm", environment: "testing" } });
    expect(res.json.device).toMatchObject({ name: "Line 4 arm", environment: "testing" });
    const testing = await call("GET", `/fleet/devices?project_id=${projectId}&environment=testing`, { token: adminKey });
    expect(testing.json.devices.map((x: any) => x.id)).toEqual([d.deviceId]);
    expect((await call("PATCH", `/fleet/devices/${d.deviceId}`, { token: adminKey, body: { status: "offline" } })).status).toBe(400);
    expect((await call("PATCH", `/fleet/devices/${d.deviceId}`, { token: adminKey, body: {} })).status).toBe(400);
  });
});
