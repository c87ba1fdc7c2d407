// A project's storage_bytes follows what is written to R2 and deleted from it, where it happens:
// a session file adds its bytes when it is stored and gives them back when it is deleted; a
// device's archive adds each object it writes and gives back what retention deletes, owed with
// the device's other counts (exactly once). Nothing lists R2 to count it.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CRON } from "../../src/jobs/schedule";
import { runJobs } from "../support/jobs";
import { deviceHub } from "../../src/stubs/device-hub";
import { call, ingest, loghubLines, tenant } from "./helpers";
import { rewriteDeviceState } from "../support/device-state";

const DAY = 86_400_000_000; // µs

describe("storage_bytes", () => {
  it("follows files and archived logs as they are written and deleted, with no R2 listing", async () => {
    const t = await tenant();
    const storage = async () => (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json.storage_bytes;
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "run", name: "run" } });
    const put = await call("PUT", "/sessions/run/artifacts/a.bin", { token: t.deviceKey, raw: new Uint8Array(1000), headers: { "content-length": "1000" } });
    expect(put.status).toBe(201);
    expect(await storage()).toBe(1000);

    // Ten-day-old lines, then a one-day window: they go to the archive.
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 300, { endUs: Date.now() * 1000 - 10 * DAY }) });
    const stub = deviceHub(env, t.deviceId);
    await rewriteDeviceState(stub, (s) => ({ ...s, hotWindowDays: 1 }));
    await runDurableObjectAlarm(stub);
    const archived = await runInDurableObject(stub, (_h, s) => s.storage.sql.exec<{ n: number }>("SELECT coalesce(sum(gz_bytes), 0) AS n FROM archive_chunks").one().n);
    expect(archived).toBeGreaterThan(0);
    expect(await storage()).toBe(1000 + archived);
    // An hourly run changes nothing: it does not count R2.
    await runJobs(CRON.hourly, Date.now());
    expect(await storage()).toBe(1000 + archived);

    expect((await call("DELETE", "/sessions/run/files?path=a.bin", { token: t.adminKey })).status).toBe(204);
    expect(await storage()).toBe(archived);

    // Past the archive's retention the objects go, and their bytes with them.
    await runInDurableObject(stub, (_h, s) => s.storage.sql.exec("UPDATE archive_chunks SET min_ts = min_ts - ?, max_ts = max_ts - ?", 400 * DAY, 400 * DAY));
    await rewriteDeviceState(stub, (s) => ({ ...s, prunedAt: 0 }));
    await runDurableObjectAlarm(stub);
    expect(await storage()).toBe(0);
  });
});
