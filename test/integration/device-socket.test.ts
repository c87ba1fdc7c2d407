import { describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES } from "../../src/contract/frames";
import { settle } from "../support/settle";
import { call, loghubLines, openSocket, tenant } from "./helpers";

const connect = (deviceKey: string) => openSocket("/fleet/connect", { authorization: `Bearer ${deviceKey}` });
const acks = (frames: any[]) => frames.filter((f) => f.type === "ack");

describe("device WebSocket", () => {
  it("acknowledges logs like HTTP ingest: accepted, rejected and duplicate", async () => {
    const t = await tenant();
    const dev = await connect(t.deviceKey);
    expect(dev.status).toBe(101);
    const lines = loghubLines("BGL", 40);
    dev.send({ type: "logs", id: 1, batch_id: "ws-1", logs: [...lines, { level: "NOPE", message: "x" }] });
    dev.send({ type: "logs", id: 2, batch_id: "ws-1", logs: lines });
    await dev.until((f) => acks(f).length === 2);
    // Acks name their frame: the duplicate may be answered first (it waits for no delivery).
    const first = acks(dev.frames).find((a) => a.id === 1);
    const second = acks(dev.frames).find((a) => a.id === 2);
    expect(first).toMatchObject({ id: 1, of: "logs", accepted: 40, duplicate: false, rejected: [{ index: 40 }] });
    expect(second).toMatchObject({ id: 2, duplicate: true, accepted: 40 });
    const stored = await call("GET", `/logs?device_id=${t.deviceId}&limit=1000`, { token: t.viewerKey });
    expect(stored.json.logs.length).toBe(40);
    dev.ws!.close();
  });

  it("takes heartbeats and answers bad frames with an error frame, not a closed socket", async () => {
    const t = await tenant();
    const dev = await connect(t.deviceKey);
    dev.send({ type: "heartbeat", id: "h1", metrics: { cpu_usage: 5 } });
    dev.ws!.send("not json");
    dev.send({ type: "teleport" });
    dev.send({ type: "heartbeat", id: "h2", status: "sleeping" });
    dev.send({ type: "logs", id: "l1", logs: "nope" });
    await dev.until((f) => f.filter((x) => x.type === "ack" || x.type === "error").length === 5);
    expect(acks(dev.frames)[0]).toMatchObject({ id: "h1", of: "heartbeat", pending_commands: 0 });
    const errors = dev.frames.filter((f) => f.type === "error");
    expect(errors.map((e) => e.error.code)).toEqual([
      "bad_request",
      "bad_request",
      "validation_failed",
      "validation_failed",
    ]);
    expect(errors.find((e) => e.id === "h2").error.details[0].path).toBe("status");
    const device = await call("GET", `/fleet/devices/${t.deviceId}`, { token: t.viewerKey });
    expect(device.json.device).toMatchObject({ status: "online", metrics: { cpu_usage: 5 } });
    dev.ws!.close();
  });

  it("refuses a message over 1 MiB, counted in bytes before parsing, with an error frame, and stays open", async () => {
    const t = await tenant();
    const dev = await connect(t.deviceKey);
    await dev.until((f) => f.some((x) => x.type === "ready"));
    const logsFrame = (id: string, message: string) =>
      JSON.stringify({ type: "logs", id, logs: [{ level: "INFO", module: "m", message }] });
    // Refused whatever it holds: 2 MiB of ASCII; 1.8 MB of "€" in 600,000 UTF-16 units; binary one byte over.
    dev.ws!.send(logsFrame("ascii", "x".repeat(2 * MAX_FRAME_BYTES)));
    dev.ws!.send(logsFrame("euro", "€".repeat(600_000)));
    dev.ws!.send(new Uint8Array(MAX_FRAME_BYTES + 1));
    // Just under the limit, and a heartbeat after: both answered.
    const fits = logsFrame("fits", "");
    dev.ws!.send(logsFrame("fits", "y".repeat(MAX_FRAME_BYTES - fits.length)));
    dev.send({ type: "heartbeat", id: "after" });
    await dev.until((f) => f.filter((x) => x.type === "error").length === 3 && acks(f).length === 2);
    for (const e of dev.frames.filter((f) => f.type === "error")) {
      expect(e.error).toMatchObject({ code: "payload_too_large", details: { limit: MAX_FRAME_BYTES } });
      expect(e.error.details.size).toBeGreaterThan(MAX_FRAME_BYTES);
    }
    expect(dev.frames.find((f) => f.type === "error" && f.error.details.size === MAX_FRAME_BYTES + 1)).toBeDefined();
    // The refused frames stored nothing; the one that fitted is a line, which a 16,384-character message cap rejects by its index.
    expect(acks(dev.frames).find((a) => a.id === "fits")).toMatchObject({
      of: "logs",
      accepted: 0,
      rejected: [{ index: 0 }],
    });
    expect(acks(dev.frames).find((a) => a.id === "after")).toMatchObject({ of: "heartbeat" });
    expect(dev.ws!.readyState).toBe(WebSocket.OPEN);
    dev.ws!.close();
  });

  it("gets a command pushed the moment it is queued, and can acknowledge it on the socket", async () => {
    const t = await tenant();
    const dev = await connect(t.deviceKey);
    await dev.until((f) => f.some((x) => x.type === "ready"));
    const queued = await call("POST", "/fleet/commands", {
      token: t.adminKey,
      body: { device_id: t.deviceId, command: "reboot", params: { in_s: 3 } },
    });
    await dev.until((f) => f.some((x) => x.type === "command"));
    const pushed = dev.frames.find((f) => f.type === "command").command;
    expect(pushed).toMatchObject({
      id: queued.json.command.id,
      command: "reboot",
      params: { in_s: 3 },
      status: "delivered",
    });

    dev.send({ type: "command_ack", id: 9, command_id: pushed.id, status: "succeeded", result: { ok: true } });
    await dev.until((f) => acks(f).some((a) => a.id === 9));
    const history = await call("GET", `/fleet/devices/${t.deviceId}/commands/history`, { token: t.viewerKey });
    expect(history.json.commands[0].transitions.map((x: any) => x.status)).toEqual([
      "queued",
      "delivered",
      "succeeded",
    ]);
    // Pushed commands are not handed out again by the HTTP poll.
    expect((await call("GET", `/fleet/devices/${t.deviceId}/commands`, { token: t.deviceKey })).json.commands).toEqual(
      [],
    );
    dev.ws!.close();
  });

  it("delivers commands queued while the device was away as soon as it connects", async () => {
    const t = await tenant();
    await call("POST", "/fleet/commands", { token: t.adminKey, body: { device_id: t.deviceId, command: "sync" } });
    const dev = await connect(t.deviceKey);
    await dev.until((f) => f.some((x) => x.type === "command"));
    expect(dev.frames.find((f) => f.type === "command").command.command).toBe("sync");
    dev.ws!.close();
  });

  it("needs the device key, and a decommission closes the socket", async () => {
    const t = await tenant();
    expect((await openSocket("/fleet/connect")).status).toBe(401);
    expect((await openSocket("/fleet/connect", { authorization: `Bearer ${t.viewerKey}` })).status).toBe(403);
    const dev = await connect(t.deviceKey);
    const closed = new Promise<number>((r) => dev.ws!.addEventListener("close", (e) => r(e.code)));
    await call("DELETE", `/fleet/devices/${t.deviceId}`, { token: t.adminKey });
    expect(await closed).toBe(4001);
    await settle(t.deviceId);
  });
});
