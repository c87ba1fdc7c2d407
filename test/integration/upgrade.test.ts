// A device's object from before log shards keeps everything it held: its lines (in the table of
// a row per line, or in chunks), its archive and its batches' answers go to its shard (a piece
// per alarm) under their own ids; counts left in the old outbox tables reach the project once,
// under their own sequences, and new counts continue after them.
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deviceHub } from "../../src/stubs/device-hub";
import { hotLineIds } from "../support/hot-lines";
import { settle } from "../support/settle";
import { allLogs, call, ingest, loghubLines, tenant } from "./helpers";

/** Writes `n` lines into the table of a row per line, as the store before chunks did (with their FTS entries). */
function writeOldLines(state: DurableObjectState, lines: ReturnType<typeof loghubLines>, sessionId: string | null) {
  const sql = state.storage.sql;
  for (const l of lines) {
    sql.exec(
      "INSERT INTO logs (ts, level, module, logger, message, thread_id, process_id, session_id, context, received_at) VALUES (?, ?, ?, NULL, ?, NULL, NULL, ?, NULL, ?)",
      l.timestamp_us,
      ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"].indexOf(l.level),
      l.module,
      l.message,
      sessionId,
      Date.now(),
    );
  }
  sql.exec("INSERT INTO logs_fts (rowid, message) SELECT id, message FROM logs");
}

/** An object the device's archive wrote before shards: gzip NDJSON of its rows (which name no device), and its manifest row. */
async function writeOldArchive(
  projectId: string,
  deviceId: string,
  rows: { id: number; ts: number; message: string }[],
) {
  const key = `logs/${projectId}/${deviceId}/${Math.floor(rows[0]!.ts / 3_600_000_000)}-0.ndjson.gz`;
  const text =
    rows
      .map((r) =>
        JSON.stringify({
          id: r.id,
          ts: r.ts,
          level: 1,
          module: "old",
          logger: null,
          message: r.message,
          thread_id: null,
          process_id: null,
          session_id: null,
          context: null,
        }),
      )
      .join("\n") + "\n";
  const gz = new Uint8Array(
    await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
  );
  await env.STORAGE.put(key, gz);
  await runInDurableObject(deviceHub(env, deviceId), (_h, state) =>
    state.storage.sql.exec(
      `INSERT INTO archive_chunks (key, hour, seq, min_ts, min_id, max_ts, max_id, lines, levels, sessions, raw_bytes, gz_bytes, indexed, created_at)
       VALUES (?, ?, 0, ?, ?, ?, ?, ?, 2, '[]', ?, ?, 1, ?)`,
      key,
      Math.floor(rows[0]!.ts / 3_600_000_000),
      rows[0]!.ts,
      rows[0]!.id,
      rows.at(-1)!.ts,
      rows.at(-1)!.id,
      rows.length,
      text.length,
      gz.byteLength,
      Date.now(),
    ),
  );
}

describe("an object from before log shards", () => {
  it("hands its lines, its archive and its batches' answers to its shard, under their own ids, and new lines go on after them", async () => {
    const t = await tenant();
    const old = loghubLines("OpenSSH", 300);
    await runInDurableObject(deviceHub(env, t.deviceId), (_h, state) => {
      writeOldLines(state, old, "old-run");
      // An object from before never marked its hand-over done (this one did when it was made).
      state.storage.kv.delete("handed_over");
      // Its answer to a batch taken before: a retry must still get it.
      state.storage.sql.exec(
        "INSERT INTO batches (batch_id, received_at, answer) VALUES ('b-old', ?, ?)",
        Date.now(),
        JSON.stringify({ accepted: 300, rejected: [], duplicate: false, batch_id: "b-old" }),
      );
    });
    // Two lines its archive moved to R2 long ago, under ids before the table's (which started over at 1 here).
    const day = 86_400_000_000;
    await writeOldArchive(t.projectId, t.deviceId, [
      { id: 1001, ts: Date.now() * 1000 - 3 * day, message: "archived one" },
      { id: 1002, ts: Date.now() * 1000 - 3 * day + 5, message: "archived two" },
    ]);
    await runInDurableObject(deviceHub(env, t.deviceId), (_h, state) =>
      state.storage.sql.exec("UPDATE sqlite_sequence SET seq = 1002 WHERE name = 'logs'"),
    );
    // The object starts again, as after the upgrade's deploy.
    await abortAllDurableObjects();
    const stub = deviceHub(env, t.deviceId);

    // New lines come with ids after every old one.
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 20) });
    // The alarm hands everything over.
    for (let run = 0; run < 3; run++) await runDurableObjectAlarm(stub);
    const left = await runInDurableObject(stub, (_h, state) => ({
      lines: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM logs").one().n,
      archive: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM archive_chunks").one().n,
    }));
    expect(left).toEqual({ lines: 0, archive: 0 });
    const hot = await hotLineIds(t.deviceId);
    expect(hot.length).toBe(320);
    const all = await allLogs(t.viewerKey, `device_id=${t.deviceId}&order=asc&limit=1000`);
    expect(all.length).toBe(322);
    const ids = (msg: (m: string) => boolean) =>
      all.filter((l) => msg(l.message)).map((l) => Number(l.id.split(":")[1]));
    const oldIds = ids((m) => old.some((o) => o.message === m));
    const newIds = hot.filter((id) => !oldIds.includes(id));
    expect(oldIds.length).toBe(300);
    expect(Math.max(...oldIds, 1002)).toBeLessThan(Math.min(...newIds));
    expect(ids((m) => m.startsWith("archived"))).toEqual([1001, 1002]);
    // Its words are found, its session too.
    expect((await allLogs(t.viewerKey, `device_id=${t.deviceId}&session_id=old-run&limit=1000`)).length).toBe(300);
    expect(
      (await allLogs(t.viewerKey, `device_id=${t.deviceId}&q=archived&limit=10`)).map((l) => l.message).sort(),
    ).toEqual(["archived one", "archived two"]);
    // A retry of a batch it took before gets the same answer, and stores nothing.
    const retry = await ingest(t.deviceKey, { batch_id: "b-old", logs: loghubLines("HDFS", 3) });
    expect(retry.json).toMatchObject({ accepted: 300, duplicate: true });
    expect((await hotLineIds(t.deviceId)).length).toBe(320);
  });

  it("delivers what its old outbox held once, under the old sequences, and counts on after them", async () => {
    const t = await tenant();
    const stub = deviceHub(env, t.deviceId);
    await settle(t.deviceId);
    const day = new Date().toISOString().slice(0, 10);
    // Counts the old outbox was holding: one sequence already sealed (7), one open (8).
    await runInDurableObject(stub, (_h, state) => {
      state.storage.sql.exec(
        "INSERT INTO outbox (seq, day, logs, log_bytes, heartbeats) VALUES (7, ?, 40, 4000, 3), (8, ?, 2, 200, 1)",
        day,
        day,
      );
      state.storage.sql.exec(
        "INSERT INTO outbox_buckets (seq, minutes, start, metric, n) VALUES (7, 60, ?, 'logs_info', 40)",
        Date.now() - (Date.now() % 3_600_000),
      );
      state.storage.kv.put("outbox_open_seq", 8);
      // The object had no counts of the new kind yet.
      const s = state.storage.kv.get<Record<string, unknown>>("device")!;
      delete s.owed;
      state.storage.kv.put("device", s);
    });
    // The object starts again, as after the upgrade's deploy.
    await abortAllDurableObjects();
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 5) });
    await settle(t.deviceId);
    const usage = async () =>
      (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
    const u = await usage();
    expect(u.logs).toBe(40 + 2 + 5);
    expect(u.heartbeats).toBe(4);
    // Nothing is sent twice: the old tables are empty and a second settle adds nothing.
    const left = await runInDurableObject(
      deviceHub(env, t.deviceId),
      (_h, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n,
    );
    expect(left).toBe(0);
    await settle(t.deviceId);
    expect((await usage()).logs).toBe(47);
  });
});
