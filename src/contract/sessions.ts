// Sessions: a device's runs, opened and ended by the device, listed and read by people.
import { z } from "zod";
import { cursor, deviceId, instant, instantUntil, limit, name, projectId, sessionId } from "./common";
import { ApiError } from "./errors";
import { LINE_LIMITS } from "./limits";

export const SessionStatus = z.enum(["active", "completed", "failed", "aborted", "timed_out"]);
export type SessionStatus = z.output<typeof SessionStatus>;
/** The statuses a device ends its session with (PATCH); `timed_out` is the server's alone. */
export const EndStatus = SessionStatus.exclude(["active", "timed_out"]);
export type EndStatus = z.output<typeof EndStatus>;
/** Every status an ended session may have. */
export type EndedStatus = Exclude<SessionStatus, "active">;

/**
 * A session that no line and no heartbeat named for SESSION_IDLE_S seconds ([vars]; 1800 when
 * unset) ends as `timed_out`, its completed_at the moment it was last named; a later line or
 * heartbeat naming it makes it active again (docs/api-notes.md, Sessions). Its device's alarm
 * checks it, up to `slackMs` late (it rides on the device's other alarms meanwhile).
 */
export const SESSION_IDLE = { defaultS: 1800, slackMs: 300_000 };

/**
 * The idle time after which a session times out, in ms, from SESSION_IDLE_S (seconds; a positive number, else
 * the default).
 */
export function sessionIdleMs(configured: string | undefined): number {
  const s = Number(configured);
  return (
    (configured !== undefined && configured !== "" && Number.isFinite(s) && s > 0 ? s : SESSION_IDLE.defaultS) * 1000
  );
}

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

/**
 * A session as its project's object stores it (durable-objects/project-hub/sessions.ts): its fields and the
 * device that owns it.
 */
export type StoredSession = SessionFields & { device_id: string };

/** What a device's object sends its project of an ended (or changed) session: `version` orders the writes. */
export type SessionUpsert = SessionFields & { version: number };

/** The filters of a page of one project's sessions, as GET /sessions takes them (times in ms). */
export interface SessionListFilter {
  device_id?: string;
  status?: SessionStatus;
  from?: number;
  to?: number;
}

/**
 * Where a page of one project's sessions resumes: rows strictly before (started_at, session_id)
 * in the list's order (newest first); with no session_id, rows strictly before started_at.
 */
export interface SessionAfter {
  started_at: number;
  session_id?: string;
}

/** Session ids are unique within a project: the first device to use one owns it. */
export const sessionTaken = () =>
  new ApiError("conflict", "another device of this project already uses this session_id");

/** Before this a device's clock was never set (a clock at zero reads 1970). */
const EARLIEST_SESSION_MS = Date.UTC(2000, 0, 1);

/** A time a device read from its own clock: from 2000 to as far ahead of the server as a log line may be. */
const deviceTime = z.iso
  .datetime({ offset: true })
  .transform((s) => Date.parse(s))
  .refine((ms) => ms >= EARLIEST_SESSION_MS, "before 2000-01-01T00:00:00Z")
  .refine(
    (ms) => ms <= Date.now() + LINE_LIMITS.future_skew_ms,
    `more than ${LINE_LIMITS.future_skew_ms / 60_000} minutes ahead of the server's clock`,
  );

export const CreateSession = z.object({
  session_id: sessionId,
  name: name.optional(),
  started_at: deviceTime.optional(),
});

/**
 * A completed_at before the session's started_at can only be refused where the session is known: its device's
 * object.
 */
export const EndSession = z.object({
  status: EndStatus,
  completed_at: deviceTime.optional(),
});

export const SessionParams = z.object({ session_id: sessionId });
export const SessionQuery = z.object({ project_id: projectId.optional() });

export const ListSessions = z.object({
  project_id: projectId.optional(),
  device_id: deviceId.optional(),
  status: SessionStatus.optional(),
  from: instant.optional(),
  // started_at < to: a date takes its whole day in.
  to: instantUntil.optional(),
  limit: limit(200, 50),
  cursor,
});
