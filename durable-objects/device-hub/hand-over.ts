// A device's object kept its own lines before log shards (src/contract/log-shards.ts): a row
// per line at first (`logs`), then chunks, with its archive's manifest (`archive_chunks`) and its
// batches' answers. After the upgrade it hands all of that to its shard, a piece per alarm:
// each piece is adopted by the shard in one transaction, then deleted here in one, so a piece
// sent again after a lost answer is stored once (the shard skips lines it has by id). Lines keep
// their ids; the shard gives new lines ids after them. What was handed over was counted by the
// device when it arrived, so the shard counts none of it again.
import type { LogRecord } from "../../src/contract/log-line";
import { shardOfDevice } from "../../src/stubs/log-shard";
import type { DeviceArchiveRow } from "../log-shard/archive";
import { rowOf, type ShardRow, type Tuple } from "../log-shard/rows";
import type { HandOver as Piece } from "../log-shard/shard";
import type { ObjectStorage } from "../storage";
import type { Timers } from "../timers";

/** Lines per piece at most (a piece is one call to the shard and one transaction on each side). */
const PIECE_LINES = 20_000;
/** Batch answers younger than this still answer a retry (the shard keeps them as long). */
const ANSWERS_MS = 48 * 3600 * 1000;
const COLUMNS = "id, ts, level, module, logger, message, thread_id, process_id, session_id, context";

/** Set once nothing is left: a woken object then asks its schema nothing (the lookups read ~150 rows). */
const DONE_KEY = "handed_over";

export class HandOverToShard {
  /** Nothing is left to hand over (it never fills again). */
  private done = false;

  constructor(
    private readonly storage: ObjectStorage,
    private readonly env: Env,
    private readonly who: () => { deviceId: string; projectId: string } | undefined,
    /** Where the device's line ids stand (its last store's next id). */
    private readonly nextId: () => number,
    timers: Timers,
  ) {
    timers.add({ name: "hand-over to the shard", due: (now) => (this.left() ? now : null), fire: () => this.run() });
  }

  private get sql() {
    return this.storage.sql;
  }

  /** Whether anything is left to hand over. */
  left(): boolean {
    if (this.done || !this.who()) return false;
    if (this.storage.kv.get(DONE_KEY) === true) return !(this.done = true);
    const any = (table: string) => this.sql.exec(`SELECT 1 FROM ${table} LIMIT 1`).toArray().length > 0;
    this.done =
      !(this.hasTable("logs") && any("logs")) &&
      !(this.hasTable("chunks") && any("chunks")) &&
      !(this.hasTable("archive_chunks") && any("archive_chunks")) &&
      !(this.hasTable("batches") && any("batches"));
    // One row, once per device: every later wake skips the lookups.
    if (this.done) this.storage.kv.put(DONE_KEY, true);
    return !this.done;
  }

  private hasTable(name: string): boolean {
    return this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name).toArray().length > 0;
  }

  /** Hands one piece over: some lines, the whole manifest and the answers with the first piece. */
  private async run(): Promise<void> {
    const who = this.who();
    if (!who || !this.left()) return;
    const since = Date.now() - ANSWERS_MS;
    const chunks = this.hasTable("chunks")
      ? this.sql
          .exec<{ id: number; lines: number; batch_ids: string; data: string }>(
            "SELECT id, lines, batch_ids, data FROM chunks ORDER BY id",
          )
          .toArray()
      : [];
    const piece: Piece = { lines: [], nextId: this.nextId(), archive: [], answers: [] };
    const chunkIds: number[] = [];
    for (const c of chunks) {
      if (piece.lines.length > 0 && piece.lines.length + c.lines > PIECE_LINES) break;
      chunkIds.push(c.id);
      for (const text of c.data.split("\n")) if (text) piece.lines.push(rowOf(who.deviceId, JSON.parse(text) as Tuple));
      for (const line of c.batch_ids.split("\n")) {
        if (!line) continue;
        const [id, at, answer] = JSON.parse(line) as [string, number, unknown];
        if (at >= since) piece.answers.push({ id, answer });
      }
    }
    let lineIds: number[] = [];
    if (piece.lines.length < PIECE_LINES && this.hasTable("logs")) {
      const rows = this.sql
        .exec<LogRecord & Record<string, SqlStorageValue>>(
          `SELECT ${COLUMNS} FROM logs ORDER BY id LIMIT ?`,
          PIECE_LINES - piece.lines.length,
        )
        .toArray();
      piece.lines.push(...rows.map((r) => ({ ...r, device_id: who.deviceId }) as ShardRow));
      lineIds = rows.map((r) => r.id);
    }
    if (this.hasTable("archive_chunks"))
      piece.archive = this.sql
        .exec<DeviceArchiveRow & Record<string, SqlStorageValue>>("SELECT * FROM archive_chunks")
        .toArray();
    if (this.hasTable("batches")) {
      for (const r of this.sql.exec<{ batch_id: string; answer: string }>(
        "SELECT batch_id, answer FROM batches WHERE received_at >= ?",
        since,
      ))
        piece.answers.push({ id: r.batch_id, answer: JSON.parse(r.answer) });
    }
    await shardOfDevice(this.env, who.projectId, who.deviceId).adopt(who.deviceId, piece);
    this.storage.transactionSync(() => {
      for (const id of chunkIds) {
        this.sql.exec("DELETE FROM chunks WHERE id = ?", id);
        this.sql.exec("DELETE FROM chunks_fts WHERE rowid = ?", id);
      }
      if (lineIds.length > 0) {
        // The per-line table's full-text index holds its own copy of each message: it goes first.
        const list = JSON.stringify(lineIds);
        this.sql.exec(
          "INSERT INTO logs_fts (logs_fts, rowid, message) SELECT 'delete', id, message FROM logs WHERE id IN (SELECT value FROM json_each(?))",
          list,
        );
        this.sql.exec("DELETE FROM logs WHERE id IN (SELECT value FROM json_each(?))", list);
      }
      if (piece.archive.length > 0) this.sql.exec("DELETE FROM archive_chunks");
      if (this.hasTable("batches")) this.sql.exec("DELETE FROM batches");
    });
  }
}
