import { z } from "zod";
import {
  boundedJson,
  cursor,
  deviceId,
  dsn,
  environment,
  instant,
  instantUntil,
  label,
  limit,
  name,
  printable,
  projectId,
  refuseProtoKey,
  sessionId,
} from "./common";
import { INTERVAL_ALIASES, INTERVAL_MS, type MetricInterval as MetricIntervalName } from "./metrics";

const MAX_CAPSULE_TTL_S = 7 * 24 * 3600;

export const GenerateCapsule = z.object({
  project_id: projectId,
  device_type: label,
  environment,
  name: name.optional(),
  dsn: dsn.optional(),
  expires_in_s: z.number().int().min(1).max(MAX_CAPSULE_TTL_S).default(86_400),
});

export const Register = z.object({
  dsn,
  registration_token: z.string().min(1).max(200),
  name: name.optional(),
  device_type: label.optional(),
  environment: environment.optional(),
  device_info: boundedJson(8 * 1024).optional(),
});

const metricName = printable(64, "a metric name");
/** Metric values are bounded so sums over a day of samples stay finite. */
const METRIC_MAX = 1e15;
const Metrics = refuseProtoKey(
  z
    .record(metricName, z.number().min(-METRIC_MAX).max(METRIC_MAX))
    .refine((m) => Object.keys(m).length <= 32, "at most 32 metrics per heartbeat"),
  "a metric name",
);

export const Heartbeat = z.object({
  status: z.enum(["online", "maintenance", "error"]).default("online"),
  session_id: sessionId.optional(),
  metrics: Metrics.optional(),
});

export const DeviceStatus = z.enum(["online", "offline", "maintenance", "error"]);

export const ListDevices = z.object({
  project_id: projectId.optional(),
  environment: environment.optional(),
  status: DeviceStatus.optional(),
  type: label.optional(),
  q: z.string().min(1).max(128).optional(),
  include_decommissioned: z.enum(["true", "false"]).default("false"),
  limit: limit(200, 50),
  cursor,
});

export const DeviceParams = z.object({ device_id: deviceId });

/**
 * GET /fleet/summary: the project is required; `environment` narrows `counts` (by_environment always has all
 * three).
 */
export const FleetSummaryQuery = z.object({
  project_id: projectId,
  environment: environment.optional(),
});

const count = z.number().int().min(0);
/** Devices by status (each once), and those with a firing alert (counted beside their status). */
export const StatusCounts = z.object({
  online: count,
  offline: count,
  maintenance: count,
  error: count,
  alerting: count,
});
/** GET /fleet/summary's answer, as the contract names it. */
export const FleetSummary = z.object({
  counts: StatusCounts,
  by_environment: z.object({ production: StatusCounts, testing: StatusCounts, development: StatusCounts }),
});

export const UpdateDevice = z
  .object({
    name: name.optional(),
    environment: environment.optional(),
    status: z.enum(["maintenance", "online"]).optional(),
  })
  .refine((v) => Object.values(v).some((x) => x !== undefined), "send name, environment or status");

const MetricInterval = z.preprocess(
  (v) => (typeof v === "string" && v in INTERVAL_ALIASES ? INTERVAL_ALIASES[v] : v),
  z.enum(Object.keys(INTERVAL_MS) as [MetricIntervalName, ...MetricIntervalName[]]),
);
export const MetricsQuery = z.object({
  from: instant.optional(),
  // Points before to: a date takes its whole day in.
  to: instantUntil.optional(),
  interval: MetricInterval.optional(),
});
