// Usage a DeviceHub owes its ProjectHub. Counts are added in the same transaction as the
// work they count, under the open sequence number. A delivery seals every pending sequence
// (new counts go to the next one), the project applies each sequence at most once, and only
// then are the rows deleted: a crash or retry anywhere can neither lose nor double a count.
import { type OutboxRow, USAGE_FIELDS, type UsageDelta } from "../../src/contract/usage";
import { utcDay } from "../../src/lib/time";

const OPEN_SEQ_KEY = "outbox_open_seq";

export class UsageOutbox {
  constructor(private readonly storage: DurableObjectStorage) {}

  private get openSeq(): number {
    return this.storage.kv.get<number>(OPEN_SEQ_KEY) ?? 1;
  }

  add(now: number, delta: UsageDelta): void {
    const fields = USAGE_FIELDS.filter((f) => delta[f]);
    if (fields.length === 0) return;
    this.storage.sql.exec(
      `INSERT INTO outbox (seq, day, ${fields.join(", ")}) VALUES (?, ?, ${fields.map(() => "?").join(", ")})
       ON CONFLICT (seq, day) DO UPDATE SET ${fields.map((f) => `${f} = ${f} + excluded.${f}`).join(", ")}`,
      this.openSeq,
      utcDay(now),
      ...fields.map((f) => delta[f]!),
    );
  }

  /** Every pending row, sealed: counts added from now on go to a later sequence. */
  seal(): OutboxRow[] {
    const rows = this.storage.sql.exec<OutboxRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox ORDER BY seq, day").toArray();
    if (rows.length > 0) this.storage.kv.put(OPEN_SEQ_KEY, Math.max(this.openSeq, rows[rows.length - 1]!.seq + 1));
    return rows;
  }

  /** The project has applied every sequence up to `seq`. */
  delivered(seq: number): void {
    this.storage.sql.exec("DELETE FROM outbox WHERE seq <= ?", seq);
  }

  pending(): boolean {
    return this.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n > 0;
  }
}
