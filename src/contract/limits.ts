// Limits a device is told at registration and held to at ingest. Documented in docs/limits.md.
export const LOG_UPLOAD = {
  /** Lines in one batch; more answers 413. */
  max_lines: 5000,
  /** Bytes of one batch as sent (compressed or not) and again after decompression; more answers 413. */
  max_bytes: 5 * 1024 * 1024,
} as const;

export const LINE_LIMITS = {
  message_chars: 16 * 1024,
  module_chars: 128,
  logger_chars: 256,
  thread_chars: 64,
  context_keys: 32,
  context_key_chars: 64,
  context_value_chars: 1024,
  /** Lines may be at most this far ahead of the server's clock. */
  future_skew_ms: 10 * 60 * 1000,
} as const;
