import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { projectHub } from "../../src/stubs/project-hub";
import { hotLineIds, shardOf } from "../support/hot-lines";
import { settle } from "../support/settle";
import { call, ingest, loghubLines, newDevice, newOrg, newProject, tenant } from "./helpers";

it("lines older than the hot window leave the hot store and its full-text index for the archive, where queries still find them", async () => {
  const t = await tenant();
  const day = 86_400_000_000; // µs
  const now = Date.now() * 1000;
  await ingest(t.deviceKey, { logs: loghubLines("OpenSSH", 300, { endUs: now - 6 * day }) });
  await ingest(t.deviceKey, { logs: loghubLines("OpenSSH", 200, { endUs: now - 1000, offset: 300 }) });
  const stub = await shardOf(t.deviceId);
  const before = await call("GET", `/logs?device_id=${t.deviceId}&limit=1000&q=user`, { token: t.viewerKey });
  // A five-day window, as a tier change would set: the first batch is now past it.
  await runInDurableObject(stub, (_s, state) => state.storage.kv.put("retention", [5, 365]));
  await runDurableObjectAlarm(stub);

  const counts = await runInDurableObject(stub, (_h, state) => ({
    archived: state.storage.sql.exec<{ n: number }>("SELECT coalesce(sum(lines), 0) AS n FROM archive_objects").one().n,
    // FTS5's own check of the chunks' index (throws when it is corrupt).
    integrity: state.storage.sql.exec("INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check')").toArray()
      .length,
  }));
  expect(counts).toEqual({ archived: 300, integrity: 0 });
  expect((await hotLineIds(t.deviceId)).length).toBe(200);
  const all = await call("GET", `/logs?device_id=${t.deviceId}&limit=1000`, { token: t.viewerKey });
  expect(all.json.logs.length).toBe(500);
  expect(new Set(all.json.logs.map((l: { id: string }) => l.id)).size).toBe(500);
  const searched = await call("GET", `/logs?device_id=${t.deviceId}&limit=1000&q=user`, { token: t.viewerKey });
  expect(searched.json.logs).toEqual(before.json.logs);
});

it("each tier keeps lines for its own hot retention, and a device hears of a new tier from its project", async () => {
  const day = 86_400_000_000; // µs
  const tenDaysAgo = Date.now() * 1000 - 10 * day;
  const line = { timestamp_us: tenDaysAgo, level: "INFO", module: "nav", message: "ten days old" };
  const { orgId, adminKey } = await newOrg("free");
  const projectId = await newProject(adminKey);
  const device = await newDevice(adminKey, projectId);
  const onFree = await ingest(device.deviceKey, { logs: [line, { ...line, timestamp_us: Date.now() * 1000 - 1000 }] });
  expect(onFree.json.accepted).toBe(1);
  expect(onFree.json.rejected).toEqual([{ index: 0, reason: "timestamp: older than the hot window" }]);

  // The org moves to pro (14 days): the device hears it with its next delivery's answer.
  expect((await call("PATCH", `/orgs/${orgId}`, { token: env.ADMIN_TOKEN, body: { tier: "pro" } })).status).toBe(200);
  await runInDurableObject(
    projectHub(env, projectId),
    (hub) => ((hub as unknown as { quota: { tier?: unknown } }).quota.tier = undefined),
  );
  await ingest(device.deviceKey, { logs: [{ ...line, timestamp_us: Date.now() * 1000 - 1000 }] });
  await settle(device.deviceId);
  expect((await ingest(device.deviceKey, { logs: [line] })).json.accepted).toBe(1);
});
