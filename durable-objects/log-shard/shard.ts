// LogShard: one Durable Object per (project, shard). It keeps the lines of the devices a hash
// assigns to it (src/contract/log-shards.ts): their hot store in chunks, the archive in R2, the
// retry memory of their batches, and what those lines count for the project. A device's object
// authenticates each batch and forwards it here; a search asks the shards, never the devices.
// This class is the object's RPC surface; each concern is a part in this folder, and every part
// that needs time registers with the one alarm (timers.ts).
import { DurableObject } from "cloudflare:workers";
import type { DeliveryAnswer } from "../../src/contract/fan-in";
import type { CountAnswer, CountRequest } from "../../src/contract/log-counts";
import type { Rejection, StoredLine } from "../../src/contract/log-line";
import { SHARD_SENDER } from "../../src/contract/log-shards";
import type { LogCursor, LogFilter } from "../../src/contract/logs";
import { QUOTA_REJECTION, type QuotaState } from "../../src/contract/quota";
import { DELIVERY } from "../../src/contract/usage";
import { createDb } from "../../src/db/client";
import { noteShardInUse } from "../../src/db/repos/log-shards";
import type { IngestAnswer, IngestBatch } from "../../src/ingest/ingest";
import { clockNow } from "../../src/lib/clock";
import { hotWindowFor, hotWindowMs } from "../../src/lib/config";
import { slotOf } from "../../src/lib/hash";
import { DAY_MS, utcDay } from "../../src/lib/time";
import { projectHub } from "../../src/stubs/project-hub";
import { Coalesced } from "../coalesced";
import { migrate } from "../sql-migrations";
import { CountedStorage } from "../storage";
import { Timers } from "../timers";
import { ARCHIVE_SCHEMA, type DeviceArchiveRow, LogArchive } from "./archive";
import { BatchMemory, type Taken } from "./batches";
import { CHUNK_WORDS_SCHEMA, CHUNKS_SCHEMA, ChunkStore } from "./chunks";
import { EVENTS_SCHEMA, ShardCounts } from "./counts";
import { countLines } from "./line-counts";
import { comesBefore } from "./order";
import { QuotaGate } from "./quota";
import { Retention } from "./retention";
import type { ShardRow } from "./rows";

const SHARD_SCHEMA = [`${CHUNKS_SCHEMA}\n${EVENTS_SCHEMA}\n${ARCHIVE_SCHEMA}`, CHUNK_WORDS_SCHEMA] as const;

/** Set once D1 lists this shard as one its project uses (searches ask only those). */
const IN_USE_KEY = "in_use";
/** The project's hot window and archive retention, in days, as its last answer said. */
const RETENTION_KEY = "retention";
/**
 * When counts last went to the project, and the project's word on the quota then: one row per
 * delivery, so a shard that was evicted between two batches (a quiet device's shard is, every
 * time) neither delivers at once nor reserves each batch at the project until it hears again.
 */
const LAST_DELIVERY_KEY = "last_delivery";
type LastDelivery = { at: number; quota?: QuotaState };
/** Seconds after midnight over which shards deliver the day's last counts. */
const DAY_END_SPREAD_S = 120;
/** Beside each line refused because the project's tier keeps lines for less time (as the Worker words it). */
const STALE_REJECTION = "timestamp: older than the hot window";
/** Days archived lines are kept before the shard has heard its tier's number. */
const DEFAULT_ARCHIVE_DAYS = 90;

/** A batch a device's object forwards, with what the shard needs to know of the device. */
export interface AppendRequest {
  orgId: string;
  deviceId: string;
  batch: IngestBatch;
  sessionId: string | null;
  /** The device's tier's hot window (ms): older lines are refused. */
  hotWindowMs: number;
  /** Where the device's line ids stood before it had a shard (its own store's next id). */
  lineFloor: number;
  /**
   * The request's own usage (a device message in, its answer out, an API call): counted here,
   * with the batch's record, when the batch is stored, so a plain batch costs its device no row.
   * `counted` in the outcome says whether it was; when not, the device counts it.
   */
  request?: RequestCounts;
}

/** What a device request counts besides its lines. */
export type RequestCounts = [messagesIn: number, messagesOut: number, apiCalls: number];

export type AppendOutcome =
  | {
      ok: true;
      answer: IngestAnswer;
      /** The first stored line's id (absent for a duplicate or an empty batch). */
      firstId?: number;
      /** Which of the batch's lines were kept, by position, when some were refused here. */
      kept?: number[];
      /** The request's own counts were counted here (AppendRequest.request). */
      counted?: boolean;
      /** For a duplicate: the lines the batch was stored as (their first id, how many) and their severities. */
      taken?: { first: number; lines: number; errors: number; warnings: number };
    }
  | { ok: false; code: "quota_exceeded"; state: import("../../src/contract/quota").QuotaState };

/** What a device's object hands over of the store it kept before shards: a piece at a time. */
export interface HandOver {
  lines: ShardRow[];
  /** Where the device's ids stand. */
  nextId: number;
  archive: DeviceArchiveRow[];
  /** Its batches' ids and answers of the last two days, for retries. */
  answers: { id: string; answer: unknown }[];
}

export class LogShard extends DurableObject<Env> {
  private readonly storage: CountedStorage;
  private readonly timers: Timers;
  private readonly chunks: ChunkStore;
  private readonly batches: BatchMemory;
  private readonly counts: ShardCounts;
  private readonly archive: LogArchive;
  private readonly quota: QuotaGate;
  private readonly sends: Coalesced;
  /** When counts last went (LAST_DELIVERY_KEY); unset before the first delivery. */
  private deliveredAt?: number;
  /** Kept as a field so tests can let it run again at once. */
  protected readonly retention: Retention;
  /** The hot window the last batch's device had, before the project has said its own (memory only). */
  private hotWindowHint?: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const storage = (this.storage = new CountedStorage(ctx.storage));
    migrate(storage, SHARD_SCHEMA);
    this.timers = new Timers(storage);
    this.chunks = new ChunkStore(storage.sql);
    this.batches = new BatchMemory(this.chunks);
    this.counts = new ShardCounts(storage.sql, this.chunks);
    this.archive = new LogArchive(storage, env.STORAGE, this.chunks, this.counts, () => {
      const { projectId, index } = this.who;
      return `logs/${projectId}/shard-${index}`;
    });
    this.quota = new QuotaGate(env);
    const last = storage.kv.get<LastDelivery>(LAST_DELIVERY_KEY);
    this.quota.note(last?.quota);
    this.deliveredAt = last?.at;
    this.sends = new Coalesced(
      "shard delivery",
      {
        send: (withCounts) => (withCounts ? this.deliver() : Promise.resolve()),
        countsOwed: () => this.counts.owed(),
        urgent: () => false,
        countsSentAt: () => this.deliveredAt,
      },
      this.timers,
      () => DELIVERY.everyMs,
    );
    // A day's counts reach the project within two minutes of midnight, before the daily job closes the day.
    this.timers.add({ name: "day's counts", due: () => this.dayEnd(), fire: () => this.sends.flush() });
    this.retention = new Retention(
      { logs: this.chunks, archive: this.archive },
      () => this.hotWindow(),
      () => this.archiveDays() * DAY_MS,
      this.timers,
    );
  }

  /** This shard's project and index, from its name (`<project id>/shard/<n>`). */
  private get who(): { projectId: string; index: number } {
    const name = this.ctx.id.name ?? "";
    const at = name.lastIndexOf(SHARD_SENDER);
    return { projectId: name.slice(0, at), index: Number(name.slice(at + SHARD_SENDER.length)) };
  }

  /**
   * Stores a device's batch in one transaction: its lines (appended to the device's open
   * chunk), its id and answer (for retries) and its sequence (what it counts goes to the
   * project with the next delivery). Answers only once committed. A retry of a batch taken
   * before gets the first answer, marked duplicate, and changes nothing.
   */
  async append(req: AppendRequest): Promise<AppendOutcome> {
    const { deviceId, batch } = req;
    const now = Date.now();
    const seen = batch.batch_id === undefined ? undefined : this.batches.takenAs(deviceId, batch.batch_id, now);
    if (seen) return this.duplicate(deviceId, seen);
    this.hotWindowHint = req.hotWindowMs;
    await this.markInUse();
    // The device's tier may keep lines for less than the operator's cap the Worker checked. The project's
    // word on the tier's window, once heard, outranks the device's (which hears it only with its own
    // deliveries).
    const edgeUs = (now - this.hotWindow()) * 1000;
    let kept = refuseLines(batch, (l) => l.ts >= edgeUs, STALE_REJECTION);
    let reserved: [number, number] | null = null;
    if (kept.batch.lines.length > 0) {
      const counted = clockNow();
      const admission = await this.quota.admit(
        { orgId: req.orgId, projectId: this.who.projectId },
        kept.batch.lines,
        utcDay(counted).slice(0, 7),
      );
      if (admission.admitted === 0) return { ok: false, code: "quota_exceeded", state: admission.state! };
      const admitted = admission.admitted;
      const more = refuseLines(kept.batch, (_, i) => i < admitted, QUOTA_REJECTION);
      kept = {
        batch: more.batch,
        kept: kept.kept && more.kept ? more.kept.map((i) => kept.kept![i]!) : (more.kept ?? kept.kept),
      };
      if (admission.reserved) reserved = [more.batch.lines.length, more.batch.lines.reduce((n, l) => n + l.bytes, 0)];
    }
    const lines = kept.batch.lines;
    let stored: { firstId: number; record: import("./chunks").BatchRecord } | null = null;
    let retried: Taken | undefined;
    let answer: IngestAnswer;
    try {
      answer = this.storage.transactionSync((): IngestAnswer => {
        // A retry that came in while this one waited for the quota has stored it by now.
        const again = batch.batch_id === undefined ? undefined : this.batches.takenAs(deviceId, batch.batch_id, now);
        if (again) {
          retried = again;
          return { ...(again.answer as IngestAnswer), duplicate: true };
        }
        const result: IngestAnswer = { accepted: lines.length, rejected: kept.batch.rejected, duplicate: false };
        if (batch.batch_id !== undefined) result.batch_id = batch.batch_id;
        // A batch with neither lines nor an id to remember leaves nothing here.
        if (lines.length === 0 && batch.batch_id === undefined) return result;
        const record = {
          seq: this.counts.next(),
          batch_id: batch.batch_id ?? null,
          at: clockNow(),
          answer: result,
          bytes: lines.reduce((n, l) => n + l.bytes, 0),
          reserved,
          ...(req.request ? { request: req.request } : {}),
        };
        const firstId = this.chunks.append(deviceId, lines, req.sessionId, now, record, req.lineFloor);
        stored = { firstId, record: { ...record, first_id: firstId, lines: lines.length } };
        return result;
      });
    } catch (err) {
      // What the chunks keep in memory of this device may be ahead of what rolled back.
      this.chunks.forget(deviceId);
      throw err;
    }
    if (retried) return this.duplicate(deviceId, retried);
    if (answer.duplicate || !stored) return { ok: true, answer };
    const { firstId, record } = stored as { firstId: number; record: import("./chunks").BatchRecord };
    if (batch.batch_id !== undefined)
      this.batches.remember(deviceId, batch.batch_id, { answer, first: firstId, lines: lines.length });
    this.counts.countBatch(deviceId, record, lines);
    await this.sends.kick();
    await this.timers.arm();
    return {
      ok: true,
      answer,
      firstId,
      counted: record.request !== undefined,
      ...(kept.kept ? { kept: kept.kept } : {}),
    };
  }

  /**
   * The answer to a batch taken before, marked duplicate, with its lines' ids and severities:
   * a device that was evicted before it counted them for their session counts them now.
   */
  private duplicate(deviceId: string, taken: Taken): AppendOutcome {
    const answer = { ...(taken.answer as IngestAnswer), duplicate: true };
    if (taken.lines === 0) return { ok: true, answer };
    let errors = 0;
    let warnings = 0;
    for (const l of this.chunks.linesOf(deviceId, taken.first, taken.first + taken.lines)) {
      if (l.level >= 3) errors++;
      else if (l.level === 2) warnings++;
    }
    return { ok: true, answer, taken: { first: taken.first, lines: taken.lines, errors, warnings } };
  }

  /**
   * A page of lines (of `filter.devices` only, when given): the hot store's, and the archive's
   * where the filter reaches archived time, merged in the page's order. When the archive scan
   * stops at its object limit, the page ends where it stopped and `resume` says where the next
   * one starts.
   */
  async query(filter: LogFilter): Promise<{ rows: ShardRow[]; resume?: LogCursor }> {
    const order = filter.order;
    const before = (a: Parameters<typeof comesBefore>[1], b: Parameters<typeof comesBefore>[2]) =>
      comesBefore(order, a, b);
    const sorted = (rows: ShardRow[]) => rows.sort((a, b) => (before(a, b) ? -1 : 1));
    const hot = this.chunks.query(filter);
    if (!this.archive.covers(filter)) return { rows: hot };
    // A full page of hot lines that all come before anything archived needs no object read (the usual "latest" page).
    const nearest = this.archive.nearest(order, filter.devices);
    if (hot.length >= filter.limit && nearest && before(hot[filter.limit - 1]!, nearest)) return { rows: hot };
    const cold = await this.archive.page(filter, filter.terms);
    const rows = sorted([...hot, ...cold.rows]);
    const b = cold.boundary;
    if (!b) return { rows: rows.slice(0, filter.limit) };
    // Past the boundary nothing is read yet: the page ends there, and the next resumes at it.
    const page = rows.filter((r) => before(r, b)).slice(0, filter.limit);
    return { rows: page, ...(page.length < filter.limit ? { resume: b } : {}) };
  }

  /**
   * The lines of `req.filter` (of `req.filter.devices` only, when given) counted per group of
   * each grouping asked: facets, volume histograms (line-counts.ts). Reads the hot store only,
   * a bounded number of lines, and writes nothing.
   */
  async count(req: CountRequest): Promise<CountAnswer> {
    return countLines(this.chunks, this.archive, req);
  }

  /**
   * A piece of what a device kept before it had a shard (its hand-over, device-hub/hand-over.ts):
   * its lines under their own ids, its archive's manifest, its batches' answers; in one
   * transaction, so a piece sent again after a lost answer is stored once (the device deletes
   * a piece only once this answers; lines already here are skipped by id).
   */
  async adopt(deviceId: string, piece: HandOver): Promise<void> {
    await this.markInUse();
    this.storage.transactionSync(() => {
      const have = new Set(
        this.chunks.idsOf(
          deviceId,
          piece.lines.map((l) => l.id),
        ),
      );
      this.chunks.adopt(
        deviceId,
        piece.lines.filter((l) => !have.has(l.id)),
        piece.nextId,
      );
      this.chunks.adoptAnswers(deviceId, piece.answers, Date.now());
      this.archive.adopt(deviceId, piece.archive);
    });
    this.batches.forget(deviceId);
    await this.timers.arm();
  }

  /**
   * The storage rows this object has written since it started (storage.ts; the project hears them with each
   * delivery).
   */
  async storageRows(): Promise<number> {
    return this.storage.rowsWritten;
  }

  /** Delivers what this shard owes its project now (stats reads and tests). */
  async flush(): Promise<void> {
    await this.sends.flush();
  }

  /** The project was deleted: everything goes (its R2 objects go with the project's prefix, src/jobs). */
  async retire(): Promise<void> {
    await this.storage.deleteAlarm();
    await this.storage.deleteAll();
  }

  override async alarm(): Promise<void> {
    await this.timers.fire();
  }

  /**
   * D1 lists the shards a project uses (a search asks only those): once, before this shard's first line is
   * answered.
   */
  private async markInUse(): Promise<void> {
    if (this.storage.kv.get(IN_USE_KEY)) return;
    const { projectId, index } = this.who;
    await noteShardInUse(createDb(this.env.DB), projectId, index);
    this.storage.kv.put(IN_USE_KEY, 1);
  }

  /**
   * Sends what is owed: the counts after where the project stands. After a start, the project
   * is asked first where it stands (the counts before the start are then read back).
   */
  private async deliver(): Promise<void> {
    const { projectId } = this.who;
    const hub = projectHub(this.env, projectId);
    const name = this.ctx.id.name!;
    if (!this.counts.known) this.heard(await hub.deliverShard(name, null));
    const sealedAt = this.storage.rowsWritten;
    const delivery = this.counts.seal(sealedAt);
    if (!delivery) return;
    const answer = await hub.deliverShard(name, delivery);
    this.counts.delivered(answer.taken, sealedAt);
    this.heard(answer);
    this.deliveredAt = Date.now();
    this.storage.kv.put(LAST_DELIVERY_KEY, {
      at: this.deliveredAt,
      ...(answer.quota ? { quota: answer.quota } : {}),
    } satisfies LastDelivery);
  }

  /** What the project said: where it stands, the month's quota, the tier's retention. */
  private heard(answer: DeliveryAnswer & { taken: number }): void {
    this.counts.heard(answer.taken);
    const q = answer.quota;
    this.quota.note(q);
    if (!q) return;
    const kept = this.storage.kv.get<[number, number]>(RETENTION_KEY);
    if (!kept || kept[0] !== q.hot_window_days || kept[1] !== q.archive_days)
      this.storage.kv.put(RETENTION_KEY, [q.hot_window_days, q.archive_days]);
  }

  /** The project's hot window: its tier's, within the operator's cap (before it has said, the last device's). */
  private hotWindow(): number {
    const kept = this.storage.kv.get<[number, number]>(RETENTION_KEY);
    if (kept) return hotWindowFor(this.env, kept[0]);
    return this.hotWindowHint ?? hotWindowMs(this.env);
  }

  private archiveDays(): number {
    return this.storage.kv.get<[number, number]>(RETENTION_KEY)?.[1] ?? DEFAULT_ARCHIVE_DAYS;
  }

  /**
   * When counts of a day that has ended must go: the next midnight after the oldest day owed, plus this
   * shard's slot.
   */
  private dayEnd(): number | null {
    const oldest = this.counts.oldestDay();
    if (oldest === undefined) return null;
    return Date.parse(oldest) + DAY_MS + slotOf(this.ctx.id.name ?? "", DAY_END_SPREAD_S) * 1000;
  }
}

/**
 * The batch with only the lines `keep` accepts (given each line and its place among the
 * batch's lines); the others are refused by their index in the request, beside the rest.
 * `kept` lists the positions kept, when some were refused.
 */
function refuseLines(
  batch: IngestBatch,
  keep: (line: StoredLine, i: number) => boolean,
  reason: string,
): { batch: IngestBatch; kept?: number[] } {
  if (batch.lines.every(keep)) return { batch };
  const invalid = new Set(batch.rejected.map((r) => r.index));
  const indexes: number[] = [];
  for (let i = 0; indexes.length < batch.lines.length; i++) if (!invalid.has(i)) indexes.push(i);
  const lines: StoredLine[] = [];
  const kept: number[] = [];
  const refused: Rejection[] = [];
  batch.lines.forEach((l, i) => {
    if (keep(l, i)) {
      lines.push(l);
      kept.push(i);
    } else refused.push({ index: indexes[i]!, reason });
  });
  return {
    batch: { ...batch, lines, rejected: [...batch.rejected, ...refused].sort((a, b) => a.index - b.index) },
    kept,
  };
}
