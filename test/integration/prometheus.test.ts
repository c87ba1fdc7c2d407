// GET /metrics: the project's devices and counters in the Prometheus text format, read back
// by a Prometheus text-format parser, with values from the heartbeats and logs sent.

import { env, exports } from "cloudflare:workers";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { SCRAPE_MAX_DEVICES, SCRAPE_PAGE } from "../../src/contract/scrape";
import { deviceHub } from "../../src/stubs/device-hub";
import { settle } from "../support/settle";
import { call, ingest, line, loghubLines, newDevice, newOrg, newProject, readText, tenant } from "./helpers";

async function scrape(token: string | undefined, query: string) {
  const res = await exports.default.fetch(`http://fleetbeat.test/api/v1/metrics?${query}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, type: res.headers.get("content-type"), text: await readText(res) };
}

type Families = ReturnType<typeof parsePrometheusTextFormat>;
/** The samples of one family, for one device if given. */
const samples = (families: Families, name: string, deviceId?: string) =>
  (families.find((f) => f.name === name)?.metrics ?? []).filter((m) => !deviceId || m.labels?.device_id === deviceId);
const value = (families: Families, name: string, deviceId?: string) => {
  const s = samples(families, name, deviceId);
  expect(s, `${name} ${deviceId ?? ""}`).toHaveLength(1);
  return Number(s[0]!.value);
};

describe("GET /metrics (Prometheus)", () => {
  it("answers the devices' last heartbeats and the project's counters, parseable, with escaped labels", async () => {
    const { adminKey } = await newOrg();
    const viewerKey = (await call("POST", "/keys", { token: adminKey, body: { role: "viewer", name: "scraper" } })).json
      .key;
    const projectId = await newProject(adminKey);
    // A DSN and a device type with a double quote and backslashes, which label values escape.
    const odd = await newDevice(adminKey, projectId, 'AMR-"7"\\east\\', {
      device_type: 'Robot "Arm"',
      environment: "testing",
    });
    const plain = await newDevice(adminKey, projectId, "CAM-1", { device_type: "camera", environment: "production" });
    const quiet = await newDevice(adminKey, projectId, "QUIET-1");

    const before = Date.now();
    const metrics = {
      cpu_usage: 41.5,
      memory_usage: 63,
      disk_usage: 12.25,
      battery_level: 88,
      temperature: 35.5,
      wheel_temp_c: -4,
    };
    expect((await call("POST", "/fleet/heartbeat", { token: odd.deviceKey, body: { metrics } })).status).toBe(200);
    expect(
      (
        await call("POST", "/fleet/heartbeat", {
          token: plain.deviceKey,
          body: { status: "maintenance", metrics: { battery_level: 12 } },
        })
      ).status,
    ).toBe(200);
    const after = Date.now();
    expect(
      (await ingest(odd.deviceKey, { logs: [line("INFO", "a"), line("ERROR", "b"), line("FATAL", "c")] })).status,
    ).toBe(200);
    for (const d of [odd, plain]) await settle(d.deviceId);

    const res = await scrape(viewerKey, `project_id=${projectId}`);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    // Escaped on the wire: \\ for a backslash, \" for a double quote.
    expect(res.text).toContain(`dsn="AMR-\\"7\\"\\\\east\\\\"`);
    expect(res.text).toContain(`device_type="Robot \\"Arm\\""`);
    // Each family is written once, with HELP and TYPE before its samples.
    const typeLines = res.text.split("\n").filter((l) => l.startsWith("# TYPE "));
    expect(new Set(typeLines).size).toBe(typeLines.length);

    const families = parsePrometheusTextFormat(res.text);
    expect(families.every((f) => f.help.length > 0 && (f.type === "GAUGE" || f.type === "COUNTER"))).toBe(true);

    // Labels read back to the registry's values.
    const [up] = samples(families, "fleetbeat_device_up", odd.deviceId);
    expect(up!.labels).toEqual({
      device_id: odd.deviceId,
      dsn: 'AMR-"7"\\east\\',
      device_type: 'Robot "Arm"',
      environment: "testing",
    });
    expect(samples(families, "fleetbeat_device_up").map((m) => [m.labels!.device_id, m.value])).toEqual([
      [odd.deviceId, "1"],
      [plain.deviceId, "1"],
      [quiet.deviceId, "0"],
    ]);
    const statusOf = (deviceId: string) =>
      Object.fromEntries(
        samples(families, "fleetbeat_device_status", deviceId).map((m) => [m.labels!.status, Number(m.value)]),
      );
    expect(statusOf(odd.deviceId)).toEqual({ online: 1, offline: 0, maintenance: 0, error: 0 });
    expect(statusOf(plain.deviceId)).toEqual({ online: 0, offline: 0, maintenance: 1, error: 0 });
    expect(statusOf(quiet.deviceId)).toEqual({ online: 0, offline: 1, maintenance: 0, error: 0 });

    // The heartbeat's metrics, each known one under its own name and unit.
    expect(value(families, "fleetbeat_device_cpu_usage_percent", odd.deviceId)).toBe(41.5);
    expect(value(families, "fleetbeat_device_memory_usage_percent", odd.deviceId)).toBe(63);
    expect(value(families, "fleetbeat_device_disk_usage_percent", odd.deviceId)).toBe(12.25);
    expect(value(families, "fleetbeat_device_battery_level_percent", odd.deviceId)).toBe(88);
    expect(value(families, "fleetbeat_device_temperature_celsius", odd.deviceId)).toBe(35.5);
    expect(value(families, "fleetbeat_device_battery_level_percent", plain.deviceId)).toBe(12);
    expect(samples(families, "fleetbeat_device_cpu_usage_percent", plain.deviceId)).toEqual([]);
    // Any other metric by name.
    expect(samples(families, "fleetbeat_device_metric")).toEqual([
      { value: "-4", labels: { ...up!.labels, metric: "wheel_temp_c" } },
    ]);

    // Last heard from and last heartbeat, in unix seconds; a device that sent no heartbeat has no
    // last_heartbeat sample (its registration is when it was last seen).
    for (const name of [
      "fleetbeat_device_last_heartbeat_timestamp_seconds",
      "fleetbeat_device_last_seen_timestamp_seconds",
    ]) {
      const at = value(families, name, odd.deviceId);
      expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000));
      expect(at).toBeLessThanOrEqual(Date.now() / 1000);
    }
    expect(samples(families, "fleetbeat_device_last_heartbeat_timestamp_seconds", quiet.deviceId)).toEqual([]);
    expect(value(families, "fleetbeat_device_last_seen_timestamp_seconds", quiet.deviceId)).toBeLessThanOrEqual(
      before / 1000,
    );
    expect(value(families, "fleetbeat_device_last_heartbeat_timestamp_seconds", plain.deviceId)).toBeLessThanOrEqual(
      after / 1000,
    );

    // The project's counters of this month, as GET /stats/usage has them.
    const project = families.find((f) => f.name === "fleetbeat_project_heartbeats_total")!;
    expect(project.type).toBe("COUNTER");
    expect(project.metrics).toEqual([{ value: "2", labels: { project_id: projectId } }]);
    expect(value(families, "fleetbeat_project_logs_total")).toBe(3);
    expect(value(families, "fleetbeat_project_error_lines_total")).toBe(2);
    expect(value(families, "fleetbeat_project_devices")).toBe(3);
    expect(value(families, "fleetbeat_project_active_devices")).toBe(2);
    expect(value(families, "fleetbeat_scrape_devices")).toBe(3);
    expect(value(families, "fleetbeat_scrape_truncated")).toBe(0);
    const usage = (await call("GET", `/stats/usage?project_id=${projectId}`, { token: viewerKey })).json;
    for (const f of ["heartbeats", "logs", "log_bytes", "error_lines", "device_messages_in"]) {
      expect(value(families, `fleetbeat_project_${f}_total`), f).toBe(usage[f]);
    }

    // The device filters of GET /fleet/devices narrow the devices (not the project's counters).
    const testing = parsePrometheusTextFormat(
      (await scrape(viewerKey, `project_id=${projectId}&environment=test`)).text,
    );
    expect(samples(testing, "fleetbeat_device_up").map((m) => m.labels!.device_id)).toEqual([odd.deviceId]);
    const cameras = parsePrometheusTextFormat((await scrape(adminKey, `project_id=${projectId}&type=camera`)).text);
    expect(samples(cameras, "fleetbeat_device_up").map((m) => m.labels!.device_id)).toEqual([plain.deviceId]);
    expect(value(cameras, "fleetbeat_project_logs_total")).toBe(3);
  });

  it("exports the storage rows the project's own objects wrote, the devices' as they delivered and the project's own", async () => {
    const t = await tenant();
    const other = await tenant();
    await ingest(other.deviceKey, { logs: loghubLines("HDFS", 50) });
    const rowsOf = async () => {
      const families = parsePrometheusTextFormat((await scrape(t.viewerKey, `project_id=${t.projectId}`)).text);
      const f = families.find((x) => x.name === "fleetbeat_storage_rows_written_total")!;
      expect(f.type).toBe("COUNTER");
      return Object.fromEntries(
        f.metrics.map((m) => [
          (m as { labels: Record<string, string> }).labels.object,
          Number((m as { value: string }).value),
        ]),
      );
    };
    // A device in service has delivered before (its first delivery's answer changes its state once).
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    await settle(t.deviceId);
    const before = await rowsOf();
    for (let i = 0; i < 5; i++) await ingest(t.deviceKey, { logs: loghubLines("HDFS", 20, { offset: i * 20 }) });
    // The device's own rows reach the project with its deliveries, which its heartbeats' counts make.
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    const unsealed = await deviceHub(env, t.deviceId).storageRows();
    await settle(t.deviceId);
    const after = await rowsOf();
    // Five batches wrote a row each in the device's log shard (their requests are counted there too, so
    // the device's object writes none of its own for them); the deliveries one each at the project.
    expect(after.log_shard! - before.log_shard!).toBeGreaterThanOrEqual(5);
    expect(after.project!).toBeGreaterThan(before.project!);
    // What the device's object counted when it sealed its delivery (with the seal's own row) is what the project
    // exports for it; rows written after the seal go with its next delivery (another project's devices are not in it).
    expect(after.device).toBeGreaterThan(unsealed);
    expect(after.device).toBeLessThanOrEqual(await deviceHub(env, t.deviceId).storageRows());
  });

  it("hides decommissioned devices and answers a project without devices", async () => {
    const t = await tenant();
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { metrics: { cpu_usage: 5 } } });
    expect((await call("DELETE", `/fleet/devices/${t.deviceId}`, { token: t.adminKey })).status).toBe(200);
    const res = await scrape(t.viewerKey, `project_id=${t.projectId}`);
    expect(res.status).toBe(200);
    const families = parsePrometheusTextFormat(res.text);
    expect(samples(families, "fleetbeat_device_up")).toEqual([]);
    expect(value(families, "fleetbeat_project_devices")).toBe(0);
    expect(value(families, "fleetbeat_scrape_devices")).toBe(0);
  });

  it("reads a large fleet in pages, and says when it stops at the cap", async () => {
    const t = await tenant();
    // Registry rows written straight to D1: SCRAPE_MAX_DEVICES + 1 devices besides the tenant's.
    const fill = (n: number) =>
      env.DB.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO devices (id, org_id, project_id, dsn, name, device_type, environment, status, metrics, heartbeat_interval_ms, registered_at, last_heartbeat_at)
         SELECT 'dev_' || printf('%026d', i), ?, ?, 'BULK-' || i, 'bulk ' || i, 'amr', 'production', 'online', '{"cpu_usage":' || i || '}', 30000, ?, ?
         FROM n`,
      ).bind(n, t.orgId, t.projectId, Date.now(), Date.now());
    await fill(SCRAPE_PAGE * 2 + 1).run();
    let families = parsePrometheusTextFormat((await scrape(t.viewerKey, `project_id=${t.projectId}`)).text);
    expect(value(families, "fleetbeat_scrape_devices")).toBe(SCRAPE_PAGE * 2 + 2);
    expect(value(families, "fleetbeat_scrape_truncated")).toBe(0);
    const cpu = samples(families, "fleetbeat_device_cpu_usage_percent").map((m) => Number(m.value));
    expect(cpu).toEqual(Array.from({ length: SCRAPE_PAGE * 2 + 1 }, (_, i) => i + 1));

    await env.DB.prepare("DELETE FROM devices WHERE dsn LIKE 'BULK-%' AND project_id = ?").bind(t.projectId).run();
    await fill(SCRAPE_MAX_DEVICES - 1).run();
    families = parsePrometheusTextFormat((await scrape(t.viewerKey, `project_id=${t.projectId}`)).text);
    expect(value(families, "fleetbeat_scrape_devices")).toBe(SCRAPE_MAX_DEVICES);
    expect(value(families, "fleetbeat_scrape_truncated")).toBe(0);

    await env.DB.prepare(
      `INSERT INTO devices (id, org_id, project_id, dsn, name, device_type, environment, status, heartbeat_interval_ms, registered_at)
       VALUES ('dev_ZZZZZZZZZZZZZZZZZZZZZZZZZZ', ?, ?, 'ONE-TOO-MANY', 'one too many', 'amr', 'production', 'offline', 30000, ?)`,
    )
      .bind(t.orgId, t.projectId, Date.now())
      .run();
    const res = await scrape(t.viewerKey, `project_id=${t.projectId}`);
    families = parsePrometheusTextFormat(res.text);
    expect(value(families, "fleetbeat_scrape_devices")).toBe(SCRAPE_MAX_DEVICES);
    expect(value(families, "fleetbeat_scrape_truncated")).toBe(1);
    expect(samples(families, "fleetbeat_device_up")).toHaveLength(SCRAPE_MAX_DEVICES);
    expect(value(families, "fleetbeat_project_devices")).toBe(SCRAPE_MAX_DEVICES + 1);
  });

  it("needs an org key of the project's org", async () => {
    const t = await tenant();
    const other = await tenant();
    const noKey = await scrape(undefined, `project_id=${t.projectId}`);
    expect(noKey.status).toBe(401);
    expect(JSON.parse(noKey.text).error.code).toBe("unauthorized");
    expect((await scrape("fb_org_nonsense", `project_id=${t.projectId}`)).status).toBe(401);
    expect((await scrape(t.deviceKey, `project_id=${t.projectId}`)).status).toBe(403);
    const foreign = await scrape(other.viewerKey, `project_id=${t.projectId}`);
    expect(foreign.status).toBe(404);
    expect(JSON.parse(foreign.text).error.code).toBe("not_found");
    // A project id is required: a scrape names one project.
    expect((await scrape(t.viewerKey, "")).status).toBe(400);
    expect((await scrape(t.viewerKey, "project_id=nope")).status).toBe(400);
  });
});
