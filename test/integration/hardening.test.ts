// Defects an attack pass found, each pinned by the behaviour that was wrong.
import { listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deviceHub } from "../../src/stubs/device-hub";
import { settle } from "../support/settle";
import { call, ingest, line, loghubLines, newDevice, newKey, openSocket, tailTicket, tenant } from "./helpers";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const madeUpId = (prefix: string) =>
  `${prefix}_${Array.from(crypto.getRandomValues(new Uint8Array(26)), (b) => CROCKFORD[b & 31]).join("")}`;
const hex64 = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("");
const ids = async (ns: DurableObjectNamespace) => new Set((await listDurableObjectIds(ns)).map((id) => id.toString()));

describe("forged credentials create nothing", () => {
  it("a well-formed but made-up device key is refused before any device object is addressed", async () => {
    const before = await ids(env.DEVICE_HUB);
    const forged = Array.from({ length: 20 }, () => madeUpId("dev"));
    for (const deviceId of forged) {
      const res = await call("POST", "/fleet/heartbeat", { token: `fbd_${deviceId}.${hex64()}`, body: {} });
      expect(res.status).toBe(401);
    }
    const after = await ids(env.DEVICE_HUB);
    for (const deviceId of forged) expect(after.has(env.DEVICE_HUB.idFromName(deviceId).toString())).toBe(false);
    expect(after.size).toBe(before.size);
  });

  it("a made-up live-tail ticket is refused before any project object is addressed", async () => {
    const before = await ids(env.PROJECT_HUB);
    const forged = Array.from({ length: 10 }, () => madeUpId("prj"));
    for (const projectId of forged) {
      const res = await openSocket(`/logs/stream?ticket=${projectId}.fbt_${hex64()}`);
      expect(res.status).toBe(401);
    }
    const after = await ids(env.PROJECT_HUB);
    for (const projectId of forged) expect(after.has(env.PROJECT_HUB.idFromName(projectId).toString())).toBe(false);
    expect(after.size).toBe(before.size);
  });

  it("a real device's id with a made-up secret is refused too", async () => {
    const t = await tenant();
    expect((await call("POST", "/fleet/heartbeat", { token: `fbd_${t.deviceId}.${hex64()}`, body: {} })).status).toBe(
      401,
    );
    expect((await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} })).status).toBe(200);
  });
});

describe("a deleted project stays deleted", () => {
  it("its sessions and logs never come back, and its devices' objects wipe what they held", async () => {
    const t = await tenant();
    expect((await ingest(t.deviceKey, { session_id: "run-gone", logs: loghubLines("HDFS", 30) })).json.accepted).toBe(
      30,
    );
    await settle(t.deviceId);
    expect((await call("DELETE", `/projects/${t.projectId}`, { token: t.adminKey })).status).toBe(200);

    // The next request of every kind is refused.
    expect((await ingest(t.deviceKey, { session_id: "run-gone", logs: [line("INFO", "after")] })).status).toBe(401);
    // The device's alarm runs (once to wipe, and again as a late flush would): nothing is written back.
    const stub = deviceHub(env, t.deviceId);
    await runDurableObjectAlarm(stub);
    await runDurableObjectAlarm(stub);
    expect(await runInDurableObject(stub, (_h, state) => state.storage.kv.get("device"))).toBeUndefined();

    expect((await call("GET", "/sessions", { token: t.adminKey })).json.sessions).toEqual([]);
    expect((await call("GET", `/logs?session_id=run-gone`, { token: t.adminKey })).status).toBe(404);
    expect((await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.adminKey })).status).toBe(404);
  });

  it("closes the project's live tails at once, and its unused tickets open nothing", async () => {
    const t = await tenant();
    const viewer = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}`);
    const closed = new Promise<number>((r) => viewer.ws!.addEventListener("close", (e) => r(e.code)));
    const unused = await tailTicket(t.viewerKey, t.projectId);
    await call("DELETE", `/projects/${t.projectId}`, { token: t.adminKey });
    expect(await closed).toBe(4001);
    expect((await openSocket(`/logs/stream?ticket=${unused}`)).status).toBe(401);
  });
});

describe("session ownership is decided once", () => {
  it("two devices naming the same new session at once: one gets 200, the other 409, every round", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    for (let round = 0; round < 10; round++) {
      const session_id = `race-${round}`;
      const [a, b] = await Promise.all([
        ingest(t.deviceKey, { session_id, logs: [line("INFO", "a")] }),
        ingest(other.deviceKey, { session_id, logs: [line("INFO", "b")] }),
      ]);
      expect([a.status, b.status].sort()).toEqual([200, 409]);
      const session = await call("GET", `/sessions/${session_id}`, { token: t.viewerKey });
      expect(session.json.session.total_logs).toBe(1);
      expect((await call("GET", `/logs?session_id=${session_id}`, { token: t.viewerKey })).json.logs).toHaveLength(1);
    }
  });

  it("POST /sessions raced by two devices, then retried: the loser gets 409 every time and keeps its own current session", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    for (let round = 0; round < 5; round++) {
      const session_id = `opened-${round}`;
      const open = (key: string) => call("POST", "/sessions", { token: key, body: { session_id } });
      const [a, b] = await Promise.all([open(t.deviceKey), open(other.deviceKey)]);
      expect([a.status, b.status].sort()).toEqual([201, 409]);
      const loser = a.status === 409 ? t : other;
      const [again1, again2] = await Promise.all([open(loser.deviceKey), open(loser.deviceKey)]);
      expect([again1.status, again2.status]).toEqual([409, 409]);
      const device = await call("GET", `/fleet/devices/${loser.deviceId}`, { token: t.viewerKey });
      expect(device.json.device.current_session_id).not.toBe(session_id);
    }
  });

  it("a heartbeat naming another device's session is refused", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    expect((await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "mine" } })).status).toBe(201);
    const res = await call("POST", "/fleet/heartbeat", { token: other.deviceKey, body: { session_id: "mine" } });
    expect(res.status).toBe(409);
    expect(
      (await call("GET", `/fleet/devices/${other.deviceId}`, { token: t.viewerKey })).json.device.current_session_id,
    ).toBeNull();
  });
});

describe("revocation reaches the live tail", () => {
  it("an open tail closes when its key is revoked, and the key's unused tickets open nothing", async () => {
    const t = await tenant();
    const viewerKey = await newKey(t.adminKey, "viewer");
    const viewer = await openSocket(`/logs/stream?ticket=${await tailTicket(viewerKey, t.projectId)}`);
    await viewer.until((f) => f.some((x) => x.type === "ready"));
    const closed = new Promise<number>((r) => viewer.ws!.addEventListener("close", (e) => r(e.code)));
    const unused = await tailTicket(viewerKey, t.projectId);
    const untouched = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}`);

    const keyId = (await call("GET", "/keys", { token: t.adminKey })).json.keys.find(
      (k: { id: string; prefix: string }) => viewerKey.startsWith(k.prefix) && k.id,
    ).id;
    expect((await call("DELETE", `/keys/${keyId}`, { token: t.adminKey })).status).toBe(200);
    expect(await closed).toBe(4001);
    expect((await openSocket(`/logs/stream?ticket=${unused}`)).status).toBe(401);

    // Another key's tail goes on.
    await ingest(t.deviceKey, { logs: [line("INFO", "still watched")] });
    await untouched.until((f) => f.some((x) => x.type === "logs"));
    untouched.ws!.close();
  });
});

describe("a viewer that never acknowledges", () => {
  it("is told what it missed and closed with 4008 once it passes the cap", async () => {
    const t = await tenant();
    const viewer = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}`);
    await viewer.until((f) => f.some((x) => x.type === "ready"));
    expect(viewer.frames[0].flow.unacked_cap_bytes).toBe(4 * 1024 * 1024);
    const closed = new Promise<number>((r) => viewer.ws!.addEventListener("close", (e) => r(e.code)));
    // Long lines, so a few batches pass the cap.
    const long = (i: number) => line("INFO", `${i} `.padEnd(15_000, "x"));
    let code: number | null = null;
    void closed.then((c) => (code = c));
    for (let batch = 0; batch < 10 && code === null; batch++) {
      await ingest(t.deviceKey, { logs: Array.from({ length: 100 }, (_, i) => long(batch * 100 + i)) });
      await settle(t.deviceId);
    }
    expect(await closed).toBe(4008);
    expect(viewer.frames.at(-1).type).toBe("dropped");
  });
});

describe("credentials of the other kind", () => {
  it("answer 401 when revoked or unknown, 403 only when live", async () => {
    const t = await tenant();
    const viewerKey = await newKey(t.adminKey, "viewer");
    expect((await call("POST", "/fleet/heartbeat", { token: viewerKey, body: {} })).status).toBe(403);
    const keyId = (await call("GET", "/keys", { token: t.adminKey })).json.keys.find((k: { prefix: string }) =>
      viewerKey.startsWith(k.prefix),
    ).id;
    await call("DELETE", `/keys/${keyId}`, { token: t.adminKey });
    expect((await call("POST", "/fleet/heartbeat", { token: viewerKey, body: {} })).status).toBe(401);
    expect((await call("POST", "/fleet/heartbeat", { token: `fbk_${hex64()}`, body: {} })).status).toBe(401);

    expect((await call("GET", "/projects", { token: t.deviceKey })).status).toBe(403);
    await call("DELETE", `/fleet/devices/${t.deviceId}`, { token: t.adminKey });
    expect((await call("GET", "/projects", { token: t.deviceKey })).status).toBe(401);
    expect((await call("GET", "/projects", { token: `fbd_${madeUpId("dev")}.${hex64()}` })).status).toBe(401);
    expect((await call("POST", "/orgs", { token: `fbk_${hex64()}`, body: { name: "x" } })).status).toBe(401);
  });
});
