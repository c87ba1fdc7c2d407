import { z } from "zod";
import { boundedJsonValue, commandId, cursor, deviceId, limit, printable } from "./common";

export const MAX_COMMAND_TTL_S = 7 * 24 * 3600;

export const QueueCommand = z.object({
  device_id: deviceId,
  command: printable(128, "a command"),
  params: boundedJsonValue(16 * 1024).optional(),
  ttl_s: z.number().int().min(1).max(MAX_COMMAND_TTL_S).default(3600),
});

export const AckCommand = z.object({
  status: z.enum(["succeeded", "failed", "rejected"]),
  result: boundedJsonValue(16 * 1024).optional(),
});

export const CommandParams = z.object({ device_id: deviceId, command_id: commandId });
export const CommandHistoryQuery = z.object({ limit: limit(200, 50), cursor });
export const CommandPollQuery = z.object({ limit: limit(100, 100) });

/** The device socket's acknowledgement of a pushed command. */
export const CommandAckFrame = AckCommand.extend({ command_id: commandId });
