// A device's object from before the chunked store keeps everything it held: lines in the table of
// a row per line answer queries as before, then move into chunks (a bounded number per alarm)
// under their own ids; counts left in the old outbox tables reach the project once, under their
// own sequences, and new counts continue after them.
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deviceHub } from "../../src/stubs/device-hub";
import { allLogs, call, ingest, loghubLines, tenant } from "./helpers";
import { hotLineIds } from "../support/hot-lines";
import { settle } from "../support/settle";

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

describe("an object from before the chunked store", () => {
  it("answers its old lines as before, moves them into chunks under their own ids, and goes on after them", async () => {
    const t = await tenant();
    const old = loghubLines("OpenSSH", 300);
    await runInDurableObject(deviceHub(env, t.deviceId), (_h, state) => writeOldLines(state, old, "old-run"));
    // The object starts again, as after the upgrade's deploy.
    await abortAllDurableObjects();
    const stub = deviceHub(env, t.deviceId);
    const queries = [`device_id=${t.deviceId}&limit=37`, `device_id=${t.deviceId}&order=asc&limit=50&q=user`, `device_id=${t.deviceId}&limit=100&level=INFO`];
    const before: string[][] = [];
    for (const q of queries) before.push((await allLogs(t.viewerKey, q)).map((l) => `${l.id} ${l.message}`));
    expect(before[0]!.length).toBe(300);

    // New lines come after the old ones, with the next ids.
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 20) });
    const both = await allLogs(t.viewerKey, `device_id=${t.deviceId}&order=asc&limit=1000`);
    expect(both.length).toBe(320);
    expect(new Set(both.map((l) => l.id)).size).toBe(320);

    // The alarm moves the old lines into chunks; every query answers the same.
    await runDurableObjectAlarm(stub);
    const left = await runInDurableObject(stub, (_h, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM logs").one().n);
    expect(left).toBe(0);
    expect((await hotLineIds(stub)).length).toBe(320);
    const oldIds = before[0]!.map((x) => Number(x.split(" ")[0]!.split(":")[1]));
    expect(Math.max(...oldIds)).toBeLessThan(Math.min(...(await hotLineIds(stub)).filter((id) => !oldIds.includes(id))));
    const newLines = both.filter((l) => !before[0]!.some((x) => x.startsWith(`${l.id} `)));
    for (const [i, q] of queries.entries()) {
      const after = (await allLogs(t.viewerKey, q)).map((l) => `${l.id} ${l.message}`).filter((x) => !newLines.some((l) => x.startsWith(`${l.id} `)));
      expect(after, q).toEqual(before[i]);
    }
  });

  it("delivers what its old outbox held once, under the old sequences, and counts on after them", async () => {
    const t = await tenant();
    const stub = deviceHub(env, t.deviceId);
    await settle(t.deviceId);
    const day = new Date().toISOString().slice(0, 10);
    // Counts the old outbox was holding: one sequence already sealed (7), one open (8).
    await runInDurableObject(stub, (_h, state) => {
      state.storage.sql.exec("INSERT INTO outbox (seq, day, logs, log_bytes, heartbeats) VALUES (7, ?, 40, 4000, 3), (8, ?, 2, 200, 1)", day, day);
      state.storage.sql.exec("INSERT INTO outbox_buckets (seq, minutes, start, metric, n) VALUES (7, 60, ?, 'logs_info', 40)", Date.now() - (Date.now() % 3_600_000));
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
    const usage = async () => (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
    const u = await usage();
    expect(u.logs).toBe(40 + 2 + 5);
    expect(u.heartbeats).toBe(4);
    // Nothing is sent twice: the old tables are empty and a second settle adds nothing.
    const left = await runInDurableObject(deviceHub(env, t.deviceId), (_h, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n);
    expect(left).toBe(0);
    await settle(t.deviceId);
    expect((await usage()).logs).toBe(47);
  });
});
