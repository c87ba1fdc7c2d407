// Answers to batches already taken, so a retried batch_id gets the same answer and nothing is
// stored or counted twice, for at least BATCH_MEMORY_MS. Each batch's id and answer are kept in
// the record of the chunk its lines went to (chunks.ts: the same row, so remembering costs
// nothing more). In memory, each device's ids are indexed the first time that device sends
// after the shard starts (one read of its chunks of the last BATCH_MEMORY_MS); devices quiet
// for longest are dropped from memory past INDEX_MAX ids, and read again if they come back.
import type { ChunkStore } from "./chunks";

const BATCH_MEMORY_MS = 48 * 3600 * 1000;
/** Ids held in memory at most, over all the shard's devices. */
const INDEX_MAX = 200_000;

/** What a batch taken before is remembered by: its answer, and its lines' ids (first, how many). */
export interface Taken {
  answer: unknown;
  first: number;
  lines: number;
}

export class BatchMemory {
  /** device id → (batch id → what it was taken as), in order of last use (the oldest first). */
  private readonly devices = new Map<string, Map<string, Taken>>();
  private size = 0;

  constructor(private readonly chunks: ChunkStore) {}

  takenAs(deviceId: string, batchId: string, now = Date.now()): Taken | undefined {
    return this.of(deviceId, now).get(batchId);
  }

  /** Records a batch taken now (its chunk holds it already). */
  remember(deviceId: string, batchId: string, taken: Taken): void {
    const ids = this.devices.get(deviceId);
    if (!ids) return;
    ids.set(batchId, taken);
    this.size++;
    this.trim(deviceId);
  }

  /** A device's ids are read again when next asked (a hand-over added some). */
  forget(deviceId: string): void {
    const ids = this.devices.get(deviceId);
    if (!ids) return;
    this.devices.delete(deviceId);
    this.size -= ids.size;
  }

  private of(deviceId: string, now: number): Map<string, Taken> {
    let ids = this.devices.get(deviceId);
    if (ids) {
      // Most recently used last.
      this.devices.delete(deviceId);
      this.devices.set(deviceId, ids);
      return ids;
    }
    ids = new Map();
    for (const b of this.chunks.recordsOf(deviceId, now - BATCH_MEMORY_MS))
      if (b.batch_id !== null) ids.set(b.batch_id, { answer: b.answer, first: b.first_id, lines: b.lines });
    this.devices.set(deviceId, ids);
    this.size += ids.size;
    this.trim(deviceId);
    return ids;
  }

  private trim(keep: string): void {
    for (const [deviceId, ids] of this.devices) {
      if (this.size <= INDEX_MAX || deviceId === keep) break;
      this.devices.delete(deviceId);
      this.size -= ids.size;
    }
  }
}
