// A project's storage_bytes follows what is written to R2 and deleted from it, where it happens:
// a session file adds its bytes when it is stored and gives them back when it is deleted; a log
// shard's archive adds each object it writes and gives back what retention deletes, owed with
// the shard's other counts (exactly once). Nothing lists R2 to count it. The org's storage is
// one figure in the org's own hub, which every project's changes reach: an upload's quota check
// asks it alone, and it stays the sum of the projects' own figures.
import { createExecutionContext, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ORG_REPORT } from "../../durable-objects/org-storage";
import worker from "../../src/index";
import { CRON } from "../../src/jobs/schedule";
import { orgHub, projectHub } from "../../src/stubs/project-hub";
import { counted } from "../support/counted";
import { shardOf } from "../support/hot-lines";
import { runJobs } from "../support/jobs";
import { settle } from "../support/settle";
import { call, ingest, loghubLines, newDevice, newProject, tenant } from "./helpers";

/** Runs a device's log shard's retention now, with a hot window of `days` (as a tier change would set). */
async function runRetention(deviceId: string, days = 1) {
  const stub = await shardOf(deviceId);
  await runInDurableObject(stub, (shard, state) => {
    state.storage.kv.put("retention", [days, 365]);
    (shard as unknown as { retention: { lastRun: number } }).retention.lastRun = 0;
  });
  await runDurableObjectAlarm(stub);
  return stub;
}

/** The compressed bytes a device's log shard holds in R2. */
const archivedBytes = async (deviceId: string) =>
  runInDurableObject(
    await shardOf(deviceId),
    (_h, s) => s.storage.sql.exec<{ n: number }>("SELECT coalesce(sum(gz_bytes), 0) AS n FROM archive_objects").one().n,
  );

/** Makes every archive object of a device's shard 400 days older, then runs its retention. */
async function ageArchive(deviceId: string) {
  await runInDurableObject(await shardOf(deviceId), (_h, s) =>
    s.storage.sql.exec("UPDATE archive_objects SET min_ts = min_ts - ?, max_ts = max_ts - ?", 400 * DAY, 400 * DAY),
  );
  await runRetention(deviceId);
}

const DAY = 86_400_000_000; // µs

describe("storage_bytes", () => {
  it("follows files and archived logs as they are written and deleted, with no R2 listing", async () => {
    const t = await tenant();
    const storage = async () =>
      (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json.storage_bytes;
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "run", name: "run" } });
    const put = await call("PUT", "/sessions/run/artifacts/a.bin", {
      token: t.deviceKey,
      raw: new Uint8Array(1000),
      headers: { "content-length": "1000" },
    });
    expect(put.status).toBe(201);
    expect(await storage()).toBe(1000);

    // Ten-day-old lines, then a one-day window: they go to the archive.
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 300, { endUs: Date.now() * 1000 - 10 * DAY }) });
    await runRetention(t.deviceId);
    const archived = await archivedBytes(t.deviceId);
    expect(archived).toBeGreaterThan(0);
    expect(await storage()).toBe(1000 + archived);
    // An hourly run changes nothing: it does not count R2.
    await runJobs(CRON.hourly, Date.now());
    expect(await storage()).toBe(1000 + archived);

    expect((await call("DELETE", "/sessions/run/files?path=a.bin", { token: t.adminKey })).status).toBe(204);
    expect(await storage()).toBe(archived);

    // Past the archive's retention the objects go, and their bytes with them.
    await ageArchive(t.deviceId);
    expect(await storage()).toBe(0);
  });
});

/** Stores `size` bytes as `path` in a session of the device's own. */
async function putFile(deviceKey: string, session: string, path: string, size: number, fetcher = call) {
  await call("POST", "/sessions", { token: deviceKey, body: { session_id: session, name: session } });
  const res = await fetcher("PUT", `/sessions/${session}/artifacts/${path}`, {
    token: deviceKey,
    raw: new Uint8Array(size),
    headers: { "content-length": String(size) },
  });
  expect(res.status).toBe(201);
}

/** Archives a device's lines (ten days old, then a one-day window); answers the bytes its archive holds. */
async function archiveLines(deviceKey: string, deviceId: string): Promise<number> {
  await ingest(deviceKey, { logs: loghubLines("HDFS", 300, { endUs: Date.now() * 1000 - 10 * DAY }) });
  await runRetention(deviceId);
  await settle(deviceId);
  return archivedBytes(deviceId);
}

describe("the org's storage", () => {
  const delay = ORG_REPORT.delayMs;
  afterEach(() => {
    ORG_REPORT.delayMs = delay;
  });

  it("is read from one object by an upload's quota check, however many projects the org has", async () => {
    const t = await tenant();
    const others: string[] = [];
    for (let i = 0; i < 3; i++) {
      const projectId = await newProject(t.adminKey, `stored ${i}`);
      const device = await newDevice(t.adminKey, projectId);
      await putFile(device.deviceKey, "s", "f.bin", 100 * (i + 1));
      others.push(projectId);
    }
    for (let i = 0; i < 10; i++) others.push(await newProject(t.adminKey, `empty ${i}`));

    // The upload, through the Worker with its bindings watched.
    const { env: watched, counts } = counted(env);
    const viaWatched = async (
      method: string,
      path: string,
      opts: { token: string; raw: Uint8Array; headers: Record<string, string> },
    ) => {
      const res = await worker.fetch(
        new Request(`http://fleetbeat.test/api/v1${path}`, {
          method,
          body: opts.raw,
          headers: { ...opts.headers, authorization: `Bearer ${opts.token}` },
        }),
        watched,
        createExecutionContext(),
      );
      return { status: res.status };
    };
    await putFile(t.deviceKey, "run", "a.bin", 50, viaWatched as typeof call);
    const calls = counts().calls;
    expect(calls.filter((c) => c.startsWith("org:"))).toEqual([`org:${t.orgId}.orgStorageBytes`]);
    expect(calls.filter((c) => others.some((p) => c.startsWith(`${p}.`)))).toEqual([]);
    expect(await orgHub(env, t.orgId).orgStorageBytes()).toBe(100 + 200 + 300 + 50);
  });

  it("stays the sum of its projects' through file deletes, archive changes, a stale report and a deleted project", async () => {
    const t = await tenant();
    const b = await newProject(t.adminKey, "b");
    const bDevice = await newDevice(t.adminKey, b);
    const org = () => orgHub(env, t.orgId).orgStorageBytes();
    const project = async (id: string) => (await projectHub(env, id).storageReport()).bytes;
    const sum = async () => (await project(t.projectId)) + (await project(b));

    await putFile(t.deviceKey, "run", "a.bin", 1000);
    await putFile(bDevice.deviceKey, "run", "b.bin", 500);
    expect(await org()).toBe(1500);

    // Archive changes reach the org's hub by the project's alarm, at once here.
    ORG_REPORT.delayMs = 0;
    const archived = await archiveLines(t.deviceKey, t.deviceId);
    expect(archived).toBeGreaterThan(0);
    await vi.waitUntil(async () => (await org()) === 1500 + archived);
    expect(await org()).toBe(await sum());

    expect((await call("DELETE", "/sessions/run/files?path=a.bin", { token: t.adminKey })).status).toBe(204);
    expect(await org()).toBe(500 + archived);

    // A report from before, delivered late, changes nothing.
    await orgHub(env, t.orgId).reportStorage(t.projectId, { version: 1, bytes: 1e9 });
    expect(await org()).toBe(500 + archived);

    // Past the archive's retention the objects go, and the org's figure with them.
    await ageArchive(t.deviceId);
    await settle(t.deviceId);
    await vi.waitUntil(async () => (await org()) === 500);
    expect(await org()).toBe(await sum());

    // A deleted project leaves the figure, and nothing it reports later brings it back.
    expect((await call("DELETE", `/projects/${b}`, { token: t.adminKey })).status).toBe(200);
    expect(await org()).toBe(0);
    await projectHub(env, b).addStorage(700);
    expect(await org()).toBe(0);
  });

  it("counts what projects held before the org's hub kept the figure", async () => {
    const t = await tenant();
    // Bytes a project's object counted before it reported to its org (an older deployment).
    await runInDurableObject(projectHub(env, t.projectId), (_h, s) => s.storage.kv.put("storage_bytes", 4242));
    expect(await orgHub(env, t.orgId).orgStorageBytes()).toBe(4242);
    await putFile(t.deviceKey, "run", "a.bin", 8);
    expect(await orgHub(env, t.orgId).orgStorageBytes()).toBe(4250);
  });
});
