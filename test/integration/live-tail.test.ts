import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { projectHub } from "../../src/stubs/project-hub";
import { settle } from "../support/settle";
import { call, ingest, line, loghubLines, newDevice, openSocket, tailTicket, tenant } from "./helpers";

const logsIn = (frames: any[]) => frames.filter((f) => f.type === "logs").flatMap((f) => f.logs);

describe("live tail", () => {
  it("tickets are single use, short-lived and org-scoped", async () => {
    const t = await tenant();
    const res = await call("POST", "/logs/stream/ticket", { token: t.viewerKey, body: { project_id: t.projectId } });
    expect(res.status).toBe(200);
    const ttl = Date.parse(res.json.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const first = await openSocket(`/logs/stream?ticket=${res.json.ticket}`);
    expect(first.status).toBe(101);
    const second = await openSocket(`/logs/stream?ticket=${res.json.ticket}`);
    expect(second.status).toBe(401);
    expect(second.json.error.code).toBe("unauthorized");
    expect((await openSocket(`/logs/stream?ticket=garbage`)).status).toBe(401);

    const stranger = await tenant();
    expect(
      (await call("POST", "/logs/stream/ticket", { token: stranger.viewerKey, body: { project_id: t.projectId } }))
        .status,
    ).toBe(404);
    expect(
      (await call("POST", "/logs/stream/ticket", { token: t.deviceKey, body: { project_id: t.projectId } })).status,
    ).toBe(403);
    first.ws!.close();
  });

  it("delivers only matching lines, and filters change without reconnecting", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    const ticket = await tailTicket(t.viewerKey, t.projectId);
    const viewer = await openSocket(`/logs/stream?ticket=${ticket}&device_id=${t.deviceId}&level=ERROR,FATAL`);
    await viewer.until((f) => f.some((x) => x.type === "ready"));

    await ingest(other.deviceKey, { logs: [line("ERROR", "other device")] });
    await ingest(t.deviceKey, {
      logs: [line("INFO", "fine"), line("ERROR", "wheel jam"), line("FATAL", "shutdown")],
    });
    await viewer.until((f) => logsIn(f).length >= 2);
    expect(logsIn(viewer.frames).map((l) => l.message)).toEqual(["wheel jam", "shutdown"]);
    expect(logsIn(viewer.frames)[0]).toMatchObject({
      device_id: t.deviceId,
      level: "ERROR",
      id: expect.any(String),
      timestamp: expect.any(String),
    });

    viewer.send({ type: "filter", q: "dock" });
    await viewer.until((f) => f.some((x) => x.type === "filter"));
    await ingest(other.deviceKey, { logs: [line("INFO", "arrived at dock 4"), line("INFO", "leaving")] });
    await viewer.until((f) => logsIn(f).length >= 3);
    expect(logsIn(viewer.frames).map((l) => l.message)).toEqual(["wheel jam", "shutdown", "arrived at dock 4"]);

    // The nested form the server echoes works too; the filter now wants WARN only.
    viewer.send({ type: "filter", filter: { level: ["WARN"] } });
    await viewer.until((f) => f.filter((x) => x.type === "filter").length === 2);
    expect(viewer.frames.filter((x) => x.type === "filter").at(-1).filter).toEqual({ level: ["WARN"] });
    viewer.send({ type: "filter", level: ["LOUD"] });
    viewer.send({ type: "filter", levels: ["WARN"] }); // a misspelt key is an error, not "everything"
    await viewer.until((f) => f.filter((x) => x.type === "error").length === 2);
    expect(viewer.frames.filter((x) => x.type === "error").map((x) => x.error.code)).toEqual([
      "validation_failed",
      "validation_failed",
    ]);
    viewer.ws!.close();
  });

  it("a slow viewer is told how many lines it missed and never holds up ingest or other viewers", async () => {
    const t = await tenant();
    // The slow viewer allows 2 unacknowledged frames and never acknowledges until the end.
    const slow = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}&window=2`);
    const fast = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}`);
    await slow.until((f) => f.some((x) => x.type === "ready"));
    await fast.until((f) => f.some((x) => x.type === "ready"));

    for (let i = 0; i < 6; i++) {
      const res = await ingest(t.deviceKey, { logs: loghubLines("HDFS", 50, { offset: i * 50 }) });
      expect(res.json.accepted).toBe(50);
      await settle(t.deviceId);
      // The fast viewer acknowledges everything it gets.
      const lastSeq = fast.frames.filter((f) => f.type === "logs").at(-1)?.seq;
      if (lastSeq) fast.send({ type: "ack", seq: lastSeq });
    }
    await fast.until((f) => logsIn(f).length === 300);
    const slowFrames = slow.frames.filter((f) => f.type === "logs");
    expect(slowFrames.length).toBe(2);
    const received = logsIn(slow.frames).length;
    expect(received).toBe(100);

    // It was told at once that it fell behind, without having to acknowledge anything.
    const droppedSum = (frames: any[]) => frames.filter((f) => f.type === "dropped").reduce((n, f) => n + f.count, 0);
    expect(droppedSum(slow.frames)).toBeGreaterThan(0);

    // Acknowledging brings the rest of the count: every line is either received or reported.
    slow.send({ type: "ack", seq: slowFrames.at(-1).seq });
    await slow.until((f) => droppedSum(f) === 300 - received);
    slow.ws!.close();
    fast.ws!.close();
  });

  it("a viewer that never acknowledges keeps receiving past a megabyte", async () => {
    const t = await tenant();
    const viewer = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}`);
    await viewer.until((f) => f.some((x) => x.type === "ready"));
    for (let i = 0; i < 5; i++) await ingest(t.deviceKey, { logs: loghubLines("Android", 1000, { offset: i * 1000 }) });
    await viewer.until((f) => logsIn(f).length === 5000);
    const bytes = viewer.frames.filter((f) => f.type === "logs").reduce((n, f) => n + JSON.stringify(f).length, 0);
    expect(bytes).toBeGreaterThan(1024 * 1024);
    expect(viewer.frames.some((f) => f.type === "dropped")).toBe(false);
    viewer.ws!.close();
  });

  it("a viewer that stays behind hears of later losses within about a second, without acknowledging", async () => {
    const t = await tenant();
    const viewer = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}&window=1`);
    await viewer.until((f) => f.some((x) => x.type === "ready"));
    for (let i = 0; i < 3; i++) {
      await ingest(t.deviceKey, { logs: loghubLines("Apache", 50, { offset: i * 50 }) });
      await settle(t.deviceId);
    }
    const dropped = (f: any[]) => f.filter((x) => x.type === "dropped").reduce((n, x) => n + x.count, 0);
    await viewer.until((f) => dropped(f) === 50); // the first loss is reported at once
    await new Promise((r) => setTimeout(r, 1100));
    await runDurableObjectAlarm(projectHub(env, t.projectId));
    await viewer.until((f) => dropped(f) === 100); // the next one by the project's alarm
    expect(logsIn(viewer.frames).length).toBe(50);
    viewer.ws!.close();
  });

  it("what a viewer that fell behind missed is in GET /logs from its last line on (the dashboard reads it back there)", async () => {
    const t = await tenant();
    const viewer = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}&window=1`);
    await viewer.until((f) => f.some((x) => x.type === "ready"));
    const start = Date.now() * 1000 - 10_000_000;
    for (let i = 0; i < 4; i++) {
      await ingest(t.deviceKey, {
        logs: loghubLines("Apache", 50, { offset: i * 50, endUs: start + (i + 1) * 100_000 }),
      });
      await settle(t.deviceId);
    }
    // One frame came; acknowledging it brings the count of the rest.
    const got = logsIn(viewer.frames);
    expect(got).toHaveLength(50);
    viewer.send({ type: "ack", seq: viewer.frames.filter((f) => f.type === "logs").at(-1).seq });
    const dropped = (f: any[]) => f.filter((x) => x.type === "dropped").reduce((n, x) => n + x.count, 0);
    await viewer.until((f) => dropped(f) === 150);

    const held = new Set(got.map((l) => l.id));
    const from = encodeURIComponent(got.at(-1).timestamp);
    const read = await call("GET", `/logs?project_id=${t.projectId}&from=${from}&limit=1000`, { token: t.viewerKey });
    expect(read.status).toBe(200);
    expect(read.json.logs.filter((l: any) => !held.has(l.id))).toHaveLength(150);
    viewer.ws!.close();
  });

  it("a viewer that connects to a quiet project gets every line accepted after it connected", async () => {
    const t = await tenant();
    // Nobody watches: the device learns it and stops sending lines to the project.
    await ingest(t.deviceKey, { logs: [line("INFO", "before anyone watched")] });
    await settle(t.deviceId);
    const viewer = await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}`);
    await viewer.until((f) => f.some((x) => x.type === "ready"));
    await ingest(t.deviceKey, { logs: [line("INFO", "first line watched")] });
    await ingest(t.deviceKey, { logs: [line("INFO", "second line watched")] });
    await viewer.until((f) => logsIn(f).length >= 2);
    expect(logsIn(viewer.frames).map((l) => l.message)).toEqual(["first line watched", "second line watched"]);
    viewer.ws!.close();
  });

  it("holds 100 viewers on one project", async () => {
    const t = await tenant();
    const viewers = [];
    for (let i = 0; i < 100; i++)
      viewers.push(await openSocket(`/logs/stream?ticket=${await tailTicket(t.viewerKey, t.projectId)}`));
    await Promise.all(viewers.map((v) => v.until((f) => f.some((x) => x.type === "ready"))));
    await ingest(t.deviceKey, { logs: loghubLines("Zookeeper", 20) });
    await Promise.all(viewers.map((v) => v.until((f) => logsIn(f).length === 20)));
    for (const v of viewers) v.ws!.close();
  });

  it("refuses plain HTTP and bad filters before upgrading", async () => {
    const t = await tenant();
    const ticket = await tailTicket(t.viewerKey, t.projectId);
    expect((await call("GET", `/logs/stream?ticket=${ticket}`)).status).toBe(400);
    expect((await openSocket(`/logs/stream?ticket=${ticket}&level=LOUD`)).status).toBe(400);
  });
});
