// Sessions: a device's runs, opened and ended by the device, listed and read by people.
import { z } from "zod";
import { cursor, deviceId, instant, limit, name, projectId, sessionId } from "./common";
import { ApiError } from "./errors";

export const SessionStatus = z.enum(["active", "completed", "failed", "aborted"]);
export type SessionStatus = z.output<typeof SessionStatus>;
export const EndStatus = SessionStatus.exclude(["active"]);
export type EndStatus = z.output<typeof EndStatus>;

/** A session's fields, times in ms, whether read from D1 or live from the device's object. */
export interface SessionFields {
  session_id: string;
  name: string;
  status: SessionStatus;
  started_at: number;
  completed_at: number | null;
  total_logs: number;
  error_count: number;
  warning_count: number;
}

/** Session ids are unique within a project: the first device to use one owns it. */
export const sessionTaken = () => new ApiError("conflict", "another device of this project already uses this session_id");

const isoMs = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));

export const CreateSession = z.object({
  session_id: sessionId,
  name: name.optional(),
  started_at: isoMs.optional(),
});

export const EndSession = z.object({
  status: EndStatus,
  completed_at: isoMs.optional(),
});

export const SessionParams = z.object({ session_id: sessionId });
export const SessionQuery = z.object({ project_id: projectId.optional() });

export const ListSessions = z.object({
  project_id: projectId.optional(),
  device_id: deviceId.optional(),
  status: SessionStatus.optional(),
  from: instant.optional(),
  to: instant.optional(),
  limit: limit(200, 50),
  cursor,
});
