// The usage counters: what a project used, counted exactly by UTC day of receipt. The one
// list every part reads (device outboxes, the project's counters, GET /stats/usage).
export const USAGE_FIELDS = [
  "logs",
  "log_bytes",
  "sessions",
  "heartbeats",
  "device_messages_in",
  "device_messages_out",
  "commands",
  "api_calls",
  "artifact_bytes",
  // ERROR and FATAL lines: a day's error rate is error_lines / logs.
  "error_lines",
] as const;
type UsageField = (typeof USAGE_FIELDS)[number];
export type UsageCounters = Record<UsageField, number>;
export type UsageDelta = Partial<UsageCounters>;

/** What a device's object owes its project for one outbox sequence on one UTC day. */
export interface OutboxRow extends UsageCounters {
  seq: number;
  day: string; // YYYY-MM-DD
  /** Of `logs` and `log_bytes`, what was reserved against the monthly quota (see contract/quota.ts). */
  reserved_logs?: number;
  reserved_bytes?: number;
}
