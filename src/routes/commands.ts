import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { orgKey } from "../auth/middleware";
import { presentCommand, QueueCommand } from "../contract/commands";
import { ApiError, notFound } from "../contract/errors";
import { actorOf, requestOf } from "../http/audit";
import { describer } from "../http/describe";
import { jsonBody } from "../http/validate";
import { deviceOfOrg } from "../services/tenancy";
import { deviceHub } from "../stubs/device-hub";

const describe = describer("Fleet");
const decommissioned = () => new ApiError("conflict", "device is decommissioned");

export const commands = new Hono<AppEnv>().post(
  "/",
  describe({
    summary: "Queue a command",
    description: "The device gets it over its socket, or on its next poll; it expires after `ttl_s`.",
    answers: { 201: "The queued command" },
    errors: [() => notFound("device"), decommissioned],
  }),
  orgKey("operator"),
  jsonBody(QueueCommand),
  async (c) => {
    const body = c.req.valid("json");
    const device = await deviceOfOrg(c.var.db, c.var.org.orgId, body.device_id);
    if (device.decommissionedAt) throw decommissioned();
    const actor = actorOf(c);
    const sentBy = {
      kind: actor.kind === "person" ? ("person" as const) : ("key" as const),
      id: actor.id,
      label: actor.label,
    };
    const row = await deviceHub(c.env, device.id).queueCommand(body.command, body.params, body.ttl_s * 1000, sentBy, {
      actor,
      via: requestOf(c),
    });
    return c.json({ command: presentCommand(device.id, row) }, 201);
  },
);
