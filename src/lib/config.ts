import { DAY_MS } from "./time";

// Settings read from the Worker's [vars] (wrangler.toml), with the defaults used when unset.
export const heartbeatIntervalMs = (env: Env): number => {
  const configured = Number(env.HEARTBEAT_INTERVAL_MS);
  return Number.isFinite(configured) && configured >= 1000 ? configured : 30_000;
};

/**
 * The longest any line stays in a device's hot store (searchable in its Durable Object):
 * HOT_WINDOW_DAYS, an operator's cap over every tier's own hot retention (30 when unset).
 */
export const hotWindowMs = (env: Env): number => {
  const days = Number(env.HOT_WINDOW_DAYS);
  return (Number.isFinite(days) && days > 0 ? days : 30) * DAY_MS;
};

/** A device's hot window: its tier's hot retention days, within the operator's cap. */
export const hotWindowFor = (env: Env, tierDays: number): number => Math.min(hotWindowMs(env), tierDays * DAY_MS);

/**
 * The key that signs device keys and live-tail tickets, so the Worker refuses made-up ones
 * before any Durable Object is addressed. SIGNING_SECRET when set, else the ADMIN_TOKEN.
 */
export const signingKey = (env: Env): string => {
  const key = env.SIGNING_SECRET || env.ADMIN_TOKEN;
  if (!key) throw new Error("set SIGNING_SECRET (or ADMIN_TOKEN) to sign device keys and tickets");
  return `fleetbeat-signing:${key}`;
};
