// The log archive: lines past the hot window move from their log shard to R2 objects (one per
// shard and event hour), and every read (device, session, project-wide, export, search) finds
// each exactly once, as before the move; a crash between the R2 write and the hot delete
// changes nothing; a page reads a bounded number of objects and resumes; retention deletes what
// is due and nothing else.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PAGE_OBJECTS } from "../../durable-objects/log-shard/archive";
import { CHUNK } from "../../durable-objects/log-shard/chunks";
import { HOT_STORE } from "../../durable-objects/log-shard/retention";
import { shardOf as shardIndex } from "../../src/contract/log-shards";
import { hotLineIds, shardOf } from "../support/hot-lines";
import { allLogs, call, ingest, loghubLines, newDevice, readText, tenant } from "./helpers";

const DAY = 86_400_000_000; // µs
const HOUR = 3_600_000_000;

/** Lets a shard's retention run again now (it runs at most once a minute). */
const runAgain = async (deviceId: string) =>
  runInDurableObject(
    await shardOf(deviceId),
    (shard) => void ((shard as unknown as { retention: { lastRun: number } }).retention.lastRun = 0),
  );

/**
 * Shortens the hot window of a device's shard to `days`, as a tier change would, and runs its
 * alarm: older lines move to the archive (a run writes at most 10 objects, then the alarm comes
 * back at once).
 */
async function shrinkWindow(deviceId: string, days: number) {
  const stub = await shardOf(deviceId);
  await runInDurableObject(stub, (_s, state) => state.storage.kv.put("retention", [days, 365]));
  for (let run = 0; run < 3; run++) {
    await runAgain(deviceId);
    await runDurableObjectAlarm(stub);
  }
}

const manifest = async (deviceId: string) =>
  runInDurableObject(await shardOf(deviceId), (_h, state) =>
    state.storage.sql
      .exec<{ key: string; hour: number; seq: number; lines: number; raw_bytes: number; gz_bytes: number }>(
        "SELECT key, hour, seq, lines, raw_bytes, gz_bytes FROM archive_objects ORDER BY min_ts",
      )
      .toArray(),
  );

describe("the log archive", () => {
  it("answers every query as before the move: filters, search, order, paging, sessions, project-wide and export", async () => {
    const t = await tenant();
    const second = await newDevice(t.adminKey, t.projectId);
    const now = Date.now() * 1000;
    // Old lines in two sessions on two devices, over six hours, and recent ones.
    for (let h = 0; h < 6; h++) {
      await ingest(t.deviceKey, {
        session_id: h < 3 ? "old-a" : "old-b",
        logs: loghubLines("HDFS", 40, { endUs: now - 3 * DAY + h * HOUR, offset: h * 40 }),
      });
      await ingest(second.deviceKey, {
        logs: loghubLines("Linux", 25, { endUs: now - 3 * DAY + h * HOUR + 500, offset: h * 25 }),
      });
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
      for (const q of queries)
        out[q] = (await allLogs(t.viewerKey, `${q}&limit=37`)).map((l) => `${l.id} ${l.timestamp_us}`);
      return out;
    };
    const exportOf = async () =>
      readText(await fetchRaw(`/logs/export?project_id=${t.projectId}&format=ndjson`, t.viewerKey));
    const hot = await read();
    const hotExport = await exportOf();

    // A one-day hot window: everything three days old moves to the archive.
    await shrinkWindow(t.deviceId, 1);
    await shrinkWindow(second.deviceId, 1);
    const objects = await manifest(t.deviceId);
    expect(objects.length).toBeGreaterThanOrEqual(6); // one or more per event hour
    // Both devices' lines when they share a shard, this device's alone otherwise.
    const together = shardIndex(t.deviceId) === shardIndex(second.deviceId);
    expect(objects.reduce((n, c) => n + c.lines, 0)).toBe(together ? 240 + 150 : 240);
    expect((await hotLineIds(t.deviceId)).length).toBe(30);

    // The same lines, in the same order, page after page; the export byte for byte.
    const cold = await read();
    for (const q of queries) expect(cold[q], q).toEqual(hot[q]);
    expect(await exportOf()).toBe(hotExport);
  });

  it("finds words in a closed chunk the archive took some lines out of, as before (its line index is dropped with them)", async () => {
    const saved = { ...CHUNK };
    Object.assign(CHUNK, { maxLines: 20 });
    try {
      const t = await tenant();
      const now = Date.now() * 1000;
      // Three batches of 20, each a chunk (the first two closed, with their line index): old and
      // recent lines taking turns, so the archive takes half of each chunk and leaves the rest.
      for (let b = 0; b < 3; b++) {
        const logs = loghubLines("HDFS", 20, { offset: b * 20 }).map((l, i) => ({
          ...l,
          timestamp_us: i % 2 ? now - 3 * DAY + (b * 20 + i) * 1000 : now - (60 - b * 20 - i) * 1000,
        }));
        expect((await ingest(t.deviceKey, { logs })).json.accepted).toBe(20);
      }
      const searches = ["q=block", "q=Receiving bl", "q=PacketResponder", "q=blk"].map(
        (q) => `device_id=${t.deviceId}&${q}&limit=7`,
      );
      const read = async () =>
        Promise.all(searches.map(async (q) => (await allLogs(t.viewerKey, q)).map((l) => `${l.id} ${l.message}`)));
      const before = await read();
      expect(before.every((found) => found.length > 0)).toBe(true);
      await shrinkWindow(t.deviceId, 1);
      expect((await hotLineIds(t.deviceId)).length).toBe(30);
      expect(await read()).toEqual(before);
    } finally {
      Object.assign(CHUNK, saved);
    }
  });

  it("never shows a line twice or loses one when the object stops between the R2 write and the hot delete", async () => {
    const t = await tenant();
    const now = Date.now() * 1000;
    await ingest(t.deviceKey, { logs: loghubLines("Apache", 50, { endUs: now - 5 * DAY }) });
    await ingest(t.deviceKey, { logs: loghubLines("Apache", 10, { endUs: now - 1000, offset: 50 }) });
    // The state after a crash between the steps: R2 holds an object for the next chunk, which
    // no manifest row lists, and every line is still hot.
    const hour = Math.floor((now - 5 * DAY) / HOUR);
    const key = `logs/${t.projectId}/shard-${shardIndex(t.deviceId)}/${hour}-0.ndjson.gz`;
    await env.STORAGE.put(key, new Uint8Array([1, 2, 3]));
    const seen = (await allLogs(t.viewerKey, `device_id=${t.deviceId}&limit=1000`)).map((l) => l.id);
    expect(seen).toHaveLength(60);

    // Then the archive step runs again: the chunk is written under the same key, listed, and the lines leave the hot store.
    await shrinkWindow(t.deviceId, 1);
    const objects = await manifest(t.deviceId);
    expect(objects.map((c) => c.key)).toContain(key);
    expect((await env.STORAGE.head(key))!.size).toBeGreaterThan(3);
    const after = (await allLogs(t.viewerKey, `device_id=${t.deviceId}&limit=1000`)).map((l) => l.id);
    expect(after.sort()).toEqual(seen.sort());
  });

  it(`reads at most ${PAGE_OBJECTS} objects for a page, and its cursor goes on where the scan stopped`, async () => {
    const t = await tenant();
    const now = Date.now() * 1000;
    const base = now - 5 * DAY;
    // Twenty hours with one line each: twenty chunks. Only the last hour's line says "needle".
    for (let h = 0; h < 20; h++) {
      await ingest(t.deviceKey, {
        logs: [
          {
            timestamp_us: base + h * HOUR,
            level: "INFO",
            module: "m",
            message: h === 19 ? "a needle here" : `hay ${h}`,
          },
        ],
      });
    }
    await shrinkWindow(t.deviceId, 1);
    expect((await manifest(t.deviceId)).length).toBe(20);
    const first = await call("GET", `/logs?device_id=${t.deviceId}&order=asc&q=needle&limit=10`, {
      token: t.viewerKey,
    });
    expect(first.json.logs).toEqual([]);
    expect(first.json.next_cursor).not.toBeNull();
    const found = await allLogs(t.viewerKey, `device_id=${t.deviceId}&order=asc&q=needle&limit=10`);
    expect(found.map((l) => l.message)).toEqual(["a needle here"]);
    const all = await allLogs(t.viewerKey, `device_id=${t.deviceId}&order=asc&limit=3`);
    expect(all.map((l) => l.message)).toEqual(
      Array.from({ length: 20 }, (_, h) => (h === 19 ? "a needle here" : `hay ${h}`)),
    );
  });

  it("archives the oldest lines early when a shard's hot store passes its size bound", async () => {
    const t = await tenant();
    const saved = HOT_STORE.maxLines;
    HOT_STORE.maxLines = 50;
    try {
      const now = Date.now() * 1000;
      await ingest(t.deviceKey, { logs: loghubLines("HDFS", 120, { endUs: now - 1000 }) });
      for (let run = 0; run < 3; run++) {
        await runAgain(t.deviceId);
        await runDurableObjectAlarm(await shardOf(t.deviceId));
      }
      const hot = await hotLineIds(t.deviceId);
      expect(hot.length).toBeLessThanOrEqual(50);
      expect(hot[0]).toBe(120 - hot.length + 1); // the newest stay hot
      const all = await allLogs(t.viewerKey, `device_id=${t.deviceId}&limit=1000&order=asc`);
      expect(all.map((l) => Number(l.id.split(":")[1]))).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    } finally {
      HOT_STORE.maxLines = saved;
    }
  });

  it("deletes objects past the tier's archive retention, and nothing else", async () => {
    const t = await tenant(); // pro: 14 days hot, 365 days archived
    const now = Date.now() * 1000;
    await ingest(t.deviceKey, { logs: loghubLines("Zookeeper", 20, { endUs: now - 10 * DAY }) });
    await ingest(t.deviceKey, { logs: loghubLines("Zookeeper", 20, { endUs: now - 5 * DAY, offset: 20 }) });
    await shrinkWindow(t.deviceId, 1);
    const objects = await manifest(t.deviceId);
    expect(objects.length).toBe(2);
    // The older object passes 365 days (and the last retention run is long ago).
    const shard = await shardOf(t.deviceId);
    await runInDurableObject(shard, (_h, s) => {
      s.storage.sql.exec(
        "UPDATE archive_objects SET min_ts = min_ts - ?, max_ts = max_ts - ? WHERE key = ?",
        400 * DAY,
        400 * DAY,
        objects[0]!.key,
      );
    });
    await runAgain(t.deviceId);
    await runDurableObjectAlarm(shard);
    expect((await manifest(t.deviceId)).map((c) => c.key)).toEqual([objects[1]!.key]);
    expect(await env.STORAGE.head(objects[0]!.key)).toBeNull();
    expect(await env.STORAGE.head(objects[1]!.key)).not.toBeNull();
    expect((await allLogs(t.viewerKey, `device_id=${t.deviceId}&limit=100`)).length).toBe(20);
  });
});

function fetchRaw(path: string, token: string): Promise<Response> {
  return exports.default.fetch(`http://fleetbeat.test/api/v1${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
}
