// One OTLP logs export, stored through the same ingest as POST /logs/ingest: its records
// become lines (mapping.ts), grouped by session and cut to the server's batch size, and each
// group goes to the device's object under a batch id derived from the export's own bytes and
// the group's place in it. An exporter that retries an export it has no answer for sends the
// same bytes, so every group is recognised and nothing is stored or counted twice.
import { ApiError } from "../contract/errors";
import { LOG_UPLOAD } from "../contract/limits";
import { envelopeOf, type IngestBatch, type IngestOutcome, ingest } from "../ingest/ingest";
import { sha256 } from "../lib/crypto";
import { lineOf, type MappedLine } from "./mapping";
import type { OtlpRecord } from "./record";

export interface ExportOutcome {
  rejected: number;
  /** The first few reasons, for the answer's errorMessage. */
  reasons: string[];
}

const REASONS_KEPT = 3;

interface Group {
  session_id: string | undefined;
  logs: MappedLine["line"][];
  /** Each line's place among the export's records, for the answer's reasons. */
  records: number[];
}

function groups(lines: MappedLine[]): Group[] {
  const bySession = new Map<string | undefined, { logs: MappedLine["line"][]; records: number[] }>();
  lines.forEach((l, i) => {
    const group = bySession.get(l.session_id) ?? { logs: [], records: [] };
    group.logs.push(l.line);
    group.records.push(i);
    bySession.set(l.session_id, group);
  });
  const out: Group[] = [];
  for (const [session_id, g] of bySession) {
    for (let i = 0; i < g.logs.length; i += LOG_UPLOAD.max_lines) {
      out.push({
        session_id,
        logs: g.logs.slice(i, i + LOG_UPLOAD.max_lines),
        records: g.records.slice(i, i + LOG_UPLOAD.max_lines),
      });
    }
  }
  return out;
}

/**
 * Stores an export's records. A group refused whole for what it is (its session id is not
 * one, or another device owns that session) counts as rejected records; the month's quota,
 * when no line fits, is the request's answer (429), so the exporter waits for the reset.
 */
export async function storeExport(
  body: Uint8Array,
  records: OtlpRecord[],
  hotWindowMs: number,
  hand: (batch: IngestBatch) => Promise<IngestOutcome>,
): Promise<ExportOutcome> {
  const exportId = (await sha256(body)).slice(0, 32);
  const outcome: ExportOutcome = { rejected: 0, reasons: [] };
  const reason = (r: string) =>
    outcome.reasons.length < REASONS_KEPT && !outcome.reasons.includes(r) && outcome.reasons.push(r);
  let n = 0;
  for (const group of groups(records.map(lineOf))) {
    const batchId = `otlp-${exportId}-${n++}`;
    try {
      const envelope = envelopeOf({
        batch_id: batchId,
        ...(group.session_id !== undefined ? { session_id: group.session_id } : {}),
        logs: group.logs,
      });
      const answer = await ingest(envelope, hotWindowMs, hand);
      outcome.rejected += answer.rejected.length;
      for (const r of answer.rejected) reason(`record ${group.records[r.index]}: ${r.reason}`);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code === "quota_exceeded") throw err;
      outcome.rejected += group.logs.length;
      reason(`${group.logs.length} records of session ${JSON.stringify(group.session_id)}: ${err.message}`);
    }
  }
  return outcome;
}
