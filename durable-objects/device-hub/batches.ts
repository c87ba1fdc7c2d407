// Answers to batches already taken, so a retried batch_id gets the same answer and nothing is
// stored or counted twice, for at least BATCH_MEMORY_MS. Each batch's id and answer are kept in
// the chunk its lines went to (chunks.ts: the same row, so remembering costs nothing more); this
// class keeps an index of them in memory, built from the chunks the first time it is asked
// after the object starts. (The table of answers from before chunks is read too, until it empties.)
import type { Sql } from "../storage";
import type { ChunkStore } from "./chunks";

export const BATCH_MEMORY_MS = 48 * 3600 * 1000;
/** Ids held in memory at most; past it the oldest are looked up in the chunks instead. */
const INDEX_MAX = 100_000;

export class BatchMemory<Answer> {
  /** batch id → answer (JSON), for the batches of the last BATCH_MEMORY_MS. */
  private index?: Map<string, unknown>;
  /** Whether the index had to leave out older ids (then a miss is looked up in storage). */
  private partial = false;

  constructor(
    private readonly sql: Sql,
    private readonly chunks: ChunkStore,
  ) {}

  answerOf(batchId: string, now = Date.now()): Answer | undefined {
    const index = this.built(now);
    if (index.has(batchId)) return index.get(batchId) as Answer;
    if (!this.partial) return undefined;
    for (const b of this.chunks.recordedBatches(now - BATCH_MEMORY_MS)) if (b.id === batchId) return b.answer as Answer;
    return undefined;
  }

  /** Records a batch taken now (its chunk holds it already). */
  remember(batchId: string, answer: Answer): void {
    if (!this.index) return;
    this.index.set(batchId, answer);
    this.trim();
  }

  private built(now: number): Map<string, unknown> {
    if (this.index) return this.index;
    const index = new Map<string, unknown>();
    const since = now - BATCH_MEMORY_MS;
    const before = this.sql.exec<{ batch_id: string; answer: string }>("SELECT batch_id, answer FROM batches WHERE received_at >= ? ORDER BY received_at", since);
    for (const r of before) index.set(r.batch_id, JSON.parse(r.answer));
    for (const b of this.chunks.recordedBatches(since)) index.set(b.id, b.answer);
    this.index = index;
    this.trim();
    return index;
  }

  private trim(): void {
    const index = this.index!;
    while (index.size > INDEX_MAX) {
      index.delete(index.keys().next().value!);
      this.partial = true;
    }
  }

  /** When the oldest answer of the table before chunks arrived (ms), or null. */
  oldest(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT min(received_at) AS t FROM batches").one().t;
  }

  /** The table before chunks empties as its answers age out. */
  prune(now: number): void {
    this.sql.exec("DELETE FROM batches WHERE received_at < ?", now - BATCH_MEMORY_MS);
  }
}
