import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deviceHub } from "../../src/stubs/device-hub";
import { call, tenant } from "./helpers";

const queue = (t: Awaited<ReturnType<typeof tenant>>, body: Record<string, unknown> = {}) =>
  call("POST", "/fleet/commands", { token: t.adminKey, body: { device_id: t.deviceId, command: "reboot", ...body } });

describe("commands", () => {
  it("go queued -> delivered -> succeeded, with the time of every transition", async () => {
    const t = await tenant();
    const queued = await queue(t, { params: { delay_s: 5 }, ttl_s: 600 });
    expect(queued.status).toBe(201);
    expect(queued.json.command).toMatchObject({
      id: expect.stringMatching(/^cmd_/),
      status: "queued",
      command: "reboot",
      params: { delay_s: 5 },
    });

    const hb = await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    expect(hb.json.pending_commands).toBe(1);

    const poll = await call("GET", `/fleet/devices/${t.deviceId}/commands`, { token: t.deviceKey });
    expect(poll.status).toBe(200);
    expect(poll.json.commands).toHaveLength(1);
    expect(poll.json.commands[0]).toMatchObject({
      id: queued.json.command.id,
      status: "delivered",
      delivered_at: expect.any(String),
    });
    // Delivered once: the next poll is empty.
    expect((await call("GET", `/fleet/devices/${t.deviceId}/commands`, { token: t.deviceKey })).json.commands).toEqual(
      [],
    );

    const ack = await call("POST", `/fleet/devices/${t.deviceId}/commands/${queued.json.command.id}/ack`, {
      token: t.deviceKey,
      body: { status: "succeeded", result: { uptime_s: 3 } },
    });
    expect(ack.status).toBe(200);
    expect(ack.json.command).toMatchObject({
      status: "succeeded",
      result: { uptime_s: 3 },
      completed_at: expect.any(String),
    });

    const history = await call("GET", `/fleet/devices/${t.deviceId}/commands/history`, { token: t.viewerKey });
    const c = history.json.commands[0];
    expect(c.transitions.map((x: any) => x.status)).toEqual(["queued", "delivered", "succeeded"]);
    for (const x of c.transitions) expect(Date.parse(x.at)).not.toBeNaN();
    expect(Date.parse(c.delivered_at)).toBeGreaterThanOrEqual(Date.parse(c.queued_at));
    expect(Date.parse(c.completed_at)).toBeGreaterThanOrEqual(Date.parse(c.delivered_at));
  });

  it("takes any JSON as params and result", async () => {
    const t = await tenant();
    const { json } = await queue(t, { params: [1, "two", { three: 3 }] });
    expect(json.command.params).toEqual([1, "two", { three: 3 }]);
    const ack = await call("POST", `/fleet/devices/${t.deviceId}/commands/${json.command.id}/ack`, {
      token: t.deviceKey,
      body: { status: "succeeded", result: "done" },
    });
    expect(ack.json.command.result).toBe("done");
  });

  it("a retried ack is accepted; a contradicting one is a conflict", async () => {
    const t = await tenant();
    const { json } = await queue(t);
    const ackPath = `/fleet/devices/${t.deviceId}/commands/${json.command.id}/ack`;
    expect(
      (await call("POST", ackPath, { token: t.deviceKey, body: { status: "failed", result: { error: "busy" } } }))
        .status,
    ).toBe(200);
    expect((await call("POST", ackPath, { token: t.deviceKey, body: { status: "failed" } })).status).toBe(200);
    const contra = await call("POST", ackPath, { token: t.deviceKey, body: { status: "succeeded" } });
    expect(contra.status).toBe(409);
    const bad = await call("POST", ackPath, { token: t.deviceKey, body: { status: "done" } });
    expect(bad.status).toBe(400);
  });

  it("expire once the TTL passes unacknowledged, by the object's alarm", async () => {
    const t = await tenant();
    const delivered = await queue(t, { command: "update", ttl_s: 60 });
    const neverPolled = await queue(t, { command: "capture", ttl_s: 60 });
    const longLived = await queue(t, { command: "sync", ttl_s: 3600 });
    await call("GET", `/fleet/devices/${t.deviceId}/commands?limit=1`, { token: t.deviceKey });

    // Move the two short deadlines into the past instead of waiting a minute.
    const stub = deviceHub(env, t.deviceId);
    await runInDurableObject(stub, (hub, state) => {
      state.storage.sql.exec(
        "UPDATE device_commands SET expires_at = expires_at - 61000 WHERE command IN ('update', 'capture')",
      );
      // The object keeps its open commands in memory beside the table: have it read them again.
      (hub as unknown as { commands: { kept?: unknown } }).commands.kept = undefined;
    });
    // An alarm in the future, run now by the test (one due now could fire on its own first).
    await runInDurableObject(stub, async (_hub, state) => state.storage.setAlarm(Date.now() + 60_000));
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    const expired = await runInDurableObject(stub, (_hub, state) =>
      state.storage.sql
        .exec<{ id: string; status: string }>("SELECT id, status FROM device_commands ORDER BY id")
        .toArray(),
    );
    expect(Object.fromEntries(expired.map((r) => [r.id, r.status]))).toEqual({
      [delivered.json.command.id]: "expired",
      [neverPolled.json.command.id]: "expired",
      [longLived.json.command.id]: "queued",
    });

    const history = await call("GET", `/fleet/devices/${t.deviceId}/commands/history`, { token: t.adminKey });
    const byId = Object.fromEntries(history.json.commands.map((c: any) => [c.id, c]));
    expect(byId[delivered.json.command.id].transitions.map((x: any) => x.status)).toEqual([
      "queued",
      "delivered",
      "expired",
    ]);
    expect(byId[neverPolled.json.command.id].transitions.map((x: any) => x.status)).toEqual(["queued", "expired"]);
    expect(byId[delivered.json.command.id].expired_at).toBe(byId[delivered.json.command.id].expires_at);

    const late = await call("POST", `/fleet/devices/${t.deviceId}/commands/${delivered.json.command.id}/ack`, {
      token: t.deviceKey,
      body: { status: "succeeded" },
    });
    expect(late.status).toBe(410);
    const poll = await call("GET", `/fleet/devices/${t.deviceId}/commands`, { token: t.deviceKey });
    expect(poll.json.commands.map((c: any) => c.command)).toEqual(["sync"]);
  });

  it("an expired command is reported expired even before the alarm runs", async () => {
    const t = await tenant();
    const { json } = await queue(t, { ttl_s: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    const history = await call("GET", `/fleet/devices/${t.deviceId}/commands/history`, { token: t.adminKey });
    expect(history.json.commands.find((c: any) => c.id === json.command.id).status).toBe("expired");
  });

  it("history pages newest first with a cursor", async () => {
    const t = await tenant();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await queue(t, { command: `step-${i}` })).json.command.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await call(
        "GET",
        `/fleet/devices/${t.deviceId}/commands/history?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        { token: t.adminKey },
      );
      seen.push(...res.json.commands.map((c: any) => c.id));
      cursor = res.json.next_cursor;
    } while (cursor);
    expect(seen).toEqual(ids.reverse());
  });

  it("validates the command body", async () => {
    const t = await tenant();
    const res = await call("POST", "/fleet/commands", {
      token: t.adminKey,
      body: { device_id: t.deviceId, command: "\u0000reboot", ttl_s: 0, params: { x: "y".repeat(20_000) } },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.details.map((d: any) => d.path).sort()).toEqual(["command", "params", "ttl_s"]);
  });
});
