// The monthly line quota as a project's object tells its devices: how much of each hard
// monthly limit is left this month. A device admits lines freely while plenty is left, and
// reserves them at the project, batch by batch, once it is close (durable-objects/*/quota.ts).
import { ApiError } from "./errors";
import type { Tier } from "./tiers";

/** What is left of the project's hard monthly limits; null where the limit is soft. */
export interface QuotaState {
  month: string; // YYYY-MM
  logs_left: number | null;
  log_bytes_left: number | null;
  /** Device messages in (every authenticated device request or frame): log batches stop past it. */
  messages_in_left: number | null;
  /** For the 429: the limit, its use and when it starts over. */
  logs_limit: number;
  log_bytes_limit: number;
  messages_in_limit: number;
  resets_at: string;
  /** The org's tier's hot retention, which the device's object keeps its lines for. */
  hot_window_days: number;
  /** The tier's archive retention: archived chunks older than this many days are deleted. */
  archive_days: number;
  /** The org's tier, for the device's rate limit; unset from an object that had not yet learnt it. */
  tier?: Tier;
}

/** What a reservation got: how many of the lines offered (in order) fit, and the state after. */
export interface QuotaGrant {
  granted: number;
  state: QuotaState;
}

/** The 429 an ingest gets when none of its lines fits the month's hard limit. */
export function monthlyQuotaExceeded(state: QuotaState): ApiError {
  // Messages first (they stop every batch); then, with room left for lines, it was the bytes.
  const byMessages = state.messages_in_left !== null && state.messages_in_left <= 0;
  const byBytes = state.logs_left === null || state.logs_left > 0;
  const [quota, limit, left] = byMessages
    ? (["device_messages_in_per_month", state.messages_in_limit, state.messages_in_left!] as const)
    : byBytes
      ? (["log_bytes_per_month", state.log_bytes_limit, state.log_bytes_left!] as const)
      : (["logs_per_month", state.logs_limit, state.logs_left ?? 0] as const);
  return new ApiError(
    "quota_exceeded",
    `the project's ${quota} limit (${limit}) is reached for ${state.month}`,
    { quota, limit, used: limit - Math.max(0, left), resets_at: state.resets_at },
    { "retry-after": String(Math.max(1, Math.ceil((Date.parse(state.resets_at) - Date.now()) / 1000))) },
  );
}

/** The reason beside each line refused because the month's limit is reached. */
export const QUOTA_REJECTION = "quota_exceeded: the project's monthly limit is reached";
