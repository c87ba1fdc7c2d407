// Request rates, held by Cloudflare's Workers Rate Limiting bindings ([[ratelimits]] in
// wrangler.toml). A binding's limit and period are fixed in wrangler.toml, so there is one
// binding per class and tier, and the tier table (tiers.ts) names the one each tier uses.
// Three classes:
// - key: per org API key (and per signed-in person), checked where the key is accepted;
// - device: per device, checked by the device's own object, which knows its tier. A heartbeat
//   and a command acknowledgement are never limited: they keep a device online and a command's
//   outcome known;
// - ip: per client IP on the routes that take no credential (registration, the live tail's
//   upgrade), before any lookup. No tier is known there, so there is one binding.
// A request past its limit gets 429 rate_limited with Retry-After set to the period. The
// binding counts per Cloudflare location and is free of charge: no row, no request billed.
import { ApiError } from "./errors";

type RateLimitBinding = {
  [K in keyof Env]-?: Env[K] extends RateLimit ? K : never;
}[keyof Env];

export interface RateLimitRule {
  binding: RateLimitBinding;
  /** Requests allowed per period: the binding's `simple.limit` in wrangler.toml. */
  limit: number;
  /** Seconds: the binding's `simple.period` (Cloudflare allows 10 or 60). */
  period: 10 | 60;
}

/** The routes without a credential, per client IP. */
export const IP_RATE_LIMIT: RateLimitRule = { binding: "RL_IP", limit: 300, period: 10 };

/** What a request past its limit is answered with. */
export const rateLimited = (rule: Pick<RateLimitRule, "limit" | "period">, per: string) =>
  new ApiError(
    "rate_limited",
    `more than ${rule.limit} requests in ${rule.period} s from this ${per}; retry after ${rule.period} s`,
    { limit: rule.limit, period_s: rule.period },
    { "retry-after": String(rule.period) },
  );

/** Whether one more request keyed `key` fits `rule` now (it is counted when it does). */
export async function withinRate(env: Env, rule: RateLimitRule, key: string): Promise<boolean> {
  const { success } = await env[rule.binding].limit({ key });
  return success;
}

/** Throws 429 rate_limited when a request keyed `key` is past `rule`. */
export async function holdToRate(env: Env, rule: RateLimitRule, key: string, per: string): Promise<void> {
  if (!(await withinRate(env, rule, key))) throw rateLimited(rule, per);
}

/** The client's address as Cloudflare gives it; a local server without one keys every client alike. */
export const clientIp = (header: string | undefined) => header?.trim() || "local";
