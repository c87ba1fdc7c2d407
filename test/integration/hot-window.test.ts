import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { deviceHub } from "../../src/stubs/device-hub";
import { call, ingest, loghubLines, tenant } from "./helpers";

it("lines older than the hot window leave the store and its full-text index", async () => {
  const t = await tenant();
  const day = 86_400_000_000; // µs
  const now = Date.now() * 1000;
  await ingest(t.deviceKey, { logs: loghubLines("OpenSSH", 300, { endUs: now - 6 * day }) });
  await ingest(t.deviceKey, { logs: loghubLines("OpenSSH", 200, { endUs: now - 1000, offset: 300 }) });
  const stub = deviceHub(env, t.deviceId);
  // Age the first batch past the 7-day window, as if the days had passed.
  await runInDurableObject(stub, (_h, state) => {
    state.storage.sql.exec("UPDATE logs SET ts = ts - ? WHERE ts < ?", 2 * day, now - 5 * day);
  });
  await runDurableObjectAlarm(stub);

  const counts = await runInDurableObject(stub, (_h, state) => ({
    logs: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM logs").one().n,
    // FTS5's own check: the index holds exactly the rows of the table (throws otherwise).
    integrity: state.storage.sql.exec("INSERT INTO logs_fts (logs_fts) VALUES ('integrity-check')").toArray().length,
  }));
  expect(counts.logs).toBe(200);
  expect(counts.integrity).toBe(0);
  const all = await call("GET", `/logs?device_id=${t.deviceId}&limit=1000`, { token: t.viewerKey });
  expect(all.json.logs.length).toBe(200);
  const searched = await call("GET", `/logs?device_id=${t.deviceId}&limit=1000&q=user`, { token: t.viewerKey });
  for (const l of searched.json.logs) expect(l.timestamp_us).toBeGreaterThan(now - 7 * day);
});
