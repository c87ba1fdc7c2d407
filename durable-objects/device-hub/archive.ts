// The log archive: lines that leave the hot store go to R2 as gzip NDJSON chunks, one or more
// per event-time hour (`logs/<project>/<device>/<hour>-<seq>.ndjson.gz`), each listed in this
// object's manifest with what a search needs to skip it: time and id range, levels and
// sessions present, line count, raw and compressed bytes. The project's D1 index
// (archive_days) says which devices have archive on which days.
//
// Moving a chunk is three steps: write it to R2; in one transaction, add its manifest row and
// delete its lines from the hot store; tell D1. A crash after the first leaves an R2 object no
// manifest lists (never read; the same key is written again next time, since the seq is the
// hour's next free one); after the second, a manifest row D1 has not heard of (marked, and
// told on the next run). So a line is never shown twice and never lost.
//
// Each run archives a prefix of the hot store in (ts, id) order, so chunks follow one another
// and a page reads them in order, at most PAGE_CHUNKS of them.
import type { LogFilter } from "../../src/contract/logs";
import { type Db } from "../../src/db/client";
import { indexArchiveDays } from "../../src/db/repos/archive";
import type { SearchTerms } from "../../src/contract/fts-query";
import { utcDay } from "../../src/lib/time";
import type { ObjectStorage } from "../storage";
import type { ChunkStore } from "./chunks";
import { type Position, comesBefore, keepLine, ownCursor } from "./line-filter";
import type { LogRow } from "./rows";

/** Lines per chunk at most (~2–5 MB of NDJSON, a few hundred KB compressed). */
const CHUNK_LINES = 20_000;
/** Chunks one page reads at most; a page that stops short resumes where its scan stopped. */
export const PAGE_CHUNKS = 8;
const HOUR_US = 3_600_000_000;

interface ChunkRow {
  key: string;
  hour: number;
  seq: number;
  min_ts: number;
  min_id: number;
  max_ts: number;
  max_id: number;
  lines: number;
  levels: number; // bit n set: a line at level n
  sessions: string; // JSON array of the session ids present
  raw_bytes: number;
  gz_bytes: number;
  indexed: number;
}

export const ARCHIVE_SCHEMA = `CREATE TABLE archive_chunks (
     key TEXT PRIMARY KEY,
     hour INTEGER NOT NULL,
     seq INTEGER NOT NULL,
     min_ts INTEGER NOT NULL,
     min_id INTEGER NOT NULL,
     max_ts INTEGER NOT NULL,
     max_id INTEGER NOT NULL,
     lines INTEGER NOT NULL,
     levels INTEGER NOT NULL,
     sessions TEXT NOT NULL,
     raw_bytes INTEGER NOT NULL,
     gz_bytes INTEGER NOT NULL,
     indexed INTEGER NOT NULL DEFAULT 0,  -- 1 once D1's archive_days has the chunk's day
     created_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX archive_chunks_hour_seq ON archive_chunks (hour, seq);
   CREATE INDEX archive_chunks_order ON archive_chunks (min_ts, min_id);`;

/** A page's archived part: the rows, and where the scan stopped when it hit PAGE_CHUNKS. */
export interface ArchivePage {
  rows: LogRow[];
  /** The first row key no chunk read covers, in the page's order; absent when nothing is left. */
  boundary?: Position;
}

export class LogArchive {
  constructor(
    private readonly storage: ObjectStorage,
    private readonly bucket: R2Bucket,
    private readonly db: Db,
    private readonly logs: Pick<ChunkStore, "oldest" | "oldestBetween" | "remove">,
    private readonly who: () => { deviceId: string; projectId: string },
  ) {}

  private get sql() {
    return this.storage.sql;
  }

  /**
   * Moves up to `maxChunks` chunks of the hot store's oldest lines to R2: those older than
   * `edgeUs`, or, when `early` lines must go to keep the hot store within its bound, that many
   * of the oldest whatever their age. Answers the lines moved.
   */
  async archive(edgeUs: number, early: number, maxChunks: number): Promise<number> {
    await this.tellD1();
    let moved = 0;
    for (let n = 0; n < maxChunks; n++) {
      const oldest = this.logs.oldest();
      if (oldest === null) break;
      const mustGo = early - moved;
      if (oldest >= edgeUs && mustGo <= 0) break;
      const hour = Math.floor(oldest / HOUR_US);
      // An hour goes whole, once all of it is past the window: one R2 object per device-hour
      // (more only past CHUNK_LINES). Early, for the size bound: only as many as must go.
      const expired = (hour + 1) * HOUR_US <= edgeUs;
      if (!expired && mustGo <= 0) break;
      const until = (hour + 1) * HOUR_US;
      const rows = this.logs.oldestBetween(hour * HOUR_US, until, expired ? CHUNK_LINES : Math.min(CHUNK_LINES, mustGo));
      if (rows.length === 0) break;
      moved += await this.moveChunk(hour, rows);
    }
    await this.tellD1();
    return moved;
  }

  private async moveChunk(hour: number, rows: LogRow[]): Promise<number> {
    const { deviceId, projectId } = this.who();
    const seq = this.sql.exec<{ seq: number }>("SELECT coalesce(max(seq) + 1, 0) AS seq FROM archive_chunks WHERE hour = ?", hour).one().seq;
    const key = `logs/${projectId}/${deviceId}/${hour}-${seq}.ndjson.gz`;
    const text = rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
    const raw = new TextEncoder().encode(text);
    const gz = new Uint8Array(await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
    await this.bucket.put(key, gz, { httpMetadata: { contentType: "application/x-ndjson", contentEncoding: "gzip" } });
    let levels = 0;
    const sessions = new Set<string>();
    for (const r of rows) {
      levels |= 1 << r.level;
      if (r.session_id !== null) sessions.add(r.session_id);
    }
    const first = rows[0]!;
    const last = rows[rows.length - 1]!;
    // D1 first, so the manifest row is written once, already marked as told (a failure leaves it for the next run).
    const indexed = await indexArchiveDays(this.db, projectId, deviceId, [utcDay(first.ts / 1000)]).then(
      () => 1,
      (err: unknown) => (console.error("telling D1 of an archived day failed; the next run retries", err), 0),
    );
    this.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO archive_chunks (key, hour, seq, min_ts, min_id, max_ts, max_id, lines, levels, sessions, raw_bytes, gz_bytes, created_at, indexed)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        key,
        hour,
        seq,
        first.ts,
        first.id,
        last.ts,
        last.id,
        rows.length,
        levels,
        JSON.stringify([...sessions]),
        raw.byteLength,
        gz.byteLength,
        Date.now(),
        indexed,
      );
      this.logs.remove(rows.map((r) => r.id));
    });
    return rows.length;
  }

  /** D1's archive_days hears of every chunk it has not yet (a failed call is retried next run). */
  private async tellD1(): Promise<void> {
    const pending = this.sql.exec<{ key: string; min_ts: number; max_ts: number }>("SELECT key, min_ts, max_ts FROM archive_chunks WHERE indexed = 0").toArray();
    if (pending.length === 0) return;
    // A chunk holds one hour: its first and last line's days are all its days.
    const days = new Set(pending.flatMap((c) => [utcDay(c.min_ts / 1000), utcDay(c.max_ts / 1000)]));
    const { deviceId, projectId } = this.who();
    await indexArchiveDays(this.db, projectId, deviceId, [...days]);
    for (const c of pending) this.sql.exec("UPDATE archive_chunks SET indexed = 1 WHERE key = ?", c.key);
  }

  /** The archived line a page in this order reaches first: the newest for "desc", the oldest for "asc". */
  nearest(order: "asc" | "desc"): Position | undefined {
    const q = order === "desc" ? "SELECT max_ts AS ts, max_id AS id FROM archive_chunks ORDER BY max_ts DESC, max_id DESC LIMIT 1" : "SELECT min_ts AS ts, min_id AS id FROM archive_chunks ORDER BY min_ts, min_id LIMIT 1";
    return this.sql.exec<{ ts: number; id: number }>(q).toArray()[0];
  }

  /** Whether any chunk could hold lines for `f` (a cheap check before reading any). */
  covers(f: Pick<LogFilter, "from" | "to">): boolean {
    return this.sql.exec("SELECT 1 FROM archive_chunks WHERE max_ts >= ? AND min_ts < ? LIMIT 1", f.from ?? 0, f.to ?? Number.MAX_SAFE_INTEGER).toArray().length > 0;
  }

  /**
   * The archived lines for a page: chunks that can match `f` (time, levels, session), in the
   * page's order after the cursor, read and filtered until `f.limit` lines are found or
   * PAGE_CHUNKS chunks are read.
   */
  async page(f: LogFilter, terms: SearchTerms | undefined): Promise<ArchivePage> {
    const asc = f.order === "asc";
    const after = ownCursor(f, this.who().deviceId);
    const where = ["max_ts >= ?", "min_ts < ?"];
    const args: SqlStorageValue[] = [f.from ?? 0, f.to ?? Number.MAX_SAFE_INTEGER];
    if (after) {
      // Chunks not wholly before the cursor (in the page's order).
      where.push(asc ? "(max_ts > ? OR (max_ts = ? AND max_id > ?))" : "(min_ts < ? OR (min_ts = ? AND min_id < ?))");
      args.push(after.ts, after.ts, after.id);
    }
    if (f.levels && f.levels.length > 0) {
      where.push("(levels & ?) != 0");
      args.push(f.levels.reduce((m, l) => m | (1 << l), 0));
    }
    if (f.session_id !== undefined) {
      where.push("EXISTS (SELECT 1 FROM json_each(sessions) WHERE value = ?)");
      args.push(f.session_id);
    }
    const dir = asc ? "ASC" : "DESC";
    const chunks = this.sql
      .exec<ChunkRow & Record<string, SqlStorageValue>>(`SELECT * FROM archive_chunks WHERE ${where.join(" AND ")} ORDER BY min_ts ${dir}, min_id ${dir} LIMIT ?`, ...args, PAGE_CHUNKS + 1)
      .toArray();
    const rows: LogRow[] = [];
    let read = 0;
    for (const chunk of chunks) {
      if (rows.length >= f.limit) return { rows: rows.slice(0, f.limit) };
      if (read === PAGE_CHUNKS) return { rows, boundary: asc ? { ts: chunk.min_ts, id: chunk.min_id } : { ts: chunk.max_ts, id: chunk.max_id } };
      read++;
      const found = await this.readChunk(chunk.key, (r) => keepLine(r, f, after, terms));
      found.sort((a, b) => (comesBefore(f.order, a, b) ? -1 : 1));
      rows.push(...found);
    }
    return { rows: rows.slice(0, f.limit) };
  }

  /** The lines of one chunk that `wanted` keeps, in (ts, id) order, decompressed as a stream. */
  private async readChunk(key: string, wanted: (r: LogRow) => boolean): Promise<LogRow[]> {
    const object = await this.bucket.get(key);
    if (!object) throw new Error(`archive chunk ${key} is listed but missing from R2`);
    const out: LogRow[] = [];
    const reader = object.body.pipeThrough(new DecompressionStream("gzip")).pipeThrough(new TextDecoderStream()).getReader();
    let rest = "";
    for (;;) {
      const { done, value } = await reader.read();
      const text = rest + (value ?? "");
      const lines = text.split("\n");
      rest = done ? "" : lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        const row = JSON.parse(line) as LogRow;
        if (wanted(row)) out.push(row);
      }
      if (done) break;
    }
    return out;
  }

  /** Deletes chunks whose newest line is older than `beforeUs`, from R2 and the manifest. Answers how many. */
  async prune(beforeUs: number, max: number): Promise<number> {
    const old = this.sql.exec<{ key: string }>("SELECT key FROM archive_chunks WHERE max_ts < ? ORDER BY min_ts LIMIT ?", beforeUs, max).toArray();
    if (old.length === 0) return 0;
    await this.bucket.delete(old.map((c) => c.key));
    for (const c of old) this.sql.exec("DELETE FROM archive_chunks WHERE key = ?", c.key);
    return old.length;
  }

  /** The oldest line still archived (µs), for the retention timer. */
  oldestChunkEnd(): number | null {
    return this.sql.exec<{ ts: number | null }>("SELECT min(max_ts) AS ts FROM archive_chunks").one().ts;
  }

  /** Chunks and their sizes, for the compression figures. */
  totals(): { chunks: number; lines: number; raw_bytes: number; gz_bytes: number } {
    return this.sql
      .exec<{ chunks: number; lines: number; raw_bytes: number; gz_bytes: number }>(
        "SELECT count(*) AS chunks, coalesce(sum(lines), 0) AS lines, coalesce(sum(raw_bytes), 0) AS raw_bytes, coalesce(sum(gz_bytes), 0) AS gz_bytes FROM archive_chunks",
      )
      .one();
  }
}
