// What devices call on /fleet: registration (with a token in the body), heartbeats and the device socket.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { deviceAuth, perClientIp, revokedDeviceKey, signedDevice } from "../auth/middleware";
import { ApiError } from "../contract/errors";
import { Heartbeat, Register } from "../contract/fleet";
import { sessionTaken } from "../contract/sessions";
import { audit } from "../http/audit";
import { atLimit, describer } from "../http/describe";
import { jsonBody } from "../http/validate";
import { iso } from "../lib/time";
import { registerDevice } from "../services/registration";
import { deviceHub } from "../stubs/device-hub";

const describe = describer("Fleet");

export const fleetDevice = new Hono<AppEnv>()
  .post(
    "/register",
    describe({
      summary: "Register a device with a registration token",
      description: "No key: the one-time token in the body is the credential. Answers the device key, once.",
      auth: "none",
      answers: { 201: "The device's id and key" },
      errors: [
        () => new ApiError("unauthorized", "unknown registration token"),
        () => new ApiError("conflict", "registration token was already used"),
        () => new ApiError("gone", "registration token has expired"),
        atLimit("devices"),
      ],
    }),
    perClientIp,
    jsonBody(Register),
    async (c) => {
      const body = c.req.valid("json");
      const { answer, device } = await registerDevice(c.env, c.var.db, body);
      c.set("device", { deviceId: device.id, orgId: device.orgId, projectId: device.projectId });
      await audit(c, {
        action: "device.registered",
        target: { kind: "device", id: device.id, label: device.name },
        projectId: device.projectId,
        summary: { dsn: body.dsn, name: device.name, device_type: device.deviceType, environment: device.environment },
      });
      return c.json(answer, 201);
    },
  )
  .post(
    "/heartbeat",
    describe({
      summary: "Heartbeat with status and metrics",
      description: "Answers the server's time, how many commands wait, and how often to send.",
      errors: [sessionTaken],
    }),
    signedDevice,
    jsonBody(Heartbeat),
    async (c) => {
      const { deviceId, keyHash } = c.var.deviceKey;
      const outcome = await deviceHub(c.env, deviceId).heartbeat(c.req.valid("json"), keyHash);
      if (!outcome.ok) throw outcome.code === "unauthorized" ? revokedDeviceKey() : sessionTaken();
      if (outcome.identity) c.set("device", outcome.identity);
      return c.json({
        server_time: iso(outcome.server_time),
        pending_commands: outcome.pending_commands,
        live: outcome.live ?? false,
        send_interval_s: outcome.send_interval_s,
      });
    },
  )
  // The device's WebSocket: logs and heartbeats in, acks and commands out (see durable-objects/device-hub/socket.ts).
  .get(
    "/connect",
    describe({
      summary: "The device's WebSocket (logs and heartbeats in, acks and commands out)",
      description: "A WebSocket upgrade (docs/api-notes.md names its frames).",
      answers: { 101: "Switching to the WebSocket" },
    }),
    deviceAuth,
    (c) => deviceHub(c.env, c.var.device.deviceId).fetch(c.req.raw),
  );
