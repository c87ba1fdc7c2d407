// What devices call on /fleet: registration (with a token in the body), heartbeats and the device socket.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { deviceAuth } from "../auth/middleware";
import { jsonBody } from "../http/validate";
import { iso } from "../lib/time";
import { deviceHub } from "../stubs/device-hub";
import { registerDevice } from "../services/registration";
import { Heartbeat, Register } from "../contract/fleet";
import { sessionTaken } from "../contract/sessions";

export const fleetDevice = new Hono<AppEnv>()
  .post("/register", jsonBody(Register), async (c) => {
    return c.json(await registerDevice(c.env, c.var.db, c.req.valid("json")), 201);
  })
  .post("/heartbeat", deviceAuth, jsonBody(Heartbeat), async (c) => {
    const outcome = await deviceHub(c.env, c.var.device.deviceId).heartbeat(c.req.valid("json"));
    if (!outcome.ok) throw sessionTaken();
    return c.json({ server_time: iso(outcome.server_time), pending_commands: outcome.pending_commands });
  })
  // The device's WebSocket: logs and heartbeats in, acks and commands out (see durable-objects/device-hub/socket.ts).
  .get("/connect", deviceAuth, (c) => deviceHub(c.env, c.var.device.deviceId).fetch(c.req.raw));
