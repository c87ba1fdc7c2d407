// The receiving side of an outbox (usage-outbox.ts): the last sequence applied from each
// sender, in the receiver's `device_seqs` table. A sequence at or below it was applied
// already, so a redelivery after a crash or a lost answer changes nothing.
export class SequenceLedger {
  constructor(private readonly sql: SqlStorage) {}

  /** The last sequence applied from `sender` (0 before the first). */
  last(sender: string): number {
    return this.sql.exec<{ seq: number }>("SELECT seq FROM device_seqs WHERE device_id = ?", sender).toArray()[0]?.seq ?? 0;
  }

  /** Records `seq` as applied from `sender`, in the transaction that applied it. */
  advance(sender: string, seq: number): void {
    this.sql.exec("INSERT INTO device_seqs (device_id, seq) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq", sender, seq);
  }

  /** Senders whose name contains `part`. */
  senders(part: string): string[] {
    return this.sql
      .exec<{ device_id: string }>("SELECT device_id FROM device_seqs WHERE instr(device_id, ?) > 0", part)
      .toArray()
      .map((r) => r.device_id);
  }
}
