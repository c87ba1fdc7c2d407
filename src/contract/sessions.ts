import { z } from "zod";
import { cursor, deviceId, instant, limit, name, projectId, sessionId } from "./common";

const isoMs = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));

export const CreateSession = z.object({
  session_id: sessionId,
  name: name.optional(),
  started_at: isoMs.optional(),
});

export const EndSession = z.object({
  status: z.enum(["completed", "failed", "aborted"]),
  completed_at: isoMs.optional(),
});

export const SessionParams = z.object({ session_id: sessionId });
export const SessionQuery = z.object({ project_id: projectId.optional() });

export const ListSessions = z.object({
  project_id: projectId.optional(),
  device_id: deviceId.optional(),
  status: z.enum(["active", "completed", "failed", "aborted"]).optional(),
  from: instant.optional(),
  to: instant.optional(),
  limit: limit(200, 50),
  cursor,
});
