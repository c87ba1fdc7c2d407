// Ingest: the one way a batch of log lines comes in, whatever carried it (POST /logs/ingest,
// the device socket, later OTLP). Each line is validated on its own; the valid ones go to the
// device's object, which stores and counts them in one transaction and answers only once they
// are committed. Whoever calls this passes how to reach that object.
import { ApiError } from "../contract/errors";
import { LOG_UPLOAD } from "../contract/limits";
import { type Rejection, type StoredLine, validateLines } from "../contract/log-line";
import { IngestEnvelope } from "../contract/logs";
import { monthlyQuotaExceeded, type QuotaState } from "../contract/quota";
import { type RateLimitRule, rateLimited } from "../contract/rate-limits";
import { sessionTaken } from "../contract/sessions";
import { parseOrThrow } from "../contract/validation";

/** What the device's object is handed: lines already validated, rejections already decided. */
export interface IngestBatch {
  batch_id?: string;
  session_id?: string;
  lines: StoredLine[];
  /** Lines refused here, kept in the answer a retry gets back. */
  rejected: Rejection[];
}

/** The contract's answer to an ingest. */
export interface IngestAnswer {
  accepted: number;
  rejected: Rejection[];
  duplicate: boolean;
  batch_id?: string;
  live?: boolean;
  send_interval_s?: number;
}

/**
 * The object refuses a batch whole when its session id belongs to another device, or when
 * none of its lines fits the project's monthly limit (some fitting: those are kept).
 */
export type IngestOutcome =
  | { ok: true; answer: IngestAnswer; live?: boolean; send_interval_s?: number }
  | { ok: false; code: "conflict" | "unauthorized" }
  | { ok: false; code: "quota_exceeded"; state: QuotaState }
  | { ok: false; code: "rate_limited"; rule: RateLimitRule };

/** Validates a parsed envelope and holds it to the line limit (413 past it). */
export function envelopeOf(value: unknown): IngestEnvelope {
  const envelope = parseOrThrow(IngestEnvelope, value, "body");
  if (envelope.logs.length > LOG_UPLOAD.max_lines) {
    throw new ApiError("payload_too_large", `a batch holds at most ${LOG_UPLOAD.max_lines} lines`, {
      limit: LOG_UPLOAD.max_lines,
      lines: envelope.logs.length,
    });
  }
  return envelope;
}

/**
 * Validates every line against the server's clock and the hot window, hands the batch to the
 * device's object, and answers as the contract says.
 */
export async function ingest(
  envelope: IngestEnvelope,
  hotWindowMs: number,
  hand: (batch: IngestBatch) => Promise<IngestOutcome>,
): Promise<IngestAnswer> {
  const nowUs = Date.now() * 1000;
  const { lines, rejected } = validateLines(envelope.logs, nowUs, nowUs - hotWindowMs * 1000);
  const outcome = await hand({ session_id: envelope.session_id, batch_id: envelope.batch_id, lines, rejected });
  if (!outcome.ok) {
    if (outcome.code === "quota_exceeded") throw monthlyQuotaExceeded(outcome.state);
    if (outcome.code === "rate_limited") throw rateLimited(outcome.rule, "device");
    throw outcome.code === "conflict"
      ? sessionTaken()
      : new ApiError("unauthorized", "invalid or decommissioned device key");
  }
  // Whether someone watches the device, and how often to send: the same answer as a heartbeat's.
  const { live, send_interval_s } = outcome;
  return live === undefined ? outcome.answer : { ...outcome.answer, live, send_interval_s };
}
