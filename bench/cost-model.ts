// What a device-month costs: the one price table, the model's assumptions, and how the bench's
// measurements (bench/cost.ts) compose into a bill. Marginal prices only: no plan fee, no
// included amounts. docs/COSTS.md explains each figure.

/**
 * Cloudflare's published prices (Workers Paid), as ../shared/DESIGN.md lists them. `read_on` is
 * when this table was last compared with the pages below (the object request and duration
 * prices and D1's were checked against a stored copy of those pages then; the rest is DESIGN.md's).
 */
export const PRICES = {
  read_on: "2026-12-07",
  sources: [
    "https://developers.cloudflare.com/durable-objects/platform/pricing/",
    "https://developers.cloudflare.com/workers/platform/pricing/",
    "https://developers.cloudflare.com/d1/platform/pricing/",
    "https://developers.cloudflare.com/r2/pricing/",
  ],
  object_rows_written: 1.0 / 1e6,
  object_rows_read: 0.001 / 1e6,
  object_storage_gb_month: 0.2,
  /** Each RPC call, fetch and alarm; incoming WebSocket messages count 20 to a request. */
  object_requests: 0.15 / 1e6,
  ws_messages_per_request: 20,
  object_gb_s: 12.5 / 1e6,
  worker_requests: 0.3 / 1e6,
  worker_cpu_ms: 0.02 / 1e6,
  d1_rows_written: 1.0 / 1e6,
  /** Not in DESIGN.md's table; D1's published price. */
  d1_rows_read: 0.001 / 1e6,
  d1_storage_gb_month: 0.75,
  r2_class_a: 4.5 / 1e6,
  r2_class_b: 0.36 / 1e6,
  r2_storage_gb_month: 0.015,
  /** Each message is written, read and deleted: three operations. */
  queue_ops: 0.4 / 1e6,
} as const;

/** What is modelled rather than measured (docs/COSTS.md says why each is what it is). */
export const MODEL = {
  /** A month is 30 days. */
  month_s: 30 * 86_400,
  days_per_month: 30,
  /** Memory an object is billed for while active. */
  object_gb: 0.128,
  /**
   * Object duration: an object is billed while it runs an event, not while idle and
   * hibernatable (no timer, no pending I/O; its WebSocket accepted with the hibernation API).
   * Active time per event = its wall time in workerd (which moves only across I/O) plus this much
   * CPU, plus the per-line CPU below (bench:profile: 10.5 ms per 1,000-line batch in the objects).
   */
  object_cpu_ms_per_event: 1,
  object_cpu_ms_per_line: 0.0105,
  /** Worker CPU: per request, and per line that comes over HTTPS (bench:profile: 12.5 ms per 1,000-line batch). */
  worker_cpu_ms_per_request: 2,
  worker_cpu_ms_per_line: 0.0125,
  /** The pro tier (src/contract/tiers.ts): lines are hot 14 days, then archived 365 days. */
  hot_days: 14,
  /**
   * But a hot store holds at most this many lines; older ones are archived early (HOT_STORE):
   * before, each device's own (durable-objects/device-hub/retention.ts, 5M); now a log shard's,
   * which a device alone in its shard has to itself (durable-objects/log-shard/retention.ts, 20M).
   */
  hot_store_max_lines: { before: 5_000_000, now: 20_000_000 },
  /** Metric history is kept this long (RETENTION_MS in durable-objects/device-hub/metrics.ts). */
  metric_days: 7,
  archive_days: 365,
  /** Session files are kept until deleted (no retention): counted for a year, as the archive. */
  artifacts_kept_days: 365,
  /** W-typical: one session a day. */
  sessions_per_day: 1,
  /** A session's hour is 1/24 of the day. */
  session_share_of_day: 1 / 24,
  /** D1 bytes a device keeps: its row, a session row a day for a year, an archive_days row a day (~0.5 KB each). */
  d1_bytes_per_device: 2_000 + 365 * 2 * 500,
  hours_per_month: 720,
} as const;

export const USAGE_FIELDS = [
  "object_rows_written",
  "object_rows_read",
  "object_requests",
  "ws_messages",
  "object_gb_s",
  "object_storage_gb",
  "worker_requests",
  "worker_cpu_ms",
  "d1_rows_written",
  "d1_rows_read",
  "d1_storage_gb",
  "r2_class_a",
  "r2_class_b",
  "r2_storage_gb",
  "queue_ops",
] as const;
export type UsageField = (typeof USAGE_FIELDS)[number];
export type Usage = Record<UsageField, number>;

export const emptyUsage = (): Usage => Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as Usage;

export function addUsage(into: Usage, u: Partial<Usage>, k = 1): Usage {
  for (const f of USAGE_FIELDS) into[f] += (u[f] ?? 0) * k;
  return into;
}

/** A bill's lines: what each is, its quantity from the usage, and its price per unit. */
export const LINE_ITEMS: { item: string; unit: string; quantity: (u: Usage) => number; price: number }[] = [
  {
    item: "object rows written",
    unit: "rows",
    quantity: (u) => u.object_rows_written,
    price: PRICES.object_rows_written,
  },
  { item: "object rows read", unit: "rows", quantity: (u) => u.object_rows_read, price: PRICES.object_rows_read },
  {
    item: "object requests (WS messages 20:1)",
    unit: "requests",
    quantity: (u) => u.object_requests + u.ws_messages / PRICES.ws_messages_per_request,
    price: PRICES.object_requests,
  },
  { item: "object duration", unit: "GB-s", quantity: (u) => u.object_gb_s, price: PRICES.object_gb_s },
  {
    item: "object storage",
    unit: "GB-month",
    quantity: (u) => u.object_storage_gb,
    price: PRICES.object_storage_gb_month,
  },
  { item: "Worker requests", unit: "requests", quantity: (u) => u.worker_requests, price: PRICES.worker_requests },
  { item: "Worker CPU", unit: "ms", quantity: (u) => u.worker_cpu_ms, price: PRICES.worker_cpu_ms },
  { item: "D1 rows written", unit: "rows", quantity: (u) => u.d1_rows_written, price: PRICES.d1_rows_written },
  { item: "D1 rows read", unit: "rows", quantity: (u) => u.d1_rows_read, price: PRICES.d1_rows_read },
  { item: "D1 storage", unit: "GB-month", quantity: (u) => u.d1_storage_gb, price: PRICES.d1_storage_gb_month },
  { item: "R2 class A", unit: "ops", quantity: (u) => u.r2_class_a, price: PRICES.r2_class_a },
  { item: "R2 class B", unit: "ops", quantity: (u) => u.r2_class_b, price: PRICES.r2_class_b },
  { item: "R2 storage", unit: "GB-month", quantity: (u) => u.r2_storage_gb, price: PRICES.r2_storage_gb_month },
  { item: "Queues operations", unit: "ops", quantity: (u) => u.queue_ops, price: PRICES.queue_ops },
];

export const dollars = (u: Usage): number => LINE_ITEMS.reduce((n, l) => n + l.quantity(u) * l.price, 0);

/** Issue 21's goals, per device-month. */
export const GOALS: Record<string, Record<"socket" | "https", number>> = {
  idle: { socket: 0.03, https: 0.1 },
  typical: { socket: 0.3, https: 0.5 },
  heavy: { socket: 10, https: 10 },
};
