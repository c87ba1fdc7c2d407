// Answers to batches already taken, so a retried batch_id gets the same answer and nothing is
// stored or counted twice. Remembered for at least BATCH_MEMORY_MS.
export const BATCH_MEMORY_MS = 48 * 3600 * 1000;

export class BatchMemory<Answer> {
  constructor(private readonly sql: SqlStorage) {}

  answerOf(batchId: string): Answer | undefined {
    const seen = this.sql.exec<{ answer: string }>("SELECT answer FROM batches WHERE batch_id = ?", batchId).toArray()[0];
    return seen && (JSON.parse(seen.answer) as Answer);
  }

  remember(batchId: string, answer: Answer, now: number): void {
    this.sql.exec("INSERT INTO batches (batch_id, received_at, answer) VALUES (?, ?, ?)", batchId, now, JSON.stringify(answer));
  }

  /** When the oldest remembered batch arrived (ms), or null. */
  oldest(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT min(received_at) AS t FROM batches").one().t;
  }

  prune(now: number): void {
    this.sql.exec("DELETE FROM batches WHERE received_at < ?", now - BATCH_MEMORY_MS);
  }
}
