// /fleet/devices: the registry for people (org keys) and each device's own command inbox
// (device keys). A device key reaches only its own device: any other id answers 404. Beside it,
// /fleet/summary: the project's devices counted by status (mounted at its own path in app.ts,
// so no device id can shadow it).
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { deviceAuth, deviceAuthUnlimited, orgKey } from "../auth/middleware";
import {
  AckCommand,
  ackRefusal,
  CommandHistoryQuery,
  CommandParams,
  CommandPollQuery,
  presentCommand,
} from "../contract/commands";
import { decodeCursor, page } from "../contract/cursor";
import { ApiError, invalidField, notFound } from "../contract/errors";
import { DeviceParams, FleetSummaryQuery, ListDevices, MetricsQuery, UpdateDevice } from "../contract/fleet";
import { markDecommissioned, updateDeviceLabels } from "../db/repos/devices";
import { actorOf, audit, requestOf } from "../http/audit";
import { describer } from "../http/describe";
import { jsonBody, params, query } from "../http/validate";
import { iso } from "../lib/time";
import { fleetSummary, listFleet } from "../services/fleet-presence";
import { presentDevice } from "../services/presenters";
import { deviceOfOrg, projectOfOrg } from "../services/tenancy";
import { deviceHub } from "../stubs/device-hub";

const describe = describer("Fleet");
const decommissioned = () => new ApiError("conflict", "device is decommissioned");

const DAY = 24 * 3600 * 1000;
const IdCursor = z.object({ id: z.string() });

/**
 * GET /fleet/summary: counts by status and environment from the project's live picture
 * (services/fleet-presence.ts). A read: nothing audited.
 */
export const summary = new Hono<AppEnv>().get(
  "/",
  describe({
    summary: "The project's devices counted by status (and alerting), overall and per environment",
    errors: [() => notFound("project")],
  }),
  orgKey("viewer"),
  query(FleetSummaryQuery),
  async (c) => {
    const q = c.req.valid("query");
    await projectOfOrg(c.var.db, c.var.org.orgId, q.project_id);
    return c.json(await fleetSummary(c.env, c.var.db, q.project_id, q.environment));
  },
);

export const devices = new Hono<AppEnv>()
  .get(
    "/",
    describe({
      summary: "List devices",
      description: "With each device's live presence; filter by project, status, environment and type.",
      errors: [() => notFound("project")],
    }),
    orgKey("viewer"),
    query(ListDevices),
    async (c) => {
      const q = c.req.valid("query");
      if (q.project_id) await projectOfOrg(c.var.db, c.var.org.orgId, q.project_id);
      return c.json(await listFleet(c.env, c.var.db, c.var.org.orgId, q));
    },
  )
  .get(
    "/:device_id",
    describe({ summary: "A device with its live presence", errors: [() => notFound("device")] }),
    orgKey("viewer"),
    params(DeviceParams),
    async (c) => {
      const device = await deviceOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").device_id);
      const live = await deviceHub(c.env, device.id).presence();
      return c.json({ device: presentDevice(device, live) });
    },
  )
  // PUT is a synonym of PATCH: the same partial update.
  .on(
    ["PATCH", "PUT"],
    "/:device_id",
    describe({
      summary: "Rename, move or set maintenance (PUT is the same partial update)",
      errors: [() => notFound("device"), decommissioned],
    }),
    orgKey("admin"),
    params(DeviceParams),
    jsonBody(UpdateDevice),
    async (c) => {
      const { db, org } = c.var;
      const device = await deviceOfOrg(db, org.orgId, c.req.valid("param").device_id);
      if (device.decommissionedAt) throw decommissioned();
      const { name, environment, status } = c.req.valid("json");
      const { kind, id, label } = actorOf(c);
      await updateDeviceLabels(db, device.id, { name, environment }, { kind, id, label, at: Date.now() });
      const hub = deviceHub(c.env, device.id);
      const live = status ? await hub.setOperatorStatus(status) : await hub.presence();
      const updated = await deviceOfOrg(db, org.orgId, device.id);
      const changed = Object.fromEntries(
        Object.entries({ name, environment, status }).filter(([, v]) => v !== undefined),
      );
      await audit(c, {
        action: "device.updated",
        target: { kind: "device", id: device.id, label: updated.name },
        projectId: device.projectId,
        summary: changed,
      });
      return c.json({ device: presentDevice(updated, live) });
    },
  )
  .delete(
    "/:device_id",
    describe({ summary: "Decommission: the device key stops at once", errors: [() => notFound("device")] }),
    orgKey("admin"),
    params(DeviceParams),
    async (c) => {
      const { db, org } = c.var;
      const device = await deviceOfOrg(db, org.orgId, c.req.valid("param").device_id);
      // The key dies in the device's object first: from this point on it answers 401.
      await deviceHub(c.env, device.id).decommission();
      const at = device.decommissionedAt ?? Date.now();
      const { kind, id, label } = actorOf(c);
      await markDecommissioned(db, device.id, at, { kind, id, label, at: Date.now() });
      await audit(c, {
        action: "device.decommissioned",
        target: { kind: "device", id: device.id, label: device.name },
        projectId: device.projectId,
      });
      return c.json({ id: device.id, decommissioned: true, decommissioned_at: iso(at) });
    },
  )
  .get(
    "/:device_id/metrics",
    describe({
      summary: "Heartbeat metric series",
      description: "Default range: the last 24 hours.",
      errors: [() => notFound("device"), () => invalidField("query", "from", "from must be before to")],
    }),
    orgKey("viewer"),
    params(DeviceParams),
    query(MetricsQuery),
    async (c) => {
      const device = await deviceOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").device_id);
      const q = c.req.valid("query");
      const to = q.to ?? Date.now();
      const from = q.from ?? to - DAY;
      if (from >= to) throw invalidField("query", "from", "from must be before to");
      const { interval, points } = await deviceHub(c.env, device.id).metrics(from, to, q.interval);
      return c.json({
        device_id: device.id,
        from: iso(from),
        to: iso(to),
        interval,
        points: points.map((p) => ({ ...p, t: iso(p.t) })),
      });
    },
  )
  .get(
    "/:device_id/commands/history",
    describe({ summary: "Every command with its transitions, newest first", errors: [() => notFound("device")] }),
    orgKey("viewer"),
    params(DeviceParams),
    query(CommandHistoryQuery),
    async (c) => {
      const device = await deviceOfOrg(c.var.db, c.var.org.orgId, c.req.valid("param").device_id);
      const q = c.req.valid("query");
      const before = decodeCursor(q.cursor, IdCursor);
      const rows = await deviceHub(c.env, device.id).commandHistory(q.limit + 1, before?.id);
      const { items, next_cursor } = page(rows, q.limit, (r) => ({ id: r.id }));
      return c.json({ commands: items.map((r) => presentCommand(device.id, r)), next_cursor });
    },
  )
  .get(
    "/:device_id/commands",
    describe({
      summary: "The device's poll: queued commands, now delivered",
      description: "A device key reaches only its own device: any other id is 404.",
      errors: [() => notFound("device")],
    }),
    deviceAuth,
    params(DeviceParams),
    query(CommandPollQuery),
    async (c) => {
      const deviceId = ownDevice(c.var.device.deviceId, c.req.valid("param").device_id);
      const rows = await deviceHub(c.env, deviceId).pollCommands(c.req.valid("query").limit, requestOf(c));
      return c.json({ commands: rows.map((r) => presentCommand(deviceId, r)) });
    },
  )
  .post(
    "/:device_id/commands/:command_id/ack",
    describe({
      summary: "Acknowledge a command",
      description: "Never refused for rate: an acknowledgement always gets through.",
      errors: [
        () => notFound("command"),
        () => new ApiError("conflict", "command was already acknowledged as succeeded"),
        () => new ApiError("gone", "command expired before it was acknowledged"),
      ],
    }),
    deviceAuthUnlimited,
    params(CommandParams),
    jsonBody(AckCommand),
    async (c) => {
      const { device_id, command_id } = c.req.valid("param");
      const deviceId = ownDevice(c.var.device.deviceId, device_id);
      const { status, result } = c.req.valid("json");
      const outcome = await deviceHub(c.env, deviceId).ackCommand(command_id, status, result, requestOf(c));
      if (!outcome.ok) throw ackRefusal(deviceId, outcome);
      return c.json({ command: presentCommand(deviceId, outcome.command) });
    },
  );

function ownDevice(authenticated: string, requested: string): string {
  if (authenticated !== requested) throw notFound("device");
  return authenticated;
}
