import { z } from "zod";
import { ACTIVITY_MAX_DAYS } from "./audit";
import { instant, instantUntil, orgId, projectId } from "./common";

/** A project, or a whole org (the sum of its projects): exactly one of the two. */
const scope = {
  project_id: projectId.optional(),
  org_id: orgId.optional(),
};
const oneScope = (q: { project_id?: string; org_id?: string }) =>
  (q.project_id === undefined) !== (q.org_id === undefined);
const ONE_SCOPE = { message: "give project_id or org_id (one of them)", path: ["project_id"] };

const date = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "a date as YYYY-MM-DD")
  .refine((d) => !Number.isNaN(Date.parse(d)), "not a real date");

export const UsageQuery = z.object(scope).refine(oneScope, ONE_SCOPE);

/** A yes-or-no query parameter: 1 or true, 0 or false. */
const flag = z
  .enum(["1", "true", "0", "false"], { error: "must be 1 or true (or 0 or false)" })
  .transform((v) => v === "1" || v === "true");

/**
 * `include_today`: also today's row (UTC) from the live counters, `final: false` (it changes
 * until the daily job closes the day); every row then says whether it is final.
 */
const includeToday = { include_today: flag.optional() };

/** Days, inclusive; at most 366 of them. Both default to the last 30 finished days (to today with include_today). */
export const DailyQuery = z
  .object({ ...scope, from: date.optional(), to: date.optional(), ...includeToday })
  .refine(oneScope, ONE_SCOPE)
  .refine((q) => !q.from || !q.to || q.from <= q.to, { message: "from is after to", path: ["from"] })
  .refine((q) => !q.from || !q.to || Date.parse(q.to) - Date.parse(q.from) <= 366 * 86_400_000, {
    message: "at most 366 days at once",
    path: ["to"],
  });

export const MonthlyQuery = z
  .object({ ...scope, year: z.coerce.number().int().min(2000).max(9999).optional(), ...includeToday })
  .refine(oneScope, ONE_SCOPE);

/** The metrics GET /stats/timeseries serves (the contract's names). */
export const TIMESERIES_METRICS = [
  "logs",
  "logs_debug",
  "logs_info",
  "logs_warn",
  "logs_error",
  "logs_fatal",
  "errors",
  "heartbeats",
  "device_messages_in",
  "device_messages_out",
  "api_calls",
] as const;

export const TimeseriesQuery = z
  .object({
    project_id: projectId,
    metric: z.enum(TIMESERIES_METRICS),
    interval: z.enum(["1m", "5m", "15m", "60m", "1d"]).default("60m"),
    from: instant.optional(),
    // Rounded up to the interval, exclusive: a date takes its whole day in.
    to: instantUntil.optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, {
    message: "from must be before to",
    path: ["from"],
  });

/** The hours of the last `days` days, up to the current one. */
export const ApiStatsQuery = z
  .object({ ...scope, days: z.coerce.number().int().min(1).max(31).default(1) })
  .refine(oneScope, ONE_SCOPE);

/** The last `days` days, today included. */
export const OverviewQuery = z
  .object({ ...scope, days: z.coerce.number().int().min(1).max(90).default(7) })
  .refine(oneScope, ONE_SCOPE);

export const ErrorsQuery = z
  .object({
    project_id: projectId,
    interval: z.enum(["1m", "5m", "15m", "60m", "1d"]).default("60m"),
    from: instant.optional(),
    // Rounded up to the interval, exclusive: a date takes its whole day in.
    to: instantUntil.optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, {
    message: "from must be before to",
    path: ["from"],
  });

/** GET /stats/activity: the org's days, at most ACTIVITY_MAX_DAYS at once (default: the last 30, today included). */
export const ActivityQuery = z
  .object({ org_id: orgId.optional(), from: date.optional(), to: date.optional() })
  .refine((q) => !q.from || !q.to || q.from <= q.to, { message: "from is after to", path: ["from"] })
  .refine((q) => !q.from || !q.to || Date.parse(q.to) - Date.parse(q.from) < ACTIVITY_MAX_DAYS * 86_400_000, {
    message: `at most ${ACTIVITY_MAX_DAYS} days at once`,
    path: ["to"],
  });
