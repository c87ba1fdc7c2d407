// The log archive: lines past the hot window move to R2 chunks, and every read (device,
// session, project-wide, export, search) finds each exactly once, as before the move; a crash
// between the R2 write and the hot delete changes nothing; a page reads a bounded number of
// chunks and resumes; retention deletes what is due and nothing else.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PAGE_CHUNKS } from "../../durable-objects/device-hub/archive";
import { HOT_STORE } from "../../durable-objects/device-hub/retention";
import { deviceHub } from "../../src/stubs/device-hub";
import { allLogs, call, ingest, loghubLines, newDevice, readText, tenant } from "./helpers";
import { rewriteDeviceState } from "../support/device-state";
import { hotLineIds } from "../support/hot-lines";
import { CRON } from "../../src/jobs/schedule";
import { runJobs } from "../support/jobs";
import { utcDay } from "../../src/lib/time";

const DAY = 86_400_000_000; // µs
const HOUR = 3_600_000_000;

/**
 * Shortens a device's hot window to `days`, as a tier change would, and runs its alarm: older
 * lines move to the archive (a run moves at most 10 chunks, then the alarm comes back at once).
 */
async function shrinkWindow(deviceId: string, days: number) {
  const stub = deviceHub(env, deviceId);
  await rewriteDeviceState(stub, (s) => ({ ...s, hotWindowDays: days }));
  for (let run = 0; run < 3; run++) await runDurableObjectAlarm(stub);
}

const manifest = (deviceId: string) =>
  runInDurableObject(deviceHub(env, deviceId), (_h, state) =>
    state.storage.sql.exec<{ key: string; hour: number; seq: number; lines: number; raw_bytes: number; gz_bytes: number; indexed: number }>(
      "SELECT key, hour, seq, lines, raw_bytes, gz_bytes, indexed FROM archive_chunks ORDER BY min_ts",
    ).toArray(),
  );

describe("the log archive", () => {
  it("answers every query as before the move: filters, search, order, paging, sessions, project-wide and export", async () => {
    const t = await tenant();
    const second = await newDevice(t.adminKey, t.projectId);
    const now = Date.now() * 1000;
    // Old lines in two sessions on two devices, over six hours, and recent ones.
    for (let h = 0; h < 6; h++) {
      await ingest(t.deviceKey, { session_id: h < 3 ? "old-a" : "old-b", logs: loghubLines("HDFS", 40, { endUs: now - 3 * DAY + h * HOUR, offset: h * 40 }) });
      await ingest(second.deviceKey, { logs: loghubLines("Linux", 25, { endUs: now - 3 * DAY + h * HOUR + 500, offset: h * 25 }) });
    }
    await ingest(t.deviceKey, { session_id: "new", logs: loghubLines("HDFS", 30, { endUs: now - 1000, offset: 500 }) });

    const queries = [
      `device_id=${t.deviceId}`,
      `device_id=${t.deviceId}&order=asc`,
      `session_id=old-a`,
      `session_id=old-b&order=asc`,
      `device_id=${t.deviceId}&level=WARN,ERROR`,
      `device_id=${t.deviceId}&q=block`,
      `device_id=${t.deviceId}&q=Receiving bl`,
      `device_id=${second.deviceId}&q=session`,
      `project_id=${t.projectId}`,
      `project_id=${t.projectId}&order=asc&q=blk`,
      `project_id=${t.projectId}&from=${new Date((now - 3 * DAY + 2 * HOUR) / 1000).toISOString()}&to=${new Date((now - 3 * DAY + 4 * HOUR) / 1000).toISOString()}`,
    ];
    const read = async () => {
      const out: Record<string, string[]> = {};
      for (const q of queries) out[q] = (await allLogs(t.viewerKey, `${q}&limit=37`)).map((l) => `${l.id} ${l.timestamp_us}`);
      return out;
    };
    const exportOf = async () => readText(await fetchRaw(`/logs/export?project_id=${t.projectId}&format=ndjson`, t.viewerKey));
    const hot = await read();
    const hotExport = await exportOf();

    // A one-day hot window: everything three days old moves to the archive.
    await shrinkWindow(t.deviceId, 1);
    await shrinkWindow(second.deviceId, 1);
    const chunks = await manifest(t.deviceId);
    expect(chunks.length).toBeGreaterThanOrEqual(6); // one or more per event hour
    expect(chunks.every((c) => c.indexed === 1)).toBe(true);
    expect(chunks.reduce((n, c) => n + c.lines, 0)).toBe(240);
    expect((await hotLineIds(deviceHub(env, t.deviceId))).length).toBe(30);

    // The same lines, in the same order, page after page; the export byte for byte.
    const cold = await read();
    for (const q of queries) expect(cold[q], q).toEqual(hot[q]);
    expect(await exportOf()).toBe(hotExport);
  });

  it("never shows a line twice or loses one when the object stops between the R2 write and the hot delete", async () => {
    const t = await tenant();
    const now = Date.now() * 1000;
    await ingest(t.deviceKey, { logs: loghubLines("Apache", 50, { endUs: now - 5 * DAY }) });
    await ingest(t.deviceKey, { logs: loghubLines("Apache", 10, { endUs: now - 1000, offset: 50 }) });
    // The state after a crash between the steps: R2 holds an object for the next chunk, which
    // no manifest row lists, and every line is still hot.
    const hour = Math.floor((now - 5 * DAY) / HOUR);
    const key = `logs/${t.projectId}/${t.deviceId}/${hour}-0.ndjson.gz`;
    await env.STORAGE.put(key, new Uint8Array([1, 2, 3]));
    const seen = (await allLogs(t.viewerKey, `device_id=${t.deviceId}&limit=1000`)).map((l) => l.id);
    expect(seen).toHaveLength(60);

    // Then the archive step runs again: the chunk is written under the same key, listed, and the lines leave the hot store.
    await shrinkWindow(t.deviceId, 1);
    const chunks = await manifest(t.deviceId);
    expect(chunks.map((c) => c.key)).toContain(key);
    expect((await env.STORAGE.head(key))!.size).toBeGreaterThan(3);
    const after = (await allLogs(t.viewerKey, `device_id=${t.deviceId}&limit=1000`)).map((l) => l.id);
    expect(after.sort()).toEqual(seen.sort());

    // An interrupted D1 step is told on the next run.
    await runInDurableObject(deviceHub(env, t.deviceId), (_h, s) => s.storage.sql.exec("UPDATE archive_chunks SET indexed = 0"));
    await env.DB.prepare("DELETE FROM archive_days WHERE device_id = ?").bind(t.deviceId).run();
    await runDurableObjectAlarm(deviceHub(env, t.deviceId));
    await runInDurableObject(deviceHub(env, t.deviceId), async (hub) => {
      // The alarm ran no archive step (nothing was due); the next archive run tells D1. Run one now.
      await (hub as unknown as { archive: { archive(e: number, x: number, n: number): Promise<number> } }).archive.archive(0, 0, 1);
    });
    const days = await env.DB.prepare("SELECT day FROM archive_days WHERE device_id = ?").bind(t.deviceId).all();
    expect(days.results.length).toBeGreaterThan(0);
  });

  it(`reads at most ${PAGE_CHUNKS} chunks for a page, and its cursor goes on where the scan stopped`, async () => {
    const t = await tenant();
    const now = Date.now() * 1000;
    const base = now - 5 * DAY;
    // Twenty hours with one line each: twenty chunks. Only the last hour's line says "needle".
    for (let h = 0; h < 20; h++) {
      await ingest(t.deviceKey, { logs: [{ timestamp_us: base + h * HOUR, level: "INFO", module: "m", message: h === 19 ? "a needle here" : `hay ${h}` }] });
    }
    await shrinkWindow(t.deviceId, 1);
    expect((await manifest(t.deviceId)).length).toBe(20);
    const first = await call("GET", `/logs?device_id=${t.deviceId}&order=asc&q=needle&limit=10`, { token: t.viewerKey });
    expect(first.json.logs).toEqual([]);
    expect(first.json.next_cursor).not.toBeNull();
    const found = await allLogs(t.viewerKey, `device_id=${t.deviceId}&order=asc&q=needle&limit=10`);
    expect(found.map((l) => l.message)).toEqual(["a needle here"]);
    const all = await allLogs(t.viewerKey, `device_id=${t.deviceId}&order=asc&limit=3`);
    expect(all.map((l) => l.message)).toEqual(Array.from({ length: 20 }, (_, h) => (h === 19 ? "a needle here" : `hay ${h}`)));
  });

  it("archives the oldest lines early when a device's hot store passes its size bound", async () => {
    const t = await tenant();
    const saved = HOT_STORE.maxLines;
    HOT_STORE.maxLines = 50;
    try {
      const now = Date.now() * 1000;
      await ingest(t.deviceKey, { logs: loghubLines("HDFS", 120, { endUs: now - 1000 }) });
      for (let run = 0; run < 3; run++) await runDurableObjectAlarm(deviceHub(env, t.deviceId));
      const hot = await hotLineIds(deviceHub(env, t.deviceId));
      expect(hot.length).toBeLessThanOrEqual(50);
      expect(hot[0]).toBe(120 - hot.length + 1); // the newest stay hot
      const all = await allLogs(t.viewerKey, `device_id=${t.deviceId}&limit=1000&order=asc`);
      expect(all.map((l) => Number(l.id.split(":")[1]))).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    } finally {
      HOT_STORE.maxLines = saved;
    }
  });

  it("deletes chunks past the tier's archive retention, and nothing else", async () => {
    const t = await tenant(); // pro: 14 days hot, 365 days archived
    const now = Date.now() * 1000;
    await ingest(t.deviceKey, { logs: loghubLines("Zookeeper", 20, { endUs: now - 10 * DAY }) });
    await ingest(t.deviceKey, { logs: loghubLines("Zookeeper", 20, { endUs: now - 5 * DAY, offset: 20 }) });
    await shrinkWindow(t.deviceId, 1);
    const chunks = await manifest(t.deviceId);
    expect(chunks.length).toBe(2);
    // The older chunk passes 365 days (and the last retention run is long ago).
    await runInDurableObject(deviceHub(env, t.deviceId), (_h, s) => {
      s.storage.sql.exec("UPDATE archive_chunks SET min_ts = min_ts - ?, max_ts = max_ts - ? WHERE key = ?", 400 * DAY, 400 * DAY, chunks[0]!.key);
    });
    await rewriteDeviceState(deviceHub(env, t.deviceId), (s) => ({ ...s, prunedAt: 0 }));
    await runDurableObjectAlarm(deviceHub(env, t.deviceId));
    expect((await manifest(t.deviceId)).map((c) => c.key)).toEqual([chunks[1]!.key]);
    expect(await env.STORAGE.head(chunks[0]!.key)).toBeNull();
    expect(await env.STORAGE.head(chunks[1]!.key)).not.toBeNull();
    expect((await allLogs(t.viewerKey, `device_id=${t.deviceId}&limit=100`)).length).toBe(20);

    // The daily job forgets the project's archived days past the retention, and keeps the rest.
    const old = utcDay(Date.now() - 400 * 86_400_000);
    await env.DB.prepare("INSERT INTO archive_days (project_id, day, device_id) VALUES (?, ?, ?)").bind(t.projectId, old, t.deviceId).run();
    await runJobs(CRON.daily, Date.now());
    const days = await env.DB.prepare("SELECT day FROM archive_days WHERE project_id = ?").bind(t.projectId).all<{ day: string }>();
    expect(days.results.map((d) => d.day)).not.toContain(old);
    expect(days.results.length).toBeGreaterThan(0);
  });
});

function fetchRaw(path: string, token: string): Promise<Response> {
  return exports.default.fetch(`http://fleetbeat.test/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
}
