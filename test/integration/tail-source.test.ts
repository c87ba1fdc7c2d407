// The live tail filters at the source (issue 22): a viewer's filter travels to the devices it
// concerns, each device ships a viewer group only the lines one of its viewers wants, and many
// viewers of a project spread over viewer groups. What a device ships is counted in its object
// (DeviceHub[TAIL_SHIPPED]): the calls that carried lines and the lines they carried.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { type DeviceHub, LIVE } from "../../durable-objects/device-hub/hub";
import { TAIL_SHIPPED } from "../../durable-objects/device-hub/tail";
import { FAN_IN } from "../../src/contract/fan-in";
import { TAIL_GROUPS, tailGroupName } from "../../src/contract/tail-plan";
import { deviceHub } from "../../src/stubs/device-hub";
import { projectHub } from "../../src/stubs/project-hub";
import { tailGroup } from "../../src/stubs/tail-group";
import { settle, settleFanIn } from "../support/settle";
import { call, ingest, line, loghubLines, newDevice, openSocket, tailTicket, tenant } from "./helpers";

const logsIn = (frames: any[]) => frames.filter((f) => f.type === "logs").flatMap((f) => f.logs);
const shipped = (deviceId: string) =>
  runInDurableObject(deviceHub(env, deviceId), (hub: DeviceHub) => hub[TAIL_SHIPPED]());
const ready = (frames: any[]) => frames.some((f) => f.type === "ready");
/** Viewers each group of the project holds now. */
const groupLoads = (projectId: string, groups: number) =>
  Promise.all(
    Array.from({ length: groups }, (_, i) =>
      runInDurableObject(tailGroup(env, tailGroupName(projectId, i)), (_g, state) => state.getWebSockets().length),
    ),
  );

/** Waits until the device is told it is no longer live (its heartbeat's answer says so). */
async function untilNotLive(deviceKey: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await call("POST", "/fleet/heartbeat", { token: deviceKey, body: {} })).json.live) {
    if (Date.now() > deadline) throw new Error("the device stayed live");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("the live tail filters at the source", () => {
  it("a viewer of one device receives only that device's lines, and other devices ship nothing", async () => {
    const t = await tenant();
    const others = [await newDevice(t.adminKey, t.projectId), await newDevice(t.adminKey, t.projectId)];
    const viewer = await openSocket(
      `/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}&device_id=${t.deviceId}`,
    );
    await viewer.until(ready);

    const devices = [t, ...others];
    for (const [i, d] of devices.entries()) {
      for (let batch = 0; batch < 3; batch++)
        await ingest(d.deviceKey, { logs: loghubLines("HDFS", 50, { offset: i * 150 + batch * 50 }) });
    }
    for (const d of devices) await settle(d.deviceId);

    await viewer.until((f) => logsIn(f).length === 150);
    expect(new Set(logsIn(viewer.frames).map((l) => l.device_id))).toEqual(new Set([t.deviceId]));
    // The watched device shipped its 150 lines, one call a batch; the others shipped nothing at all.
    expect(await shipped(t.deviceId)).toEqual({ calls: 3, lines: 150 });
    for (const d of others) expect(await shipped(d.deviceId)).toEqual({ calls: 0, lines: 0 });
    // And they were never made live: they keep their own pace.
    for (const d of others)
      expect((await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} })).json.live).toBe(false);
    viewer.ws!.close();
  });

  it("a viewer with a level and a q filter: the device ships only the lines that match", async () => {
    const t = await tenant();
    const quiet = await newDevice(t.adminKey, t.projectId);
    const viewer = await openSocket(
      `/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}&level=ERROR,FATAL&q=jam`,
    );
    await viewer.until(ready);
    await ingest(t.deviceKey, {
      logs: [
        line("INFO", "wheel jam"),
        line("ERROR", "wheel jam"),
        line("ERROR", "battery low"),
        line("FATAL", "JAM at dock 4"),
        line("WARN", "jam ahead"),
      ],
    });
    await ingest(quiet.deviceKey, { logs: [line("INFO", "jam"), line("ERROR", "nothing to see")] });
    await viewer.until((f) => logsIn(f).length >= 2);
    expect(logsIn(viewer.frames).map((l) => l.message)).toEqual(["wheel jam", "JAM at dock 4"]);
    expect(await shipped(t.deviceId)).toEqual({ calls: 1, lines: 2 });
    expect(await shipped(quiet.deviceId)).toEqual({ calls: 0, lines: 0 });

    // A new filter travels too: the device ships what it wants from then on.
    viewer.send({ type: "filter", level: ["INFO"] });
    await viewer.until((f) => f.some((x) => x.type === "filter"));
    await ingest(t.deviceKey, { logs: [line("INFO", "rolling"), line("ERROR", "wheel jam")] });
    await viewer.until((f) => logsIn(f).length >= 3);
    expect(logsIn(viewer.frames).at(-1).message).toBe("rolling");
    expect(await shipped(t.deviceId)).toEqual({ calls: 2, lines: 3 });
    viewer.ws!.close();
  });

  describe("many viewers", () => {
    const usual = { ...TAIL_GROUPS };
    beforeEach(() => Object.assign(TAIL_GROUPS, { viewersEach: 2 }));
    afterEach(() => Object.assign(TAIL_GROUPS, usual));

    it("spread over more than one group, all receive their lines; a viewer leaving stops its devices shipping after the linger", async () => {
      LIVE.lingerMs = 1000;
      onTestFinished(() => void (LIVE.lingerMs = 60_000));
      const t = await tenant();
      const [a, b, c] = [t, await newDevice(t.adminKey, t.projectId), await newDevice(t.adminKey, t.projectId)];
      const open = async (filter: string) => {
        const v = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}${filter}`);
        await v.until(ready);
        return v;
      };
      const ofA = await open(`&device_id=${a.deviceId}`);
      const errorsOfA = await open(`&device_id=${a.deviceId}&level=ERROR`);
      const ofB = await open(`&device_id=${b.deviceId}`);
      const docks = await open(`&q=dock`);
      const everything = await open("");
      const ofC = await open(`&device_id=${c.deviceId}`);
      const loads = await groupLoads(t.projectId, 6);
      expect(loads.reduce((n, x) => n + x, 0)).toBe(6);
      expect(loads.filter((n) => n > 0).length).toBeGreaterThan(1);
      expect(Math.max(...loads)).toBeLessThanOrEqual(2);

      await ingest(a.deviceKey, { logs: [line("INFO", "a at dock 1"), line("ERROR", "a stuck")] });
      await ingest(b.deviceKey, { logs: [line("INFO", "b moving")] });
      await ingest(c.deviceKey, { logs: [line("INFO", "c at dock 2")] });
      const messages = async (v: Awaited<ReturnType<typeof open>>, n: number) => {
        await v.until((f) => logsIn(f).length >= n);
        return logsIn(v.frames)
          .map((l) => l.message)
          .sort();
      };
      expect(await messages(ofA, 2)).toEqual(["a at dock 1", "a stuck"]);
      expect(await messages(errorsOfA, 1)).toEqual(["a stuck"]);
      expect(await messages(ofB, 1)).toEqual(["b moving"]);
      expect(await messages(docks, 2)).toEqual(["a at dock 1", "c at dock 2"]);
      expect(await messages(everything, 4)).toEqual(["a at dock 1", "a stuck", "b moving", "c at dock 2"]);
      expect(await messages(ofC, 1)).toEqual(["c at dock 2"]);
      // Each device shipped each line once per group that wanted it, never a line nobody wanted.
      for (const d of [a, b, c]) expect((await shipped(d.deviceId)).lines).toBeGreaterThan(0);

      // The viewers that cover device b leave: after the linger it is no longer live, and ships nothing.
      for (const v of [ofB, docks, everything]) v.ws!.close();
      await untilNotLive(b.deviceKey);
      const before = await shipped(b.deviceId);
      await ingest(b.deviceKey, { logs: [line("INFO", "b unwatched"), line("ERROR", "b unwatched error")] });
      await settle(b.deviceId);
      expect(await shipped(b.deviceId)).toEqual(before);
      // Device a is still watched, and still ships.
      await ingest(a.deviceKey, { logs: [line("INFO", "a again")] });
      expect(await messages(ofA, 3)).toContain("a again");
      for (const v of [ofA, errorsOfA, ofC]) v.ws!.close();
    });
  });

  it("a device that restarted while watched asks what its viewers want before it ships", async () => {
    const t = await tenant();
    const viewer = await openSocket(
      `/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}&device_id=${t.deviceId}&level=ERROR`,
    );
    await viewer.until(ready);
    await ingest(t.deviceKey, { logs: [line("INFO", "routine")] });
    expect(await shipped(t.deviceId)).toEqual({ calls: 0, lines: 0 });

    // The object forgets its plan (memory only); its state still says it is live.
    await evictDurableObject(deviceHub(env, t.deviceId));
    await ingest(t.deviceKey, { logs: [line("INFO", "after restart"), line("ERROR", "wanted after restart")] });
    await viewer.until((f) => logsIn(f).length >= 1);
    expect(logsIn(viewer.frames).map((l) => l.message)).toEqual(["wanted after restart"]);
    expect(await shipped(t.deviceId)).toEqual({ calls: 1, lines: 1 });
    viewer.ws!.close();
  });

  it("a group that lost its viewers without a close tells the project at its next alarm, and their devices stop being live", async () => {
    LIVE.lingerMs = 1000;
    onTestFinished(() => void (LIVE.lingerMs = 60_000));
    const t = await tenant();
    // What the project last heard from a group whose machine went away with its sockets: no close ran.
    const lost = tailGroupName(t.projectId, 5);
    await projectHub(env, t.projectId).tailGroupChanged(lost, 1, [{ device_id: t.deviceId }]);
    expect((await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} })).json.live).toBe(true);
    // The group's alarm, set while it held the viewer, rings in its new life.
    await runInDurableObject(tailGroup(env, lost), (_g, state) => state.storage.setAlarm(Date.now()));
    await runDurableObjectAlarm(tailGroup(env, lost));
    await untilNotLive(t.deviceKey);
    await ingest(t.deviceKey, { logs: [line("ERROR", "nobody is watching")] });
    expect(await shipped(t.deviceId)).toEqual({ calls: 0, lines: 0 });
  });

  it("a viewer naming another project's device gets nothing, and that device neither ships nor goes live", async () => {
    const t = await tenant();
    const stranger = await tenant();
    const viewer = await openSocket(
      `/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}&device_id=${stranger.deviceId}`,
    );
    await viewer.until(ready);
    await ingest(stranger.deviceKey, { logs: [line("ERROR", "not yours")] });
    await settle(stranger.deviceId);
    expect(await shipped(stranger.deviceId)).toEqual({ calls: 0, lines: 0 });
    expect((await call("POST", "/fleet/heartbeat", { token: stranger.deviceKey, body: {} })).json.live).toBe(false);
    expect(logsIn(viewer.frames)).toEqual([]);
    viewer.ws!.close();
  });

  describe("through fan-in objects", () => {
    const usual = { ...FAN_IN };
    beforeEach(() => Object.assign(FAN_IN, { fromDevices: 2, devicesEach: 2, recountMs: 0 }));
    afterEach(() => Object.assign(FAN_IN, usual));

    it("a viewer of one device receives only its lines, and the other devices ship nothing", async () => {
      const t = await tenant();
      const devices = [
        t,
        await newDevice(t.adminKey, t.projectId),
        await newDevice(t.adminKey, t.projectId),
        await newDevice(t.adminKey, t.projectId),
      ];
      // Two rounds of heartbeats: the project fans in, and each device learns it from its answer.
      for (let round = 0; round < 2; round++) {
        for (const d of devices) await call("POST", "/fleet/heartbeat", { token: d.deviceKey, body: {} });
        for (const d of devices) await settle(d.deviceId);
      }
      const watched = devices[1]!;
      const viewer = await openSocket(
        `/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}&device_id=${watched.deviceId}`,
      );
      await viewer.until(ready);
      for (const [i, d] of devices.entries())
        await ingest(d.deviceKey, { logs: [line("WARN", `from device ${i}`), line("INFO", `more from ${i}`)] });
      for (const d of devices) await settle(d.deviceId);
      await settleFanIn(t.projectId, 2);
      await viewer.until((f) => logsIn(f).length >= 2);
      expect(logsIn(viewer.frames).map((l) => l.message)).toEqual(["from device 1", "more from 1"]);
      for (const d of devices) expect((await shipped(d.deviceId)).lines).toBe(d === watched ? 2 : 0);
      viewer.ws!.close();
    });
  });
});
