// GET /stats/overview and /stats/errors: totals, error rate and rankings of devices, modules
// and repeated error messages, exact under retried batches, and an org as its projects' sum.
import { describe, expect, it } from "vitest";
import { settle } from "../support/settle";
import { call, ingest, line, newDevice, newProject, tenant } from "./helpers";

const many = (n: number, level: string, module: string, message: (i: number) => string) =>
  Array.from({ length: n }, (_, i) => ({ ...line(level, message(i)), module }));

describe("overview and errors stats", () => {
  it("rank devices and modules by lines and by errors, and group repeated error messages by shape", async () => {
    const t = await tenant();
    const second = await newDevice(t.adminKey, t.projectId, "SN-second");
    const batch = [
      ...many(30, "INFO", "nav", (i) => `pose ${i}`),
      ...many(5, "ERROR", "lidar", (i) => `scan timeout after ${100 + i} ms on /dev/ttyUSB${i}`),
      ...many(2, "FATAL", "motor", () => "driver fault 0xdeadbeef01"),
    ];
    await ingest(t.deviceKey, { batch_id: "one", logs: batch });
    await ingest(t.deviceKey, { batch_id: "one", logs: batch }); // a retry adds nothing
    await ingest(second.deviceKey, {
      logs: [
        ...many(50, "INFO", "camera", (i) => `frame ${i}`),
        ...many(1, "ERROR", "camera", () => "exposure failed"),
      ],
    });
    await settle(t.deviceId);
    await settle(second.deviceId);

    const res = await call("GET", `/stats/overview?project_id=${t.projectId}&days=7`, { token: t.viewerKey });
    expect(res.status).toBe(200);
    const o = res.json;
    expect(o.totals).toMatchObject({ logs: 88, error_lines: 8 });
    expect(o.error_rate).toBeCloseTo(8 / 88);
    expect(o.top_devices.by_lines.map((d: any) => [d.device_id, d.lines])).toEqual([
      [second.deviceId, 51],
      [t.deviceId, 37],
    ]);
    expect(o.top_devices.by_lines[0].name).toBe("SN-second");
    expect(o.top_devices.by_errors.map((d: any) => [d.device_id, d.errors])).toEqual([
      [t.deviceId, 7],
      [second.deviceId, 1],
    ]);
    expect(o.top_modules.by_lines[0]).toEqual({ module: "camera", lines: 51, errors: 1 });
    expect(o.top_modules.by_errors.map((m: any) => m.module)).toEqual(["lidar", "motor", "camera"]);

    const errors = await call("GET", `/stats/errors?project_id=${t.projectId}&interval=60m`, { token: t.viewerKey });
    expect(errors.status).toBe(200);
    expect(errors.json.total).toBe(8);
    expect(errors.json.top_modules[0]).toEqual({ module: "lidar", errors: 5 });
    expect(errors.json.top_messages[0]).toEqual({ message: "scan timeout after # ms on /dev/ttyUSB#", count: 5 });
    expect(errors.json.top_messages.map((m: any) => m.message)).toContain("driver fault #");
  });

  it("for an org, sum the projects", async () => {
    const t = await tenant();
    const other = await newProject(t.adminKey, "second");
    const d2 = await newDevice(t.adminKey, other);
    await ingest(t.deviceKey, { logs: many(3, "ERROR", "nav", () => "x") });
    await ingest(d2.deviceKey, { logs: many(4, "INFO", "nav", () => "y") });
    await settle(t.deviceId);
    await settle(d2.deviceId);
    const o = (await call("GET", `/stats/overview?org_id=${t.orgId}`, { token: t.viewerKey })).json;
    expect(o.org_id).toBe(t.orgId);
    expect(o.totals).toMatchObject({ logs: 7, error_lines: 3 });
    expect(o.top_modules.by_lines).toEqual([{ module: "nav", lines: 7, errors: 3 }]);
    expect(o.top_devices.by_lines.map((d: any) => d.device_id)).toEqual([d2.deviceId, t.deviceId]);
  });
});
