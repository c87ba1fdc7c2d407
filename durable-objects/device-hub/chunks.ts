// The hot store: a device's lines in chunks. A chunk is one row holding a run of batches, its
// lines as JSON text (one line of text per log line) and a summary a query prunes by: time
// range, levels present, modules and sessions present. Batches are appended to the open chunk
// (one UPDATE, one row written, however many lines); past CHUNK's bounds, or when the hour of
// arrival changes, it closes and its messages become one document of the full-text index
// (one more row). So a line costs a
// small fraction of a row, where a row per line with four indexes and an FTS5 entry cost six.
//
// A query picks candidate chunks from their summaries (and, for words, from the full-text
// index; the open chunk is not indexed and is always a candidate), reads them in the page's
// order and filters their lines, until no later chunk can hold a line the page would show.
// Each line keeps the id it was given on arrival, so ids, cursors and the archive's order are
// as they were with a row per line.
import type { LogRecord, StoredLine } from "../../src/contract/log-line";
import type { LogFilter } from "../../src/contract/logs";
import type { Sql } from "../storage";
import { type Position, comesBefore, keepLine, ownCursor } from "./line-filter";
import type { LogRow } from "./rows";

/** A chunk closes (and is indexed for words) past any of these. An object, so tests can lower it. */
export const CHUNK = { maxLines: 2_000, maxBytes: 512 * 1024, maxBatches: 200 };
/** Distinct modules or sessions a summary lists; past it the summary says "any" (null). */
const SUMMARY_NAMES_MAX = 32;

export const CHUNKS_SCHEMA = `CREATE TABLE chunks (
     id INTEGER PRIMARY KEY,       -- in order of arrival
     first_id INTEGER NOT NULL,    -- the id of its first line (each line keeps its own)
     end_id INTEGER NOT NULL,      -- one past the last line id given here
     lines INTEGER NOT NULL,       -- lines held now (the archive takes some out)
     min_ts INTEGER,               -- µs, null while it holds no line
     max_ts INTEGER,
     levels INTEGER NOT NULL,      -- bit n: a line at level n
     modules TEXT,                 -- JSON array of the modules present; null: too many to list
     sessions TEXT,                -- the same for session ids
     received_at INTEGER NOT NULL, -- ms, when its last batch arrived
     batches INTEGER NOT NULL,     -- batches appended
     bytes INTEGER NOT NULL,       -- length of data
     batch_ids TEXT NOT NULL,      -- one JSON line per batch that had an id: [batch_id, received_at, answer]
     keys TEXT NOT NULL,           -- "id,ts,level," per line, in the order of data: what most filters need, read without the lines
     data TEXT NOT NULL            -- one JSON line per log line: [id, ts, level, module, logger, message, thread_id, process_id, session_id, context]
   );
   CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, content = '', contentless_delete = 1);`;

type Tuple = [number, number, number, string, string | null, string, string | null, string | null, string | null, string | null];

interface Head {
  id: number;
  first_id: number;
  end_id: number;
  lines: number;
  min_ts: number | null;
  max_ts: number | null;
  levels: number;
  modules: string | null;
  sessions: string | null;
  received_at: number;
  batches: number;
  bytes: number;
}

const HEAD = "id, first_id, end_id, lines, min_ts, max_ts, levels, modules, sessions, received_at, batches, bytes";
const HOUR_MS = 3_600_000;

const rowOf = (t: Tuple): LogRow =>
  ({ id: t[0], ts: t[1], level: t[2], module: t[3], logger: t[4], message: t[5], thread_id: t[6], process_id: t[7], session_id: t[8], context: t[9] }) as LogRow;

const tupleOf = (id: number, l: Omit<LogRecord, "id">): Tuple => [id, l.ts, l.level, l.module, l.logger, l.message, l.thread_id, l.process_id, l.session_id, l.context];

/** A line's keys as the `keys` column holds them. */
const keysOf = (t: Tuple): string => `${t[0]},${t[1]},${t[2]},`;

/**
 * One chunk's lines, read lazily: the keys (id, time, level) of all of them at once, a line's
 * text only when a filter or the page needs it, and its JSON only then.
 */
class ChunkLines {
  private readonly keys: number[];
  private texts?: string[];

  constructor(
    keys: string,
    private readonly data: string,
  ) {
    this.keys = keys ? (JSON.parse(`[${keys.slice(0, -1)}]`) as number[]) : [];
  }

  get count(): number {
    return this.keys.length / 3;
  }

  id = (i: number): number => this.keys[3 * i]!;
  ts = (i: number): number => this.keys[3 * i + 1]!;
  level = (i: number): number => this.keys[3 * i + 2]!;

  text(i: number): string {
    this.texts ??= this.data.split("\n");
    return this.texts[i]!;
  }

  tuple = (i: number): Tuple => JSON.parse(this.text(i)) as Tuple;
  row = (i: number): LogRow => rowOf(this.tuple(i));
}

/** A line found for a page: its position, and its row once read. */
interface Found {
  ts: number;
  id: number;
  lines: ChunkLines;
  i: number;
}

/**
 * Whether a line's raw text can hold the search words at all: a cheap test before reading it.
 * Only for lines in ASCII, where a word of the line is a run of the lower-cased text (elsewhere
 * case folding and diacritics decide, and the line is read).
 */
function mayHold(words: readonly string[], raw: string): boolean {
  if (words.length === 0 || /[^\x00-\x7f]/.test(raw)) return true;
  const lower = raw.toLowerCase();
  return words.every((w) => lower.includes(w));
}

/** The distinct values of a summary list after adding `more`; null once past SUMMARY_NAMES_MAX or already null. */
function union(list: string | null, more: Iterable<string | null>): string | null {
  if (list === null) return null;
  const set = new Set<string>(JSON.parse(list) as string[]);
  for (const v of more) if (v !== null) set.add(v);
  return set.size > SUMMARY_NAMES_MAX ? null : JSON.stringify([...set]);
}

function summaryOf(lines: readonly { ts: number; level: number; module: string; session_id: string | null }[]) {
  let minTs: number | null = null;
  let maxTs: number | null = null;
  let levels = 0;
  for (const l of lines) {
    if (minTs === null || l.ts < minTs) minTs = l.ts;
    if (maxTs === null || l.ts > maxTs) maxTs = l.ts;
    levels |= 1 << l.level;
  }
  return {
    minTs,
    maxTs,
    levels,
    modules: union("[]", lines.map((l) => l.module)),
    sessions: union("[]", lines.map((l) => l.session_id)),
  };
}

export interface BatchRecord {
  id: string;
  answer: unknown;
}

export class ChunkStore {
  constructor(
    private readonly sql: Sql,
    private readonly deviceId: () => string,
    /** The open chunk and the next line id, kept in the device's state (saved with the batch). */
    private readonly pointers: { get(): { openChunk: number | null; nextLineId: number | null }; set(openChunk: number | null, nextLineId: number): void },
  ) {}

  /**
   * Stores a batch's lines (and, when it has one, its id and answer, for a retry); returns the
   * first line's id (a batch's ids are consecutive). One row written for a batch that fits the
   * open chunk; a chunk that closes adds its index document.
   */
  append(lines: readonly StoredLine[], sessionId: string | null, receivedAt: number, batch?: BatchRecord): number {
    let { openChunk, nextLineId } = this.pointers.get();
    let next = nextLineId ?? this.firstLineId();
    const first = next;
    const record = batch ? `${JSON.stringify([batch.id, receivedAt, batch.answer])}\n` : "";
    let head = openChunk === null ? undefined : this.head(openChunk);
    let rest = lines.map((l) => ({ ...l, session_id: sessionId }));
    for (;;) {
      const take = rest.slice(0, head ? CHUNK.maxLines - head.lines : CHUNK.maxLines);
      const last = take.length === rest.length;
      const tuples = take.map((r, i) => tupleOf(next + i, r));
      const text = tuples.map((t) => `${JSON.stringify(t)}\n`).join("");
      const keys = tuples.map(keysOf).join("");
      // A batch goes whole into the open chunk, or the open chunk closes and it starts new ones. A
      // chunk holds one hour of arrivals: live lines of one hour then leave for the archive as
      // whole chunks, never rewritten (retention.ts).
      const fits = last && head && head.bytes + text.length <= CHUNK.maxBytes && head.batches < CHUNK.maxBatches;
      if (head && !(fits && Math.floor(head.received_at / HOUR_MS) === Math.floor(receivedAt / HOUR_MS))) {
        this.close(head.id);
        openChunk = null;
        head = undefined;
        continue;
      }
      const s = summaryOf(take);
      const note = last ? record : "";
      next += take.length;
      if (head) {
        const minTs = head.min_ts === null ? s.minTs : s.minTs === null ? head.min_ts : Math.min(head.min_ts, s.minTs);
        const maxTs = head.max_ts === null ? s.maxTs : s.maxTs === null ? head.max_ts : Math.max(head.max_ts, s.maxTs);
        this.sql.exec(
          `UPDATE chunks SET end_id = ?, lines = lines + ?, min_ts = ?, max_ts = ?, levels = levels | ?, modules = ?, sessions = ?,
             received_at = ?, batches = batches + 1, bytes = bytes + ?, batch_ids = batch_ids || ?, keys = keys || ?, data = data || ? WHERE id = ?`,
          next,
          take.length,
          minTs,
          maxTs,
          s.levels,
          union(head.modules, take.map((r) => r.module)),
          union(head.sessions, take.map((r) => r.session_id)),
          receivedAt,
          text.length,
          note,
          keys,
          text,
          head.id,
        );
        break;
      }
      const id = this.sql
        .exec<{ id: number }>(
          `INSERT INTO chunks (first_id, end_id, lines, min_ts, max_ts, levels, modules, sessions, received_at, batches, bytes, batch_ids, keys, data)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          next - take.length,
          next,
          take.length,
          s.minTs,
          s.maxTs,
          s.levels,
          s.modules,
          s.sessions,
          receivedAt,
          last ? 1 : 0,
          text.length,
          note,
          keys,
          text,
        )
        .one().id;
      if (last) {
        openChunk = id;
        break;
      }
      // A piece that fills a chunk by itself closes at once; the last piece stays open.
      this.close(id);
      rest = rest.slice(take.length);
    }
    this.pointers.set(openChunk, next);
    return first;
  }

  /** Closes a chunk: its messages become its document in the full-text index. */
  private close(id: number): void {
    const lines = this.read(id);
    const text = Array.from({ length: lines.count }, (_, i) => lines.tuple(i)[5]).join("\n");
    if (text) this.sql.exec("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", id, text);
  }

  /** Line ids continue after the per-line table's (the store before chunks), which never reused one. */
  private firstLineId(): number {
    const seq = this.sql.exec<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'logs'").toArray()[0]?.seq ?? 0;
    return seq + 1;
  }

  private head(id: number): Head | undefined {
    return this.sql.exec<Head & Record<string, SqlStorageValue>>(`SELECT ${HEAD} FROM chunks WHERE id = ?`, id).toArray()[0];
  }

  private read(id: number): ChunkLines {
    const r = this.sql.exec<{ keys: string; data: string }>("SELECT keys, data FROM chunks WHERE id = ?", id).toArray()[0];
    return new ChunkLines(r?.keys ?? "", r?.data ?? "");
  }

  /** Whether the chunk is in the full-text index: every chunk but the open one is. */
  private indexed(id: number): boolean {
    return id !== this.pointers.get().openChunk;
  }

  /** A page of lines for `f`, in its order, at most `f.limit`. */
  query(f: LogFilter): LogRow[] {
    const asc = f.order === "asc";
    const after = ownCursor(f, this.deviceId());
    const where = ["lines > 0"];
    const args: SqlStorageValue[] = [];
    if (f.from !== undefined) where.push("max_ts >= ?"), args.push(f.from);
    if (f.to !== undefined) where.push("min_ts < ?"), args.push(f.to);
    if (f.levels && f.levels.length > 0) where.push("(levels & ?) != 0"), args.push(f.levels.reduce((m, l) => m | (1 << l), 0));
    if (after) where.push(asc ? "max_ts >= ?" : "min_ts <= ?"), args.push(after.ts);
    if (f.module !== undefined) where.push("(modules IS NULL OR EXISTS (SELECT 1 FROM json_each(modules) WHERE value = ?))"), args.push(f.module);
    if (f.session_id !== undefined) where.push("(sessions IS NULL OR EXISTS (SELECT 1 FROM json_each(sessions) WHERE value = ?))"), args.push(f.session_id);
    if (f.match !== undefined) {
      where.push("(id = ? OR id IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?))");
      args.push(this.pointers.get().openChunk ?? -1, f.match);
    }
    const candidates = this.sql
      .exec<{ id: number; min_ts: number; max_ts: number }>(
        `SELECT id, min_ts, max_ts FROM chunks WHERE ${where.join(" AND ")} ORDER BY ${asc ? "min_ts ASC" : "max_ts DESC"}`,
        ...args,
      )
      .toArray();
    const order = f.order;
    const sorted = (rows: Found[]) => rows.sort((a, b) => (comesBefore(order, a, b) ? -1 : 1));
    const levels = f.levels && f.levels.length > 0 ? new Set(f.levels) : null;
    // Filters on the line's own fields need its text; the others read only its keys.
    const needsLine = f.module !== undefined || f.session_id !== undefined || f.terms !== undefined;
    const words = f.terms ? f.terms.words : [];
    let found: Found[] = [];
    for (const c of candidates) {
      if (found.length >= f.limit) {
        found = sorted(found).slice(0, f.limit);
        const kth = found[f.limit - 1]!;
        // No later chunk can hold a line before the page's last one.
        if (asc ? c.min_ts > kth.ts : c.max_ts < kth.ts) break;
      }
      const lines = this.read(c.id);
      for (let i = 0; i < lines.count; i++) {
        const ts = lines.ts(i);
        const id = lines.id(i);
        if (f.from !== undefined && ts < f.from) continue;
        if (f.to !== undefined && ts >= f.to) continue;
        if (levels && !levels.has(lines.level(i))) continue;
        if (after && !comesBefore(order, after, { ts, id })) continue;
        if (needsLine && !(mayHold(words, lines.text(i)) && keepLine(lines.row(i), f, after, f.terms))) continue;
        found.push({ ts, id, lines, i });
      }
    }
    return sorted(found)
      .slice(0, f.limit)
      .map((x) => x.lines.row(x.i));
  }

  /** The event time (µs) of the oldest line held, or null. */
  oldest(): number | null {
    return this.sql.exec<{ ts: number | null }>("SELECT min(min_ts) AS ts FROM chunks WHERE lines > 0").one().ts;
  }

  /** Lines held. */
  span(): number {
    return this.sql.exec<{ n: number }>("SELECT coalesce(sum(lines), 0) AS n FROM chunks").one().n;
  }

  /** Up to `limit` of the oldest lines with from ≤ ts < until, in (ts, id) order, whole. */
  oldestBetween(from: number, until: number, limit: number): LogRow[] {
    const chunks = this.sql
      .exec<{ id: number; min_ts: number }>("SELECT id, min_ts FROM chunks WHERE lines > 0 AND max_ts >= ? AND min_ts < ? ORDER BY min_ts", from, until)
      .toArray();
    const upTo = (rows: Found[]) => rows.sort((a, b) => (comesBefore("asc", a, b) ? -1 : 1)).slice(0, limit);
    let found: Found[] = [];
    for (const c of chunks) {
      if (found.length >= limit) {
        found = upTo(found);
        if (c.min_ts > found[limit - 1]!.ts) break;
      }
      const lines = this.read(c.id);
      for (let i = 0; i < lines.count; i++) {
        const ts = lines.ts(i);
        if (ts >= from && ts < until) found.push({ ts, id: lines.id(i), lines, i });
      }
    }
    return upTo(found).map((x) => x.lines.row(x.i));
  }

  /** Takes these lines out (the archive has them): chunks left empty go, the others are rewritten without them (one row each). */
  remove(ids: readonly number[]): void {
    if (ids.length === 0) return;
    const gone = new Set(ids);
    let lo = Infinity;
    let hi = -Infinity;
    for (const id of ids) {
      if (id < lo) lo = id;
      if (id > hi) hi = id;
    }
    const chunks = this.sql.exec<{ id: number }>("SELECT id FROM chunks WHERE end_id > ? AND first_id <= ? AND lines > 0", lo, hi).toArray();
    for (const { id } of chunks) {
      const lines = this.read(id);
      const keptAt = Array.from({ length: lines.count }, (_, i) => i).filter((i) => !gone.has(lines.id(i)));
      if (keptAt.length === lines.count) continue;
      const kept = keptAt.map((i) => lines.tuple(i));
      const indexed = this.indexed(id);
      if (kept.length === 0 && indexed) {
        this.sql.exec("DELETE FROM chunks_fts WHERE rowid = ?", id);
        this.sql.exec("DELETE FROM chunks WHERE id = ?", id);
        continue;
      }
      // A chunk that keeps some lines keeps its index document as it was: words of lines gone
      // only make it a candidate its lines then do not match (a query checks every line).
      const s = summaryOf(kept.map(rowOf));
      const text = keptAt.map((i) => `${lines.text(i)}\n`).join("");
      this.sql.exec(
        "UPDATE chunks SET lines = ?, min_ts = ?, max_ts = ?, levels = ?, modules = ?, sessions = ?, bytes = ?, keys = ?, data = ? WHERE id = ?",
        kept.length,
        s.minTs,
        s.maxTs,
        s.levels,
        s.modules,
        s.sessions,
        text.length,
        kept.map(keysOf).join(""),
        text,
        id,
      );
    }
  }

  /** Batches recorded since `since` (ms): their ids and answers, for the retry memory. */
  *recordedBatches(since: number): Generator<{ id: string; at: number; answer: unknown }> {
    const rows = this.sql.exec<{ batch_ids: string }>("SELECT batch_ids FROM chunks WHERE received_at >= ? AND batch_ids != ''", since);
    for (const r of rows) {
      for (const line of r.batch_ids.split("\n")) {
        if (!line) continue;
        const [id, at, answer] = JSON.parse(line) as [string, number, unknown];
        if (at >= since) yield { id, at, answer };
      }
    }
  }

  /** Re-stores lines of the store before chunks (logs.ts) as closed chunks; answers how many. */
  adopt(rows: readonly LogRow[]): number {
    if (rows.length === 0) return 0;
    for (let i = 0; i < rows.length; i += CHUNK.maxLines) {
      const piece = rows.slice(i, i + CHUNK.maxLines);
      const s = summaryOf(piece);
      const tuples = piece.map((r) => tupleOf(r.id, r));
      const text = tuples.map((t) => `${JSON.stringify(t)}\n`).join("");
      const id = this.sql
        .exec<{ id: number }>(
          `INSERT INTO chunks (first_id, end_id, lines, min_ts, max_ts, levels, modules, sessions, received_at, batches, bytes, batch_ids, keys, data)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, '', ?, ?) RETURNING id`,
          piece[0]!.id,
          piece[piece.length - 1]!.id + 1,
          piece.length,
          s.minTs,
          s.maxTs,
          s.levels,
          s.modules,
          s.sessions,
          text.length,
          tuples.map(keysOf).join(""),
          text,
        )
        .one().id;
      this.sql.exec("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", id, piece.map((r) => r.message).join("\n"));
    }
    return rows.length;
  }

  /** The position of the line a page in this order reaches first, for a quick "latest page" check. */
  nearest(order: "asc" | "desc"): Position | undefined {
    const q = order === "desc" ? "SELECT max_ts AS ts FROM chunks WHERE lines > 0 ORDER BY max_ts DESC LIMIT 1" : "SELECT min_ts AS ts FROM chunks WHERE lines > 0 ORDER BY min_ts LIMIT 1";
    const ts = this.sql.exec<{ ts: number }>(q).toArray()[0]?.ts;
    return ts === undefined ? undefined : { ts, id: order === "desc" ? Number.MAX_SAFE_INTEGER : -1 };
  }
}
