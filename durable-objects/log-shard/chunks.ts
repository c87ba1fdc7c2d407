// A shard's hot store: its devices' lines in chunks. A chunk is one row holding a run of one
// device's batches, its lines as JSON text (one line of text per log line) and a summary a
// query prunes by: time range, levels present, modules and sessions present. Batches are
// appended to their device's open chunk (one UPDATE, one row written, however many lines); past
// CHUNK's bounds, or when the hour of arrival changes, it closes and its messages become one
// document of the full-text index (one more row).
//
// Each chunk also keeps a record of every batch appended to it (`batch_log`): its shard
// sequence, its id and answer for a retry, what it counted. The chunk is the shard's outbox:
// what the project has not taken yet is read back from these records after a restart
// (counts.ts), so counting a batch costs no row of its own.
//
// A query picks candidate chunks from their summaries (and, for words, from the full-text
// index; open chunks are not indexed and are always candidates), reads them in the page's
// order and filters their lines, until no later chunk can hold a line the page would show.
// Lines are ordered project-wide by (event time, device id, line id); a line keeps the id its
// device's next id gave it on arrival. A count (line-counts.ts) scans the same candidates,
// newest chunks first, in no order within them, until its bound.

import { LINE_LIMITS } from "../../src/contract/limits";
import type { LogRecord, StoredLine } from "../../src/contract/log-line";
import type { LogFilter } from "../../src/contract/logs";
import type { Sql } from "../storage";
import { comesBefore, type Key, keepLine } from "./order";
import { rowOf, type ShardRow, type Tuple } from "./rows";

/** A chunk closes (and is indexed for words) past any of these. An object, so tests can lower it. */
export const CHUNK = { maxLines: 2_000, maxBytes: 512 * 1024, maxBatches: 500 };
/** Distinct modules or sessions a summary lists; past it the summary says "any" (null). */
const SUMMARY_NAMES_MAX = 32;
const HOUR_MS = 3_600_000;
const HOUR_US = HOUR_MS * 1000;
/** A line's event time is at most this far ahead of its arrival (the ingest refuses later ones). */
const SKEW_US = LINE_LIMITS.future_skew_ms * 1000;

export const CHUNKS_SCHEMA = `CREATE TABLE chunks (
     id INTEGER PRIMARY KEY,       -- in order of creation
     device_id TEXT NOT NULL,
     hour INTEGER NOT NULL,        -- the UTC hour (ms / 3,600,000) it was made in, which every batch it holds arrived in
     open INTEGER NOT NULL,        -- 1 while its device's batches are appended to it
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
     seq_hi INTEGER NOT NULL,      -- the shard sequence of its last batch (counts.ts)
     batch_log TEXT NOT NULL,      -- one JSON line per batch (BatchRecord)
     keys TEXT NOT NULL,           -- "id,ts,level," per line, in the order of data: what most filters need, read without the lines
     data TEXT NOT NULL            -- one JSON line per log line: [id, ts, level, module, logger, message, thread_id, process_id, session_id, context]
   );
   CREATE INDEX chunks_device ON chunks (device_id, id);
   -- The first chunk made in each hour: chunk ids grow with time, so an hour's chunks are an id range (one row per hour, not an index entry per chunk).
   CREATE TABLE chunk_hours (hour INTEGER PRIMARY KEY, first_chunk INTEGER NOT NULL);
   CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, content = '', contentless_delete = 1);
   -- Where a device's line ids continue once none of its chunks is left (the archive took them all).
   CREATE TABLE line_floors (device_id TEXT PRIMARY KEY, next_id INTEGER NOT NULL) WITHOUT ROWID;`;

/**
 * Where a closed chunk's lines lie, so a search finds a rare word's lines without reading the
 * chunk into memory: the full-text index knows at which word of a chunk's document a word
 * occurs (chunk_words), and `line_index` which line holds that word of the document and where
 * that line's text starts (see LineIndex). Written with the chunk's close, in the same row.
 */
export const CHUNK_WORDS_SCHEMA = `ALTER TABLE chunks ADD COLUMN line_index BLOB;
   CREATE VIRTUAL TABLE chunk_words USING fts5vocab (chunks_fts, instance);`;

/** A batch as its chunk remembers it. */
export interface BatchRecord {
  /** The shard's sequence: batches are counted to the project in this order (counts.ts). */
  seq: number;
  /** The client's batch id, for a retry (null: none given). */
  batch_id: string | null;
  /** When it was counted (ms, the clock usage days follow). */
  at: number;
  /** The answer a retry gets back. */
  answer: unknown;
  /** Its lines: ids first_id … first_id + lines - 1 of its device. */
  first_id: number;
  lines: number;
  bytes: number;
  /** Of its lines and bytes, what the project reserved against the monthly quota. */
  reserved: [number, number] | null;
  /** The request's own counts, counted with the batch (shard.ts RequestCounts); absent in records from before. */
  request?: [number, number, number];
}

const recordText = (r: BatchRecord): string =>
  `${JSON.stringify([r.seq, r.batch_id, r.at, r.answer, r.first_id, r.lines, r.bytes, r.reserved, ...(r.request ? [r.request] : [])])}\n`;

function parseRecords(log: string): BatchRecord[] {
  const out: BatchRecord[] = [];
  for (const line of log.split("\n")) {
    if (!line) continue;
    const [seq, batch_id, at, answer, first_id, lines, bytes, reserved, request] = JSON.parse(line) as [
      number,
      string | null,
      number,
      unknown,
      number,
      number,
      number,
      [number, number] | null,
      [number, number, number]?,
    ];
    out.push({ seq, batch_id, at, answer, first_id, lines, bytes, reserved, ...(request ? { request } : {}) });
  }
  return out;
}

interface Head {
  id: number;
  device_id: string;
  hour: number;
  open: number;
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

const HEAD =
  "id, device_id, hour, open, first_id, end_id, lines, min_ts, max_ts, levels, modules, sessions, received_at, batches, bytes";

const tupleOf = (id: number, l: Omit<LogRecord, "id">): Tuple => [
  id,
  l.ts,
  l.level,
  l.module,
  l.logger,
  l.message,
  l.thread_id,
  l.process_id,
  l.session_id,
  l.context,
];

/** A line's keys as the `keys` column holds them. */
const keysOf = (t: Tuple): string => `${t[0]},${t[1]},${t[2]},`;

// biome-ignore lint/suspicious/noControlCharactersInRegex: the whole ASCII range, control characters included
const NOT_ASCII = /[^\x00-\x7f]/;
/** Which of the search words is the longest: the one searched for (the rarest, most likely). */
const longest = (words: readonly string[]): number =>
  words.reduce((best, w, i) => (w.length > words[best]!.length ? i : best), 0);
const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * One chunk's lines, read lazily: the keys (id, time, level) of all of them at once when first
 * asked, a line's text only when a filter or the page needs it, and its JSON only then.
 */
export class ChunkLines {
  private parsedKeys?: number[];
  private texts?: string[];
  private knownAscii?: boolean;

  /**
   * `keyText`: the keys column, or how to read it when first needed (a search by words may never).
   * `ascii`: whether the text is all ASCII, when SQLite told it (else found here when asked).
   */
  constructor(
    readonly deviceId: string,
    private readonly keyText: string | (() => string),
    private readonly data: string,
    ascii?: boolean,
  ) {
    this.knownAscii = ascii;
  }

  private get keys(): number[] {
    if (this.parsedKeys) return this.parsedKeys;
    const text = typeof this.keyText === "string" ? this.keyText : this.keyText();
    return (this.parsedKeys = text ? (JSON.parse(`[${text.slice(0, -1)}]`) as number[]) : []);
  }

  get count(): number {
    return this.keys.length / 3;
  }

  /** Whether the chunk's text is all ASCII. */
  get ascii(): boolean {
    return (this.knownAscii ??= !NOT_ASCII.test(this.data));
  }

  id = (i: number): number => this.keys[3 * i]!;
  ts = (i: number): number => this.keys[3 * i + 1]!;
  level = (i: number): number => this.keys[3 * i + 2]!;

  text(i: number): string {
    this.texts ??= this.data.split("\n");
    return this.texts[i]!;
  }

  /**
   * The lines whose raw text may hold every one of `words` (lower case), as their rows, found by
   * searching the chunk's text once for the longest word in any case rather than reading each
   * line: a rare word costs its occurrences, not the chunk's lines nor its keys. Null when the
   * text or a word is not all ASCII, where case folding and diacritics decide (mayHold), and
   * every line must be read.
   */
  holding(words: readonly string[]): ShardRow[] | null {
    if (words.length === 0 || !this.ascii || words.some((w) => NOT_ASCII.test(w))) return null;
    const probe = words[longest(words)]!;
    // Over ASCII, a case-insensitive match is a match in the lower-cased text, without lower-casing it all.
    const occurrence = new RegExp(escapeRegExp(probe), "gi");
    const found: ShardRow[] = [];
    for (let m = occurrence.exec(this.data); m; m = occurrence.exec(this.data)) {
      // Lines are joined by newlines, which no line holds (JSON escapes them), nor any word.
      const start = this.data.lastIndexOf("\n", m.index) + 1;
      const newline = this.data.indexOf("\n", m.index);
      const end = newline < 0 ? this.data.length : newline;
      const line = this.data.slice(start, end);
      const lower = line.toLowerCase();
      if (words.every((w) => lower.includes(w))) found.push(rowOf(this.deviceId, JSON.parse(line) as Tuple));
      occurrence.lastIndex = end;
    }
    return found;
  }

  tuple = (i: number): Tuple => JSON.parse(this.text(i)) as Tuple;
  row = (i: number): ShardRow => rowOf(this.deviceId, this.tuple(i));
}

/** A line found for a page: its key, and its row once read. */
interface Found extends Key {
  row: () => ShardRow;
}

/**
 * Whether a line's raw text can hold the search words at all: a cheap test before reading it.
 * Only for lines in ASCII, where a word of the line is a run of the lower-cased text (elsewhere
 * case folding and diacritics decide, and the line is read).
 */
function mayHold(words: readonly string[], raw: string): boolean {
  if (words.length === 0 || NOT_ASCII.test(raw)) return true;
  const lower = raw.toLowerCase();
  return words.every((w) => lower.includes(w));
}

/** A word of a document in ASCII, as FTS5's unicode61 tokenizer sees it: letters and digits. */
const ASCII_WORD = /[A-Za-z0-9]+/g;

/**
 * A closed chunk's line index: for each line i, at [2i] the position (in words) of its
 * message's first word in the chunk's index document, and at [2i + 1] where its text starts in
 * `data` (in characters); one more pair past the last line. Only for a chunk all in ASCII,
 * where words are runs of letters and digits and a character is a byte. Null otherwise.
 */
function lineIndexOf(lines: ChunkLines, messages: readonly string[]): ArrayBuffer | null {
  if (!lines.ascii || lines.count === 0) return null;
  const index = new Int32Array(2 * (lines.count + 1));
  let word = 0;
  let at = 0;
  for (let i = 0; i < lines.count; i++) {
    index[2 * i] = word;
    index[2 * i + 1] = at;
    word += (messages[i]!.match(ASCII_WORD) ?? []).length;
    at += lines.text(i).length + 1;
  }
  index[2 * lines.count] = word;
  index[2 * lines.count + 1] = at;
  return index.buffer;
}

/** The line holding word `word` of the document (index from lineIndexOf), or -1. */
function lineOfWord(index: Int32Array, word: number): number {
  let lo = 0;
  let hi = index.length / 2 - 2;
  if (hi < 0 || word < index[0]! || word >= index[2 * (hi + 1)]!) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (index[2 * mid]! <= word) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Occurrences of a search word worth finding line by line; past it, candidate chunks are read whole. An
 * object, so tests can lower it.
 */
export const SEARCH = { occurrencesMax: 2_000 };

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
    modules: union(
      "[]",
      lines.map((l) => l.module),
    ),
    sessions: union(
      "[]",
      lines.map((l) => l.session_id),
    ),
  };
}

/** The condition on a chunk's device for a query of these devices (every device when absent). */
function ofDevices(devices: readonly string[] | undefined): { clause: string; args: SqlStorageValue[] } {
  if (devices === undefined) return { clause: "1", args: [] };
  if (devices.length === 1) return { clause: "device_id = ?", args: [devices[0]!] };
  return { clause: "device_id IN (SELECT value FROM json_each(?))", args: [JSON.stringify(devices)] };
}

/** What a scan of lines is filtered by (ChunkStore.scan): a search's filter without its order, cursor and limit. */
export type ScanFilter = Omit<LogFilter, "order" | "after" | "limit">;
/** Candidate chunks a scan lists at a time. */
const SCAN_PAGE = 500;

/**
 * A line a scan visits: its device, event time and level at once, its whole row when first asked. One view
 * moves from line to line.
 */
export class ScannedLine {
  device_id = "";
  ts = 0;
  level = 0;
  private lines?: ChunkLines;
  private i = 0;
  private parsed?: ShardRow;

  /** Moves to line `i` of a chunk. */
  at(lines: ChunkLines, i: number): void {
    this.lines = lines;
    this.i = i;
    this.device_id = lines.deviceId;
    this.ts = lines.ts(i);
    this.level = lines.level(i);
    this.parsed = undefined;
  }

  /** Moves to a line already read. */
  of(row: ShardRow): void {
    this.lines = undefined;
    this.device_id = row.device_id;
    this.ts = row.ts;
    this.level = row.level;
    this.parsed = row;
  }

  row(): ShardRow {
    return (this.parsed ??= this.lines!.row(this.i));
  }
}

/** A device's open chunk and next line id (memory; read from its newest chunk the first time). */
interface Pointers {
  open: number | null;
  next: number;
}

export class ChunkStore {
  private readonly pointers = new Map<string, Pointers>();
  /** The oldest event time held and the lines held (memory; the retention timer asks on every request). */
  private cached?: { oldest: number | null; span: number };

  constructor(private readonly sql: Sql) {}

  private pointersOf(deviceId: string): Pointers {
    let p = this.pointers.get(deviceId);
    if (p) return p;
    const newest = this.sql
      .exec<{ id: number; open: number; end_id: number }>(
        "SELECT id, open, end_id FROM chunks WHERE device_id = ? ORDER BY id DESC LIMIT 1",
        deviceId,
      )
      .toArray()[0];
    const floor =
      this.sql.exec<{ next_id: number }>("SELECT next_id FROM line_floors WHERE device_id = ?", deviceId).toArray()[0]
        ?.next_id ?? 1;
    p = { open: newest?.open ? newest.id : null, next: Math.max(floor, newest?.end_id ?? 1) };
    this.pointers.set(deviceId, p);
    return p;
  }

  /**
   * Stores a batch's lines for `deviceId` with its record; answers the first line's id (a
   * batch's ids are consecutive, from `floor` at least: where the device's ids stood before it
   * had a shard). One row written for a batch that fits the device's open chunk; a chunk that
   * closes adds its index document.
   */
  append(
    deviceId: string,
    lines: readonly StoredLine[],
    sessionId: string | null,
    receivedAt: number,
    record: Omit<BatchRecord, "first_id" | "lines">,
    floor = 1,
  ): number {
    const p = this.pointersOf(deviceId);
    p.next = Math.max(p.next, floor);
    const first = p.next;
    const note = recordText({ ...record, first_id: first, lines: lines.length });
    const hour = Math.floor(receivedAt / HOUR_MS);
    let head = p.open === null ? undefined : this.head(p.open);
    let rest = lines.map((l) => ({ ...l, session_id: sessionId }));
    for (;;) {
      const take = rest.slice(0, head ? CHUNK.maxLines - head.lines : CHUNK.maxLines);
      const last = take.length === rest.length;
      const tuples = take.map((r, i) => tupleOf(p.next + i, r));
      const text = tuples.map((t) => `${JSON.stringify(t)}\n`).join("");
      const keys = tuples.map(keysOf).join("");
      // A batch goes whole into the open chunk, or the open chunk closes and it starts new ones. A
      // chunk holds one hour of arrivals, so a chunk's lines are at most SKEW_US past its hour's end.
      const fits = last && head && head.bytes + text.length <= CHUNK.maxBytes && head.batches < CHUNK.maxBatches;
      if (head && !(fits && head.hour === hour)) {
        this.close(head.id);
        p.open = null;
        head = undefined;
        continue;
      }
      const s = summaryOf(take);
      this.noteAdded(take.length, s.minTs);
      const batchLog = last ? note : "";
      p.next += take.length;
      if (head) {
        const minTs = head.min_ts === null ? s.minTs : s.minTs === null ? head.min_ts : Math.min(head.min_ts, s.minTs);
        const maxTs = head.max_ts === null ? s.maxTs : s.maxTs === null ? head.max_ts : Math.max(head.max_ts, s.maxTs);
        this.sql.exec(
          `UPDATE chunks SET end_id = ?, lines = lines + ?, min_ts = ?, max_ts = ?, levels = levels | ?, modules = ?, sessions = ?,
             received_at = ?, batches = batches + 1, bytes = bytes + ?, seq_hi = ?, batch_log = batch_log || ?, keys = keys || ?, data = data || ? WHERE id = ?`,
          p.next,
          take.length,
          minTs,
          maxTs,
          s.levels,
          union(
            head.modules,
            take.map((r) => r.module),
          ),
          union(
            head.sessions,
            take.map((r) => r.session_id),
          ),
          receivedAt,
          text.length,
          record.seq,
          batchLog,
          keys,
          text,
          head.id,
        );
        break;
      }
      const id = this.sql
        .exec<{ id: number }>(
          `INSERT INTO chunks (device_id, hour, open, first_id, end_id, lines, min_ts, max_ts, levels, modules, sessions, received_at, batches, bytes, seq_hi, batch_log, keys, data)
           VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          deviceId,
          hour,
          p.next - take.length,
          p.next,
          take.length,
          s.minTs,
          s.maxTs,
          s.levels,
          s.modules,
          s.sessions,
          receivedAt,
          last ? 1 : 0,
          text.length,
          last ? record.seq : 0,
          batchLog,
          keys,
          text,
        )
        .one().id;
      this.noteHour(hour, id);
      if (last) {
        p.open = id;
        break;
      }
      // A piece that fills a chunk by itself closes at once; the last piece stays open.
      this.close(id);
      rest = rest.slice(take.length);
    }
    return first;
  }

  /** The hours chunks were made in, and the first of each (memory: the last hour noted). */
  private lastHour = -1;

  private noteHour(hour: number, id: number): void {
    if (hour <= this.lastHour) return;
    this.sql.exec("INSERT OR IGNORE INTO chunk_hours (hour, first_chunk) VALUES (?, ?)", hour, id);
    this.lastHour = hour;
  }

  /** The first chunk id made in `hour` or later (past every chunk when none was). */
  private firstChunkFrom(hour: number): number {
    return (
      this.sql
        .exec<{ id: number }>("SELECT first_chunk AS id FROM chunk_hours WHERE hour >= ? ORDER BY hour LIMIT 1", hour)
        .toArray()[0]?.id ?? Number.MAX_SAFE_INTEGER
    );
  }

  /** Closes a chunk: its messages become its document in the full-text index. */
  private close(id: number): void {
    const lines = this.read(id, "");
    const messages = Array.from({ length: lines.count }, (_, i) => lines.tuple(i)[5]);
    const text = messages.join("\n");
    if (text) this.sql.exec("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", id, text);
    this.sql.exec(
      "UPDATE chunks SET open = 0, line_index = ? WHERE id = ?",
      text ? lineIndexOf(lines, messages) : null,
      id,
    );
  }

  /**
   * Where the search's longest word occurs in closed chunks' documents: chunk id → positions
   * (in words). Null when it occurs more than SEARCH.occurrencesMax times: chunks are then read whole.
   */
  private occurrences(terms: { words: string[]; prefix: boolean }): Map<number, number[]> | null {
    if (terms.words.length === 0) return null;
    const probe = longest(terms.words);
    const word = terms.words[probe]!;
    // The last word of a search ending inside a word is a prefix: every indexed word it begins.
    const prefix = terms.prefix && probe === terms.words.length - 1;
    const rows = this.sql
      .exec<{ doc: number; offset: number }>(
        prefix
          ? "SELECT doc, offset FROM chunk_words WHERE term >= ? AND term < ? LIMIT ?"
          : "SELECT doc, offset FROM chunk_words WHERE term = ? LIMIT ?",
        ...(prefix ? [word, `${word}\u{10ffff}`] : [word]),
        SEARCH.occurrencesMax + 1,
      )
      .toArray();
    if (rows.length > SEARCH.occurrencesMax) return null;
    const at = new Map<number, number[]>();
    for (const r of rows) {
      const list = at.get(r.doc);
      if (list) list.push(r.offset);
      else at.set(r.doc, [r.offset]);
    }
    return at;
  }

  /**
   * The rows of a closed chunk's lines holding these words of its document (line_index), read
   * from its text between the first and the last of them, not whole. Null when the chunk has no
   * line index.
   */
  private linesAt(id: number, words: readonly number[]): { deviceId: string; rows: ShardRow[] } | null {
    const r = this.sql
      .exec<{ device_id: string; line_index: ArrayBuffer | null }>(
        "SELECT device_id, line_index FROM chunks WHERE id = ?",
        id,
      )
      .toArray()[0];
    if (!r?.line_index) return null;
    const index = new Int32Array(r.line_index);
    const lines = [...new Set(words.map((w) => lineOfWord(index, w)))].filter((i) => i >= 0).sort((a, b) => a - b);
    if (lines.length === 0) return { deviceId: r.device_id, rows: [] };
    // One read of the text from the first of these lines to the end of the last (SQLite loads a
    // value whole for each substr, so one per line would load the chunk as many times).
    const from = index[2 * lines[0]! + 1]!;
    const span = this.sql
      .exec<{ text: string }>(
        "SELECT substr(data, ?, ?) AS text FROM chunks WHERE id = ?",
        from + 1,
        index[2 * lines.at(-1)! + 3]! - from,
        id,
      )
      .one().text;
    const rows = lines.map((i) =>
      rowOf(r.device_id, JSON.parse(span.slice(index[2 * i + 1]! - from, index[2 * i + 3]! - 1 - from)) as Tuple),
    );
    return { deviceId: r.device_id, rows };
  }

  /**
   * Closes open chunks whose hour of arrival ended before `hour` (their devices fell silent),
   * so the full-text index finds their words; answers how many.
   */
  closeQuiet(hour: number, max: number): number {
    // A chunk is open at most an hour or so past its own: only the last two days' are looked at.
    const quiet = this.sql
      .exec<{ id: number; device_id: string }>(
        "SELECT id, device_id FROM chunks WHERE id >= ? AND id < ? AND open = 1 LIMIT ?",
        this.firstChunkFrom(hour - 48),
        this.firstChunkFrom(hour),
        max,
      )
      .toArray();
    for (const c of quiet) {
      this.close(c.id);
      const p = this.pointers.get(c.device_id);
      if (p?.open === c.id) p.open = null;
    }
    return quiet.length;
  }

  private head(id: number): Head | undefined {
    return this.sql
      .exec<Head & Record<string, SqlStorageValue>>(`SELECT ${HEAD} FROM chunks WHERE id = ?`, id)
      .toArray()[0];
  }

  /**
   * A chunk's lines. For a search by words, its keys are read only if asked for (the words may
   * find its lines without them), and SQLite says whether its text is all ASCII (as many
   * characters as bytes), faster than a scan here; other reads need neither.
   */
  private read(id: number, deviceId: string, forWords = false): ChunkLines {
    const r = this.sql
      .exec<{ device_id: string; keys: string | null; data: string; ascii: number | null }>(
        forWords
          ? "SELECT device_id, NULL AS keys, data, length(data) = octet_length(data) AS ascii FROM chunks WHERE id = ?"
          : "SELECT device_id, keys, data, NULL AS ascii FROM chunks WHERE id = ?",
        id,
      )
      .toArray()[0];
    const keys = forWords
      ? () => this.sql.exec<{ keys: string }>("SELECT keys FROM chunks WHERE id = ?", id).toArray()[0]?.keys ?? ""
      : (r?.keys ?? "");
    return new ChunkLines(
      r?.device_id ?? deviceId,
      keys,
      r?.data ?? "",
      r?.ascii === null || r === undefined ? undefined : r.ascii === 1,
    );
  }

  /** A page of lines for `f` (of `f.devices` only, when given), in its order, at most `f.limit`. */
  query(f: LogFilter): ShardRow[] {
    const asc = f.order === "asc";
    const after = f.after;
    const { where, args } = this.conditions(f);
    if (after) where.push(asc ? "max_ts >= ?" : "min_ts <= ?"), args.push(after.ts);
    const order = f.order;
    const sorted = (rows: Found[]) => rows.sort((a, b) => (comesBefore(order, a, b) ? -1 : 1));
    const levels = f.levels && f.levels.length > 0 ? new Set(f.levels) : null;
    // Filters on the line's own fields need its text; the others read only its keys.
    const needsLine = f.module !== undefined || f.session_id !== undefined || f.terms !== undefined;
    const words = f.terms ? f.terms.words : [];
    const occurrences = f.terms && f.match !== undefined ? this.occurrences(f.terms) : null;
    let found: Found[] = [];
    const keeps = (device: string, ts: number, level: number, id: number): Key | null => {
      if (f.from !== undefined && ts < f.from) return null;
      if (f.to !== undefined && ts >= f.to) return null;
      if (levels && !levels.has(level)) return null;
      const key = { ts, device_id: device, id };
      return after && !comesBefore(order, after, key) ? null : key;
    };
    const keepAll = (held: { deviceId: string; rows: ShardRow[] }) => {
      for (const row of held.rows) {
        const key = keeps(held.deviceId, row.ts, row.level, row.id);
        if (key && keepLine(row, f, after, f.terms)) found.push({ ...key, row: () => row });
      }
    };
    const scan = (candidates: { id: number; min_ts: number; max_ts: number; open: number }[]): void => {
      for (const c of candidates) {
        if (found.length >= f.limit) {
          found = sorted(found).slice(0, f.limit);
          const kth = found[f.limit - 1]!;
          // No later chunk can hold a line before the page's last one.
          if (asc ? c.min_ts > kth.ts : c.max_ts < kth.ts) break;
        }
        // A closed chunk with a line index: only the lines where the index says the word is.
        const at = occurrences && !c.open ? this.linesAt(c.id, occurrences.get(c.id) ?? []) : null;
        if (at) {
          keepAll(at);
          continue;
        }
        const lines = this.read(c.id, "", words.length > 0);
        // Else, with search words, the lines that may hold them (found in one pass over the chunk's text).
        const holding = lines.holding(words);
        if (holding) {
          keepAll({ deviceId: lines.deviceId, rows: holding });
          continue;
        }
        for (let i = 0; i < lines.count; i++) {
          const key = keeps(lines.deviceId, lines.ts(i), lines.level(i), lines.id(i));
          if (!key) continue;
          if (needsLine && !(mayHold(words, lines.text(i)) && keepLine(lines.row(i), f, after, f.terms))) continue;
          found.push({ ...key, row: () => lines.row(i) });
        }
      }
    };
    const candidates = (extra: string, extraArgs: SqlStorageValue[]) =>
      this.sql
        .exec<{ id: number; min_ts: number; max_ts: number; open: number }>(
          `SELECT id, min_ts, max_ts, open FROM chunks WHERE ${[...where, extra].join(" AND ")} ORDER BY ${asc ? "min_ts ASC" : "max_ts DESC"}`,
          ...args,
          ...extraArgs,
        )
        .toArray();
    if (asc) {
      // Oldest first: a late batch can hold old lines, so every candidate's summary is read.
      scan(candidates("1", []));
    } else {
      // Newest first, by hours of arrival going back, each window twice the last: a chunk that
      // arrived before hour h holds no line after h's start plus the skew, so once the page is
      // full past that, older chunks are not even listed.
      const range = this.sql
        .exec<{ newest: number | null; oldest: number | null }>(
          "SELECT max(hour) AS newest, min(hour) AS oldest FROM chunk_hours",
        )
        .one();
      const { newest, oldest } = range;
      if (newest !== null && oldest !== null) {
        let hi = newest + 1;
        for (let span = 2; hi > oldest; span *= 2) {
          const lo = Math.max(oldest, hi - span);
          scan(candidates("id >= ? AND id < ?", [this.firstChunkFrom(lo), this.firstChunkFrom(hi)]));
          if (found.length >= f.limit) {
            found = sorted(found).slice(0, f.limit);
            if (found[f.limit - 1]!.ts >= lo * HOUR_US + SKEW_US) break;
          }
          hi = lo;
        }
      }
    }
    return sorted(found)
      .slice(0, f.limit)
      .map((x) => x.row());
  }

  /** The conditions on a chunk's summary (and, for words, the full-text index) under which it may hold lines of `f`. */
  private conditions(f: ScanFilter): { where: string[]; args: SqlStorageValue[] } {
    const mine = ofDevices(f.devices);
    const where = ["lines > 0", mine.clause];
    const args: SqlStorageValue[] = [...mine.args];
    // A line at `from` or later arrived at `from` minus the skew at the earliest: older chunks cannot hold it.
    if (f.from !== undefined)
      where.push("max_ts >= ?", "id >= ?"),
        args.push(f.from, this.firstChunkFrom(Math.floor((f.from - SKEW_US) / HOUR_US)));
    if (f.to !== undefined) where.push("min_ts < ?"), args.push(f.to);
    if (f.levels && f.levels.length > 0)
      where.push("(levels & ?) != 0"), args.push(f.levels.reduce((m, l) => m | (1 << l), 0));
    if (f.module !== undefined)
      where.push("(modules IS NULL OR EXISTS (SELECT 1 FROM json_each(modules) WHERE value = ?))"), args.push(f.module);
    if (f.session_id !== undefined)
      where.push("(sessions IS NULL OR EXISTS (SELECT 1 FROM json_each(sessions) WHERE value = ?))"),
        args.push(f.session_id);
    if (f.match !== undefined)
      where.push("(open = 1 OR id IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?))"), args.push(f.match);
    return { where, args };
  }

  /**
   * Visits every line matching `f` (its time range, devices, levels, module, session and words;
   * no order, cursor or limit), a chunk at a time, newest chunks first (so the newest hours of
   * arrival first). `more` is asked before each chunk is read, with the lines it holds; once it
   * says no, the scan stops and answers the event time (µs) from which every matching line was
   * visited: a line at or after the end of the stopping chunk's hour plus the skew arrived after
   * that hour, in a chunk already read. `visit` gets one view, moved from line to line (it must
   * copy what it keeps). Reads only; the candidate chunks are listed a page at a time.
   */
  scan(f: ScanFilter, visit: (line: ScannedLine) => void, more: (lines: number) => boolean): { stoppedAt?: number } {
    const { where, args } = this.conditions(f);
    const levels = f.levels && f.levels.length > 0 ? new Set(f.levels) : null;
    // Filters on the line's own fields need its text; the others read only its keys.
    const needsLine = f.module !== undefined || f.session_id !== undefined || f.terms !== undefined;
    const words = f.terms ? f.terms.words : [];
    const check: LogFilter = { ...f, order: "asc", limit: 0 };
    const inRange = (ts: number, level: number) =>
      (f.from === undefined || ts >= f.from) &&
      (f.to === undefined || ts < f.to) &&
      (levels === null || levels.has(level));
    const line = new ScannedLine();
    let below = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const page = this.sql
        .exec<{ id: number; hour: number; lines: number }>(
          `SELECT id, hour, lines FROM chunks WHERE ${where.join(" AND ")} AND id < ? ORDER BY id DESC LIMIT ?`,
          ...args,
          below,
          SCAN_PAGE,
        )
        .toArray();
      for (const c of page) {
        if (!more(c.lines)) return { stoppedAt: (c.hour + 1) * HOUR_US + SKEW_US };
        const lines = this.read(c.id, "", words.length > 0);
        // With search words, the lines that may hold them, found in one pass over the chunk's text.
        const holding = lines.holding(words);
        if (holding) {
          for (const row of holding) {
            if (!inRange(row.ts, row.level) || !keepLine(row, check, undefined, f.terms)) continue;
            line.of(row);
            visit(line);
          }
          continue;
        }
        for (let i = 0; i < lines.count; i++) {
          if (!inRange(lines.ts(i), lines.level(i))) continue;
          line.at(lines, i);
          if (needsLine && !(mayHold(words, lines.text(i)) && keepLine(line.row(), check, undefined, f.terms)))
            continue;
          visit(line);
        }
      }
      if (page.length < SCAN_PAGE) return {};
      below = page[page.length - 1]!.id;
    }
  }

  private noteAdded(lines: number, minTs: number | null): void {
    if (!this.cached) return;
    this.cached.span += lines;
    if (minTs !== null && (this.cached.oldest === null || minTs < this.cached.oldest)) this.cached.oldest = minTs;
  }

  private stats(): { oldest: number | null; span: number } {
    return (this.cached ??= this.sql
      .exec<{ oldest: number | null; span: number }>(
        "SELECT min(min_ts) AS oldest, coalesce(sum(lines), 0) AS span FROM chunks WHERE lines > 0",
      )
      .one());
  }

  /** The event time (µs) of the oldest line held, or null. */
  oldest(): number | null {
    return this.stats().oldest;
  }

  /** Lines held. */
  span(): number {
    return this.stats().span;
  }

  /** Up to `limit` of the oldest lines with from ≤ ts < until, in (ts, device, id) order, whole. */
  oldestBetween(from: number, until: number, limit: number): ShardRow[] {
    const chunks = this.sql
      .exec<{ id: number; min_ts: number }>(
        "SELECT id, min_ts FROM chunks WHERE lines > 0 AND max_ts >= ? AND min_ts < ? ORDER BY min_ts",
        from,
        until,
      )
      .toArray();
    const upTo = (rows: Found[]) => rows.sort((a, b) => (comesBefore("asc", a, b) ? -1 : 1)).slice(0, limit);
    let found: Found[] = [];
    for (const c of chunks) {
      if (found.length >= limit) {
        found = upTo(found);
        if (c.min_ts > found[limit - 1]!.ts) break;
      }
      const lines = this.read(c.id, "");
      for (let i = 0; i < lines.count; i++) {
        const ts = lines.ts(i);
        if (ts >= from && ts < until)
          found.push({ ts, device_id: lines.deviceId, id: lines.id(i), row: () => lines.row(i) });
      }
    }
    return upTo(found).map((x) => x.row());
  }

  /**
   * Takes these lines out (the archive has them): chunks left empty go (unless still open), the
   * others are rewritten without them (one row each). A device whose last chunk goes keeps
   * where its ids stood.
   */
  remove(rows: readonly { device_id: string; id: number }[]): void {
    const byDevice = new Map<string, Set<number>>();
    for (const r of rows) {
      let ids = byDevice.get(r.device_id);
      if (!ids) byDevice.set(r.device_id, (ids = new Set()));
      ids.add(r.id);
    }
    for (const [deviceId, gone] of byDevice) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const id of gone) {
        if (id < lo) lo = id;
        if (id > hi) hi = id;
      }
      const chunks = this.sql
        .exec<{ id: number; open: number; end_id: number }>(
          "SELECT id, open, end_id FROM chunks WHERE device_id = ? AND end_id > ? AND first_id <= ? AND lines > 0",
          deviceId,
          lo,
          hi,
        )
        .toArray();
      for (const c of chunks) {
        const lines = this.read(c.id, deviceId);
        const keptAt = Array.from({ length: lines.count }, (_, i) => i).filter((i) => !gone.has(lines.id(i)));
        if (keptAt.length === lines.count) continue;
        if (this.cached) this.cached.span -= lines.count - keptAt.length;
        const kept = keptAt.map((i) => lines.tuple(i));
        if (kept.length === 0 && !c.open) {
          this.sql.exec("DELETE FROM chunks_fts WHERE rowid = ?", c.id);
          this.sql.exec("DELETE FROM chunks WHERE id = ?", c.id);
          this.sql.exec(
            "INSERT INTO line_floors (device_id, next_id) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET next_id = max(next_id, excluded.next_id)",
            deviceId,
            c.end_id,
          );
          continue;
        }
        // A chunk that keeps some lines keeps its index document as it was: words of lines gone
        // only make it a candidate its lines then do not match (a query checks every line).
        const s = summaryOf(kept.map((t) => rowOf(deviceId, t)));
        const text = keptAt.map((i) => `${lines.text(i)}\n`).join("");
        this.sql.exec(
          // Its line index no longer matches its text: it is read whole by searches from now on.
          "UPDATE chunks SET lines = ?, min_ts = ?, max_ts = ?, levels = ?, modules = ?, sessions = ?, bytes = ?, keys = ?, data = ?, line_index = NULL WHERE id = ?",
          kept.length,
          s.minTs,
          s.maxTs,
          s.levels,
          s.modules,
          s.sessions,
          text.length,
          kept.map(keysOf).join(""),
          text,
          c.id,
        );
      }
    }
    // The oldest line is read again when next asked.
    if (this.cached) this.cached = undefined;
  }

  /** Batches recorded for a device since `since` (ms). */
  *recordsOf(deviceId: string, since: number): Generator<BatchRecord & { received_at: number }> {
    const rows = this.sql.exec<{ received_at: number; batch_log: string }>(
      "SELECT received_at, batch_log FROM chunks WHERE device_id = ? AND received_at >= ? AND batch_log != ''",
      deviceId,
      since,
    );
    for (const r of rows) for (const b of parseRecords(r.batch_log)) yield { ...b, received_at: r.received_at };
  }

  /**
   * Every batch recorded after shard sequence `seq`, with its device and its lines (counts.ts rebuilds what
   * is owed from them).
   */
  *recordsAfter(seq: number): Generator<{ deviceId: string; record: BatchRecord; lines: ShardRow[] }> {
    const rows = this.sql
      .exec<{ id: number; device_id: string; batch_log: string }>(
        "SELECT id, device_id, batch_log FROM chunks WHERE seq_hi > ?",
        seq,
      )
      .toArray();
    for (const r of rows) {
      for (const record of parseRecords(r.batch_log)) {
        if (record.seq <= seq) continue;
        yield {
          deviceId: r.device_id,
          record,
          lines: this.linesOf(r.device_id, record.first_id, record.first_id + record.lines),
        };
      }
    }
  }

  /**
   * A device's lines with ids in [from, to), in id order (a batch's lines: its chunk, and the chunks before
   * when it spanned them).
   */
  linesOf(deviceId: string, from: number, to: number): ShardRow[] {
    if (to <= from) return [];
    const chunks = this.sql
      .exec<{ id: number }>(
        "SELECT id FROM chunks WHERE device_id = ? AND end_id > ? AND first_id < ? ORDER BY id",
        deviceId,
        from,
        to,
      )
      .toArray();
    const out: ShardRow[] = [];
    for (const c of chunks) {
      const lines = this.read(c.id, deviceId);
      for (let i = 0; i < lines.count; i++) {
        const id = lines.id(i);
        if (id >= from && id < to) out.push(lines.row(i));
      }
    }
    return out;
  }

  /** The highest shard sequence any chunk records (0: none). */
  newestSeq(): number {
    return this.sql.exec<{ s: number | null }>("SELECT max(seq_hi) AS s FROM chunks").one().s ?? 0;
  }

  /**
   * Stores lines a device kept before it had a shard, as closed chunks under their own ids,
   * with where its ids stand; answers how many lines.
   */
  adopt(deviceId: string, rows: readonly ShardRow[], nextId: number): number {
    this.sql.exec(
      "INSERT INTO line_floors (device_id, next_id) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET next_id = max(next_id, excluded.next_id)",
      deviceId,
      nextId,
    );
    const p = this.pointers.get(deviceId);
    if (p) p.next = Math.max(p.next, nextId);
    // Made now: every line it holds is older than its hour, as for any chunk.
    const hour = Math.floor(Date.now() / HOUR_MS);
    for (let i = 0; i < rows.length; i += CHUNK.maxLines) {
      const piece = rows.slice(i, i + CHUNK.maxLines);
      const s = summaryOf(piece);
      const tuples = piece.map((r) => tupleOf(r.id, r));
      const text = tuples.map((t) => `${JSON.stringify(t)}\n`).join("");
      const id = this.sql
        .exec<{ id: number }>(
          `INSERT INTO chunks (device_id, hour, open, first_id, end_id, lines, min_ts, max_ts, levels, modules, sessions, received_at, batches, bytes, seq_hi, batch_log, keys, data)
           VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, 0, '', ?, ?) RETURNING id`,
          deviceId,
          hour,
          Math.min(...piece.map((r) => r.id)),
          Math.max(...piece.map((r) => r.id)) + 1,
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
      this.noteHour(hour, id);
      this.sql.exec("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", id, piece.map((r) => r.message).join("\n"));
      this.noteAdded(piece.length, s.minTs);
    }
    return rows.length;
  }

  /** Which of these ids the device has here already (a hand-over piece sent again). */
  idsOf(deviceId: string, ids: readonly number[]): number[] {
    if (ids.length === 0) return [];
    const lo = Math.min(...ids);
    const hi = Math.max(...ids);
    const want = new Set(ids);
    const out: number[] = [];
    for (const c of this.sql
      .exec<{ id: number }>(
        "SELECT id FROM chunks WHERE device_id = ? AND end_id > ? AND first_id <= ? AND lines > 0",
        deviceId,
        lo,
        hi,
      )
      .toArray()) {
      const lines = this.read(c.id, deviceId);
      for (let i = 0; i < lines.count; i++) if (want.has(lines.id(i))) out.push(lines.id(i));
    }
    return out;
  }

  /**
   * Keeps answers to a device's batches of before it had a shard, for retries: one chunk row with no lines
   * (never counted: sequence 0).
   */
  adoptAnswers(deviceId: string, answers: readonly { id: string; answer: unknown }[], now: number): void {
    if (answers.length === 0) return;
    const log = answers
      .map((a) =>
        recordText({
          seq: 0,
          batch_id: a.id,
          at: now,
          answer: a.answer,
          first_id: 0,
          lines: 0,
          bytes: 0,
          reserved: null,
        }),
      )
      .join("");
    const hour = Math.floor(now / HOUR_MS);
    const id = this.sql
      .exec<{ id: number }>(
        `INSERT INTO chunks (device_id, hour, open, first_id, end_id, lines, min_ts, max_ts, levels, modules, sessions, received_at, batches, bytes, seq_hi, batch_log, keys, data)
         VALUES (?, ?, 0, 0, 0, 0, NULL, NULL, 0, '[]', '[]', ?, ?, 0, 0, ?, '', '') RETURNING id`,
        deviceId,
        hour,
        now,
        answers.length,
        log,
      )
      .one().id;
    this.noteHour(hour, id);
  }

  /** Drops what memory holds of a device (a transaction that rolled back may have moved it). */
  forget(deviceId: string): void {
    this.pointers.delete(deviceId);
    this.cached = undefined;
    this.lastHour = -1;
  }

  /**
   * The key of the line a page in this order reaches first (of these devices, when given), for a quick
   * "latest page" check.
   */
  nearest(order: "asc" | "desc", devices?: string[]): Key | undefined {
    const mine = ofDevices(devices);
    const q =
      order === "desc"
        ? `SELECT max(max_ts) AS ts FROM chunks WHERE lines > 0 AND ${mine.clause}`
        : `SELECT min(min_ts) AS ts FROM chunks WHERE lines > 0 AND ${mine.clause}`;
    const ts = this.sql.exec<{ ts: number | null }>(q, ...mine.args).one().ts;
    if (ts === null) return undefined;
    // Past every device id and line id at that time, in the page's direction.
    return order === "desc" ? { ts, device_id: "\uffff", id: Number.MAX_SAFE_INTEGER } : { ts, device_id: "", id: -1 };
  }
}
