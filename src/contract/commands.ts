// Commands: what an operator queues for a device, and how the device acknowledges it.
import { z } from "zod";
import { iso, isoOrNull } from "../lib/time";
import { boundedJsonValue, commandId, cursor, deviceId, limit, printable } from "./common";
import { ApiError, notFound } from "./errors";

const MAX_COMMAND_TTL_S = 7 * 24 * 3600;

/** queued -> delivered -> succeeded | failed | rejected, or expired when the TTL passes first. */
const CommandStatus = z.enum(["queued", "delivered", "succeeded", "failed", "rejected", "expired"]);
type CommandStatus = z.output<typeof CommandStatus>;
export const AckStatus = z.enum(["succeeded", "failed", "rejected"]);
export type AckStatus = z.output<typeof AckStatus>;

export const QueueCommand = z.object({
  device_id: deviceId,
  command: printable(128, "a command"),
  params: boundedJsonValue(16 * 1024).optional(),
  ttl_s: z.number().int().min(1).max(MAX_COMMAND_TTL_S).default(3600),
});

export const AckCommand = z.object({
  status: AckStatus,
  result: boundedJsonValue(16 * 1024).optional(),
});

export const CommandParams = z.object({ device_id: deviceId, command_id: commandId });
export const CommandHistoryQuery = z.object({ limit: limit(200, 50), cursor });
export const CommandPollQuery = z.object({ limit: limit(100, 100) });

/** The device socket's acknowledgement of a pushed command. */
export const CommandAckFrame = AckCommand.extend({ command_id: commandId });

/** Who did something: an org key (by its id and name) for now; people come with sign-in. */
export interface Actor {
  kind: "key" | "person";
  id: string;
  label: string;
}

/** A command as its device's object stores it: times in ms, params and result as JSON text. */
export interface CommandRecord {
  id: string;
  command: string;
  params: string | null;
  /** JSON of the Actor that sent it; null for commands sent before senders were kept. */
  sent_by: string | null;
  status: CommandStatus;
  created_at: number;
  expires_at: number;
  delivered_at: number | null;
  completed_at: number | null;
  expired_at: number | null;
  result: string | null;
}

export type AckOutcome =
  | { ok: true; command: CommandRecord }
  | { ok: false; code: "not_found" | "gone" | "conflict"; command?: CommandRecord };

const parse = (json: string | null): unknown => (json === null ? null : JSON.parse(json));

export const presentCommand = (deviceId: string, c: CommandRecord) => {
  const transitions: { status: CommandStatus; at: string }[] = [{ status: "queued", at: iso(c.created_at) }];
  if (c.delivered_at !== null) transitions.push({ status: "delivered", at: iso(c.delivered_at) });
  if (c.completed_at !== null) transitions.push({ status: c.status, at: iso(c.completed_at) });
  if (c.expired_at !== null) transitions.push({ status: "expired", at: iso(c.expired_at) });
  return {
    id: c.id,
    device_id: deviceId,
    command: c.command,
    params: parse(c.params),
    sent_by: parse(c.sent_by) as Actor | null,
    status: c.status,
    result: parse(c.result),
    created_at: iso(c.created_at),
    queued_at: iso(c.created_at),
    expires_at: iso(c.expires_at),
    delivered_at: isoOrNull(c.delivered_at),
    completed_at: isoOrNull(c.completed_at),
    expired_at: isoOrNull(c.expired_at),
    transitions,
  };
};

/** A refused acknowledgement, in the same words over HTTP and over the device socket. */
export function ackRefusal(deviceId: string, outcome: Extract<AckOutcome, { ok: false }>): ApiError {
  if (outcome.code === "not_found" || !outcome.command) return notFound("command");
  const command = presentCommand(deviceId, outcome.command);
  if (outcome.code === "gone") return new ApiError("gone", "command expired before it was acknowledged", { command });
  return new ApiError("conflict", `command was already acknowledged as ${command.status}`, { command });
}
