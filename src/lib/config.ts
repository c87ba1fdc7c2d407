// Settings read from the Worker's [vars] (wrangler.toml), with the defaults used when unset.
export const heartbeatIntervalMs = (env: Env): number => {
  const configured = Number(env.HEARTBEAT_INTERVAL_MS);
  return Number.isFinite(configured) && configured >= 1000 ? configured : 30_000;
};

/** How long lines stay in a device's hot store (searchable in its Durable Object). */
export const hotWindowMs = (env: Env): number => {
  const days = Number(env.HOT_WINDOW_DAYS);
  return (Number.isFinite(days) && days > 0 ? days : 7) * 24 * 3600 * 1000;
};
