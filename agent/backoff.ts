// When an agent may try the server again after a failed delivery. The server's own word wins:
// a Retry-After header, or a quota's resets_at (a monthly quota resets on the 1st, so retrying
// every minute until then would only add load). Otherwise exponential backoff with full jitter,
// so a fleet that lost the server at one moment does not come back at one moment.

export interface BackoffOptions {
  /** The first wait's upper bound; it doubles with every failure in a row. */
  baseMs?: number;
  /** The longest wait of our own choosing (the server may ask for longer). */
  capMs?: number;
  random?: () => number;
}

export class Backoff {
  private failures = 0;
  private until = 0;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 1000;
    this.capMs = options.capMs ?? 30_000;
    this.random = options.random ?? Math.random;
  }

  /** The time before which no delivery should be tried (0: any time). */
  get retryAt(): number {
    return this.until;
  }

  ready(now = Date.now()): boolean {
    return now >= this.until;
  }

  succeeded(): void {
    this.failures = 0;
    this.until = 0;
  }

  /**
   * Records a failure. With the server's delay, waits that long plus up to a second of jitter
   * (a fleet told to come back at the same reset should not all come at that instant).
   */
  failed(serverDelayMs?: number, now = Date.now()): void {
    this.failures++;
    const own = this.random() * Math.min(this.capMs, this.baseMs * 2 ** (this.failures - 1));
    this.until = now + (serverDelayMs === undefined ? own : serverDelayMs + this.random() * 1000);
  }
}

/**
 * How long the server asked to wait, in ms: `Retry-After` (seconds or an HTTP date), or the
 * `details.resets_at` of a quota_exceeded body (a socket's error frame has no headers).
 */
export function serverDelayMs(
  retryAfter: string | null | undefined,
  body: unknown,
  now = Date.now(),
): number | undefined {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const at = Date.parse(retryAfter);
    if (Number.isFinite(at)) return Math.max(0, at - now);
  }
  const resetsAt = (body as { error?: { details?: { resets_at?: unknown } } } | null)?.error?.details?.resets_at;
  if (typeof resetsAt === "string" && Number.isFinite(Date.parse(resetsAt)))
    return Math.max(0, Date.parse(resetsAt) - now);
  return undefined;
}
