// Limits a device is told at registration and held to at ingest. Documented in docs/limits.md.
export const LOG_UPLOAD = {
  max_lines: 1000,
  max_bytes: 1024 * 1024,
} as const;

export const heartbeatIntervalMs = (env: Env): number => {
  const configured = Number(env.HEARTBEAT_INTERVAL_MS);
  return Number.isFinite(configured) && configured >= 1000 ? configured : 30_000;
};
