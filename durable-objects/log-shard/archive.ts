// A shard's log archive: lines that leave the hot store go to R2 as gzip NDJSON objects, one or
// more per event-time hour for all the shard's devices together
// (`logs/<project>/shard-<n>/<hour>-<seq>.ndjson.gz`: at most one object per shard-hour below
// OBJECT_LINES lines, far fewer than one per device-hour), each listed in this object's
// manifest with what a search needs to skip it: time and key range, levels, sessions and
// devices present, line count, raw and compressed bytes.
//
// Moving lines is two steps: write the object to R2; in one transaction, add its manifest row,
// delete its lines from the hot store and record the change in storage (counts.ts). A crash
// after the first leaves an R2 object no manifest lists (never read; the same key is written
// again next time, since the seq is the hour's next free one). So a line is never shown twice
// and never lost.
//
// Objects a device archived before it had a shard are listed here too, with their device
// (hand-over: their lines were written without one).
import type { SearchTerms } from "../../src/contract/fts-query";
import type { LogFilter } from "../../src/contract/logs";
import type { ObjectStorage } from "../storage";
import type { ChunkStore } from "./chunks";
import type { ShardCounts } from "./counts";
import { comesBefore, type Key, keepLine } from "./order";
import type { ShardRow } from "./rows";

/** Lines per object at most (~5–10 MB of NDJSON, about a tenth of that compressed). */
const OBJECT_LINES = 20_000;
/** Objects one page reads at most; a page that stops short resumes where its scan stopped. */
export const PAGE_OBJECTS = 8;
/** Devices a manifest row lists; past it, the row says "any" (null). */
const DEVICES_MAX = 64;
const HOUR_US = 3_600_000_000;

export const ARCHIVE_SCHEMA = `CREATE TABLE archive_objects (
     key TEXT PRIMARY KEY,
     hour INTEGER NOT NULL,
     seq INTEGER NOT NULL,
     min_ts INTEGER NOT NULL,
     min_device TEXT NOT NULL,
     min_id INTEGER NOT NULL,
     max_ts INTEGER NOT NULL,
     max_device TEXT NOT NULL,
     max_id INTEGER NOT NULL,
     lines INTEGER NOT NULL,
     levels INTEGER NOT NULL,      -- bit n set: a line at level n
     sessions TEXT NOT NULL,       -- JSON array of the session ids present
     devices TEXT,                 -- JSON array of the devices present; null: too many to list
     device_id TEXT,               -- set for an object a device archived before it had a shard (its lines name no device)
     raw_bytes INTEGER NOT NULL,
     gz_bytes INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX archive_objects_start ON archive_objects (min_ts);
   CREATE INDEX archive_objects_end ON archive_objects (max_ts);`;

interface ObjectRow {
  key: string;
  min_ts: number;
  min_device: string;
  min_id: number;
  max_ts: number;
  max_device: string;
  max_id: number;
  device_id: string | null;
}

/** A manifest row as a device's archive listed it before shards (durable-objects/device-hub, hand-over). */
export interface DeviceArchiveRow {
  key: string;
  hour: number;
  seq: number;
  min_ts: number;
  min_id: number;
  max_ts: number;
  max_id: number;
  lines: number;
  levels: number;
  sessions: string;
  raw_bytes: number;
  gz_bytes: number;
  created_at: number;
}

/** A page's archived part: the rows, and where the scan stopped when it hit PAGE_OBJECTS. */
export interface ArchivePage {
  rows: ShardRow[];
  /** The first key no object read covers, in the page's order; absent when nothing is left. */
  boundary?: Key;
}

/** The condition on an object's devices for a query of these devices (null: every device). */
function listing(devices: readonly string[] | undefined): { clause: string; args: SqlStorageValue[] } | null {
  if (devices === undefined) return null;
  return {
    clause:
      "(devices IS NULL OR EXISTS (SELECT 1 FROM json_each(devices) WHERE value IN (SELECT value FROM json_each(?))))",
    args: [JSON.stringify(devices)],
  };
}

export class LogArchive {
  constructor(
    private readonly storage: ObjectStorage,
    private readonly bucket: R2Bucket,
    private readonly logs: Pick<ChunkStore, "oldest" | "oldestBetween" | "remove">,
    private readonly counts: Pick<ShardCounts, "recordStorage" | "pruneEvents">,
    /** The object key prefix: `logs/<project>/shard-<n>`. */
    private readonly prefix: () => string,
  ) {}

  private get sql() {
    return this.storage.sql;
  }

  /**
   * Moves up to `maxObjects` objects' worth of the hot store's oldest lines to R2: those older
   * than `edgeUs`, an event-time hour at a time, or, when `early` lines must go to keep the hot
   * store within its bound, that many of the oldest whatever their age. Answers the lines moved.
   */
  async archive(edgeUs: number, early: number, maxObjects: number): Promise<number> {
    let moved = 0;
    for (let n = 0; n < maxObjects; n++) {
      const oldest = this.logs.oldest();
      if (oldest === null) break;
      const mustGo = early - moved;
      if (oldest >= edgeUs && mustGo <= 0) break;
      const hour = Math.floor(oldest / HOUR_US);
      const expired = (hour + 1) * HOUR_US <= edgeUs;
      if (!expired && mustGo <= 0) break;
      const rows = this.logs.oldestBetween(
        hour * HOUR_US,
        (hour + 1) * HOUR_US,
        expired ? OBJECT_LINES : Math.min(OBJECT_LINES, mustGo),
      );
      if (rows.length === 0) break;
      moved += await this.move(hour, rows);
    }
    return moved;
  }

  private async move(hour: number, rows: ShardRow[]): Promise<number> {
    const seq = this.sql
      .exec<{ seq: number }>("SELECT coalesce(max(seq) + 1, 0) AS seq FROM archive_objects WHERE hour = ?", hour)
      .one().seq;
    const key = `${this.prefix()}/${hour}-${seq}.ndjson.gz`;
    const text = rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
    const raw = new TextEncoder().encode(text);
    const gz = new Uint8Array(
      await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
    );
    await this.bucket.put(key, gz, { httpMetadata: { contentType: "application/x-ndjson", contentEncoding: "gzip" } });
    let levels = 0;
    const sessions = new Set<string>();
    const devices = new Set<string>();
    for (const r of rows) {
      levels |= 1 << r.level;
      if (r.session_id !== null) sessions.add(r.session_id);
      devices.add(r.device_id);
    }
    const first = rows[0]!;
    const last = rows[rows.length - 1]!;
    const now = Date.now();
    this.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO archive_objects (key, hour, seq, min_ts, min_device, min_id, max_ts, max_device, max_id, lines, levels, sessions, devices, device_id, raw_bytes, gz_bytes, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
        key,
        hour,
        seq,
        first.ts,
        first.device_id,
        first.id,
        last.ts,
        last.device_id,
        last.id,
        rows.length,
        levels,
        JSON.stringify([...sessions]),
        devices.size > DEVICES_MAX ? null : JSON.stringify([...devices]),
        raw.byteLength,
        gz.byteLength,
        now,
      );
      this.logs.remove(rows);
      this.counts.recordStorage(gz.byteLength, now);
    });
    return rows.length;
  }

  /** Lists objects a device archived before it had a shard (their bytes were counted by the device). */
  adopt(deviceId: string, rows: readonly DeviceArchiveRow[]): void {
    for (const r of rows) {
      this.sql.exec(
        `INSERT OR IGNORE INTO archive_objects (key, hour, seq, min_ts, min_device, min_id, max_ts, max_device, max_id, lines, levels, sessions, devices, device_id, raw_bytes, gz_bytes, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        r.key,
        r.hour,
        -1 - r.seq,
        r.min_ts,
        deviceId,
        r.min_id,
        r.max_ts,
        deviceId,
        r.max_id,
        r.lines,
        r.levels,
        r.sessions,
        JSON.stringify([deviceId]),
        deviceId,
        r.raw_bytes,
        r.gz_bytes,
        r.created_at,
      );
    }
  }

  /**
   * The archived line a page in this order reaches first (of these devices, when given): the newest for
   * "desc", the oldest for "asc".
   */
  nearest(order: "asc" | "desc", devices?: string[]): Key | undefined {
    const m = listing(devices);
    const mine = m ? ` WHERE ${m.clause}` : "";
    const args = m ? m.args : [];
    const q =
      order === "desc"
        ? `SELECT max_ts AS ts, max_device AS device_id, max_id AS id FROM archive_objects${mine} ORDER BY max_ts DESC LIMIT 1`
        : `SELECT min_ts AS ts, min_device AS device_id, min_id AS id FROM archive_objects${mine} ORDER BY min_ts LIMIT 1`;
    return this.sql.exec<{ ts: number; device_id: string; id: number }>(q, ...args).toArray()[0];
  }

  /** Whether any object could hold lines for `f` (a cheap check before reading any). */
  covers(f: Pick<LogFilter, "from" | "to">): boolean {
    return (
      this.sql
        .exec(
          "SELECT 1 FROM archive_objects WHERE max_ts >= ? AND min_ts < ? LIMIT 1",
          f.from ?? 0,
          f.to ?? Number.MAX_SAFE_INTEGER,
        )
        .toArray().length > 0
    );
  }

  /**
   * The archived lines for a page (of one device, when given): objects that can match `f`
   * (time, levels, session, device), in the page's order after the cursor, read and filtered
   * until `f.limit` lines are found or PAGE_OBJECTS objects are read.
   */
  async page(f: LogFilter, terms: SearchTerms | undefined): Promise<ArchivePage> {
    const asc = f.order === "asc";
    const after = f.after;
    const where = ["max_ts >= ?", "min_ts < ?"];
    const args: SqlStorageValue[] = [f.from ?? 0, f.to ?? Number.MAX_SAFE_INTEGER];
    if (after) {
      // Objects not wholly before the cursor (in the page's order); ties at the cursor's time are read.
      where.push(asc ? "max_ts >= ?" : "min_ts <= ?");
      args.push(after.ts);
    }
    if (f.levels && f.levels.length > 0) {
      where.push("(levels & ?) != 0");
      args.push(f.levels.reduce((m, l) => m | (1 << l), 0));
    }
    if (f.session_id !== undefined) {
      where.push("EXISTS (SELECT 1 FROM json_each(sessions) WHERE value = ?)");
      args.push(f.session_id);
    }
    const m = listing(f.devices);
    if (m) {
      where.push(m.clause);
      args.push(...m.args);
    }
    const objects = this.sql
      .exec<ObjectRow & Record<string, SqlStorageValue>>(
        `SELECT key, min_ts, min_device, min_id, max_ts, max_device, max_id, device_id FROM archive_objects WHERE ${where.join(" AND ")} ORDER BY ${asc ? "min_ts ASC" : "max_ts DESC"} LIMIT ?`,
        ...args,
        PAGE_OBJECTS + 1,
      )
      .toArray();
    const only = f.devices ? new Set(f.devices) : null;
    const wanted = (r: ShardRow) => (only === null || only.has(r.device_id)) && keepLine(r, f, after, terms);
    const sorted = (rows: ShardRow[]) => rows.sort((a, b) => (comesBefore(f.order, a, b) ? -1 : 1));
    let rows: ShardRow[] = [];
    let read = 0;
    for (const o of objects) {
      if (rows.length >= f.limit) {
        rows = sorted(rows).slice(0, f.limit);
        const kth = rows[f.limit - 1]!;
        // No later object can hold a line before the page's last one.
        if (asc ? o.min_ts > kth.ts : o.max_ts < kth.ts) break;
      }
      if (read === PAGE_OBJECTS) {
        const edge: Key = asc
          ? { ts: o.min_ts, device_id: "", id: -1 }
          : { ts: o.max_ts, device_id: "\uffff", id: Number.MAX_SAFE_INTEGER };
        return { rows: sorted(rows).filter((r) => comesBefore(f.order, r, edge)), boundary: edge };
      }
      read++;
      rows.push(...(await this.read(o, wanted)));
    }
    return { rows: sorted(rows).slice(0, f.limit) };
  }

  /** The lines of one object that `wanted` keeps, decompressed as a stream. */
  private async read(o: ObjectRow, wanted: (r: ShardRow) => boolean): Promise<ShardRow[]> {
    const object = await this.bucket.get(o.key);
    if (!object) throw new Error(`archive object ${o.key} is listed but missing from R2`);
    const out: ShardRow[] = [];
    const reader = object.body
      .pipeThrough(new DecompressionStream("gzip"))
      .pipeThrough(new TextDecoderStream())
      .getReader();
    let rest = "";
    for (;;) {
      const { done, value } = await reader.read();
      const text = rest + (value ?? "");
      const lines = text.split("\n");
      rest = done ? "" : lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        const row = JSON.parse(line) as ShardRow;
        if (o.device_id !== null) row.device_id = o.device_id;
        if (wanted(row)) out.push(row);
      }
      if (done) break;
    }
    return out;
  }

  /** Deletes objects whose newest line is older than `beforeUs`, from R2 and the manifest. Answers how many. */
  async prune(beforeUs: number, max: number): Promise<number> {
    const old = this.sql
      .exec<{ key: string; gz_bytes: number; device_id: string | null }>(
        "SELECT key, gz_bytes, device_id FROM archive_objects WHERE max_ts < ? ORDER BY max_ts LIMIT ?",
        beforeUs,
        max,
      )
      .toArray();
    if (old.length === 0) return 0;
    await this.bucket.delete(old.map((o) => o.key));
    this.storage.transactionSync(() => {
      for (const o of old) this.sql.exec("DELETE FROM archive_objects WHERE key = ?", o.key);
      // The project's storage goes down by what went (objects a device archived were counted by it, and are too).
      this.counts.recordStorage(-old.reduce((n, o) => n + o.gz_bytes, 0), Date.now());
      this.counts.pruneEvents();
    });
    return old.length;
  }

  /** The newest line of the oldest object (µs), for the retention timer. */
  oldestObjectEnd(): number | null {
    return this.sql.exec<{ ts: number | null }>("SELECT min(max_ts) AS ts FROM archive_objects").one().ts;
  }

  /** Objects and their sizes, for the compression figures. */
  totals(): { objects: number; lines: number; raw_bytes: number; gz_bytes: number } {
    return this.sql
      .exec<{ objects: number; lines: number; raw_bytes: number; gz_bytes: number }>(
        "SELECT count(*) AS objects, coalesce(sum(lines), 0) AS lines, coalesce(sum(raw_bytes), 0) AS raw_bytes, coalesce(sum(gz_bytes), 0) AS gz_bytes FROM archive_objects",
      )
      .one();
  }
}
