// Intervals of a device's heartbeat metric series (GET /fleet/devices/:id/metrics).
const MINUTE = 60_000;
export const INTERVAL_MS = {
  "1m": MINUTE,
  "5m": 5 * MINUTE,
  "15m": 15 * MINUTE,
  "1h": 60 * MINUTE,
  "1d": 1440 * MINUTE,
};
export type MetricInterval = keyof typeof INTERVAL_MS;
/** Other names people use for the same intervals (the stats endpoints say 60m). */
export const INTERVAL_ALIASES: Record<string, MetricInterval> = { "60m": "1h", "1440m": "1d", "24h": "1d" };
