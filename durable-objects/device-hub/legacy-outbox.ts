// The outbox tables a device's object kept before its counts moved into its state (owed.ts):
// rows still there after an upgrade are delivered once, under the sequences they already had
// (the project may have applied some of them: it ignores those), then deleted. New sequences
// continue after the last of them.
import type { BucketRow } from "../../src/contract/buckets";
import type { TallyRow } from "../../src/contract/tallies";
import type { OutboxRow } from "../../src/contract/usage";
import type { Kv, Sql } from "../storage";

const OPEN_SEQ_KEY = "outbox_open_seq";

export class LegacyOutbox {
  /** Known to be empty (memory only; it never fills again). */
  private empty = false;

  constructor(
    private readonly sql: Sql,
    private readonly kv: Kv,
  ) {}

  /** The rows, buckets and tallies left, or null when there are none. */
  left(): { rows: OutboxRow[]; buckets: BucketRow[]; tallies: TallyRow[] } | null {
    if (this.empty) return null;
    const rows = this.sql
      .exec<OutboxRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox ORDER BY seq, day")
      .toArray();
    if (rows.length === 0) {
      this.empty = true;
      return null;
    }
    return {
      rows,
      buckets: this.sql.exec<BucketRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox_buckets").toArray(),
      tallies: this.sql.exec<TallyRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox_tallies").toArray(),
    };
  }

  /** The first sequence new counts may use. */
  nextSeq(): number {
    const row = this.sql.exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM outbox").one();
    return Math.max(this.kv.get<number>(OPEN_SEQ_KEY) ?? 1, (row.seq ?? 0) + 1);
  }

  /** The project has taken them. */
  delivered(): void {
    this.sql.exec("DELETE FROM outbox");
    this.sql.exec("DELETE FROM outbox_buckets");
    this.sql.exec("DELETE FROM outbox_tallies");
    this.empty = true;
  }
}
