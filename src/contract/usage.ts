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
  /** Storage rows the sender's object wrote (durable-objects/storage.ts): not usage, counted for GET /metrics. */
  rows_written?: number;
  /** The change in bytes the sender keeps in R2 (a device's archived logs): the project's storage_bytes moves by it. */
  storage_bytes?: number;
}

/**
 * A device's object hands its counts to the project at most this often (an object, so tests
 * can shorten it): one delivery, one row at the project, per device per interval. A stats read
 * first asks the devices that delivered within it to send what they still owe
 * (src/services/fresh-counts.ts), so the interval never makes a read stale.
 */
export const DELIVERY = { everyMs: 600_000 };
