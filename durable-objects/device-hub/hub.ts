// DeviceHub: one Durable Object per device. A device's writes serialise here: presence from
// heartbeats, metric history, the command queue, its hot logs and sessions, the usage it owes
// its project, and its own WebSocket. This class is the object's RPC surface; each concern is
// a part in this folder, and every part that needs time registers with the one alarm (timers.ts).
import { DurableObject } from "cloudflare:workers";
import type { AckOutcome, AckStatus, CommandRecord } from "../../src/contract/commands";
import type { Heartbeat } from "../../src/contract/fleet";
import type { LogCursor, LogFilter } from "../../src/contract/logs";
import type { MetricInterval } from "../../src/contract/metrics";
import type { HeartbeatOutcome, Identity, Presence } from "../../src/contract/presence";
import type { EndStatus } from "../../src/contract/sessions";
import { type Db, createDb } from "../../src/db/client";
import { claimSession, sessionOwner } from "../../src/db/repos/sessions";
import type { IngestAnswer, IngestBatch, IngestOutcome } from "../../src/ingest/ingest";
import { arrivalBuckets, lineBuckets } from "../../src/contract/buckets";
import { QUOTA_REJECTION, type QuotaState } from "../../src/contract/quota";
import { UPLOAD_GRACE_MS } from "../../src/contract/artifacts";
import type { Rejection, StoredLine } from "../../src/contract/log-line";
import { lineTallies } from "../../src/contract/tallies";
import { clockNow } from "../../src/lib/clock";
import { hotWindowFor, hotWindowMs } from "../../src/lib/config";
import { DAY_MS, utcDay } from "../../src/lib/time";
import { newId } from "../../src/lib/crypto";
import type { z } from "zod";
import { migrate } from "../sql-migrations";
import { answerClose } from "../sockets";
import { Timers } from "../timers";
import { BatchMemory } from "./batches";
import { CommandQueue } from "./commands";
import { ProjectDelivery } from "./delivery";
import { LogHours } from "./hours";
import { LogArchive } from "./archive";
import { DeviceAlerts } from "./alerts";
import { type LogRow, LogStore } from "./logs";
import { MetricHistory } from "./metrics";
import { QuotaGate } from "./quota";
import { type OutboxDelta, UsageOutbox } from "../usage-outbox";
import { Registry } from "./registry";
import { Retention } from "./retention";
import { DEVICE_SCHEMA } from "./schema";
import { type EndOutcome, type SessionRow, SessionStore } from "./sessions";
import { DeviceSocket } from "./socket";
import { DeviceStateStore, offlineDeadline, presenceOf } from "./state";

/** Tests wait on deliveries under way with this; a symbol, so it is no RPC method. */
export const SETTLE = Symbol("settle");

export type CreateSessionOutcome = { ok: true; session: SessionRow; created: boolean } | { ok: false; code: "conflict" };

export class DeviceHub extends DurableObject<Env> {
  private readonly state: DeviceStateStore;
  private readonly timers: Timers;
  private readonly commands: CommandQueue;
  private readonly metricHistory: MetricHistory;
  private readonly logs: LogStore;
  private readonly archive: LogArchive;
  private readonly batches: BatchMemory<IngestAnswer>;
  private readonly sessions: SessionStore;
  private readonly outbox: UsageOutbox;
  private readonly hours: LogHours;
  private readonly delivery: ProjectDelivery;
  private readonly registry: Registry;
  private readonly socket: DeviceSocket;
  private readonly quota: QuotaGate;
  private readonly alerts: DeviceAlerts;
  private readonly db: Db;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // An object nobody provisioned builds no storage (a key for a deleted device still reaches it).
    if (ctx.storage.kv.get("schema_version") !== undefined) migrate(ctx.storage, DEVICE_SCHEMA);
    const sql = ctx.storage.sql;
    this.db = createDb(env.DB);
    const identity = () => this.state.current;
    this.state = new DeviceStateStore(ctx.storage.kv);
    this.timers = new Timers(ctx.storage);
    this.commands = new CommandQueue(sql);
    this.metricHistory = new MetricHistory(sql);
    this.logs = new LogStore(sql, () => this.state.require().deviceId);
    this.archive = new LogArchive(ctx.storage, env.STORAGE, this.db, this.logs, () => this.state.require());
    this.batches = new BatchMemory(sql);
    this.sessions = new SessionStore(sql);
    this.outbox = new UsageOutbox(ctx.storage);
    // The order the alarm runs them in: expiry and offline first, so what is flushed is current.
    this.timers.add({ name: "command expiry", due: () => this.commands.nextExpiry(), fire: (now) => void this.commands.expire(now) });
    this.timers.add({ name: "offline", due: () => this.offlineAt(), fire: () => this.goOffline() });
    this.registry = new Registry(this.db, this.state, this.sessions, this.timers);
    this.hours = new LogHours(sql, env, identity, this.timers);
    this.quota = new QuotaGate(env);
    this.alerts = new DeviceAlerts(ctx.storage.kv, env, () => this.state.current, this.timers);
    this.delivery = new ProjectDelivery(
      env,
      ctx.storage.kv,
      this.outbox,
      identity,
      this.timers,
      (state) => this.heard(state),
      (version) => this.alerts.heardVersion(version),
    );
    new Retention(
      ctx.storage,
      () => this.hotWindowMs(),
      () => (this.state.current?.archiveDays ?? DEFAULT_ARCHIVE_DAYS) * DAY_MS,
      { logs: this.logs, archive: this.archive, hours: this.hours, batches: this.batches, metrics: this.metricHistory },
      this.timers,
    );
    this.socket = new DeviceSocket(
      ctx,
      {
        ingest: (batch) => this.ingest(batch),
        heartbeat: (input) => this.heartbeat(input),
        ackCommand: (id, status, result) => this.ackCommand(id, status, result),
        takeQueuedCommands: () => this.takeQueuedCommands(),
        count: (delta) => this.count(delta),
        deliverOwed: () => this.delivery.kick(),
      },
      hotWindowMs(env),
    );
  }

  // ---- identity -------------------------------------------------------------------------

  /** Registration and re-registration: (re)binds the identity and sets a new key. History is kept. */
  async provision(p: Identity & { keyHash: string; heartbeatIntervalMs: number; hotWindowDays: number; deviceType?: string | null }): Promise<void> {
    migrate(this.ctx.storage, DEVICE_SCHEMA);
    this.state.provision(p, Date.now());
    await this.timers.arm();
  }

  /**
   * The device's identity when `keyHash` is its current key, else null. Every authenticated
   * HTTP request is a device message and an API call, and counts as being seen. Its counts
   * travel with the request's own work (or by the alarm, if it ends early).
   */
  async authenticate(keyHash: string): Promise<Identity | null> {
    const s = this.state.current;
    if (!s || s.keyHash === null || s.keyHash !== keyHash) return null;
    this.state.update((d) => (d.lastSeenAt = Date.now()));
    this.count({ device_messages_in: 1, api_calls: 1 });
    await this.timers.arm();
    return { deviceId: s.deviceId, orgId: s.orgId, projectId: s.projectId };
  }

  /** Whether `keyHash` is the device's current key (an org route asks, to answer 403 or 401). */
  async holdsKey(keyHash: string): Promise<boolean> {
    const s = this.state.current;
    return s !== undefined && s.keyHash === keyHash;
  }

  /**
   * The device's project was deleted: the key stops and the socket closes at once, nothing
   * reaches D1 or the project again, and the alarm wipes everything the object holds.
   */
  async retire(): Promise<void> {
    if (!this.state.current) return;
    this.state.retire();
    this.socket.closeAll(4001, "project deleted");
    await this.ctx.storage.setAlarm(Date.now());
  }

  /** The key stops working at once; its socket is closed; queued commands stay undelivered. */
  async decommission(): Promise<void> {
    if (!this.state.current) return;
    this.state.update(
      (s) => {
        s.keyHash = null;
        s.offline = true;
      },
      { urgent: true },
    );
    this.socket.closeAll(4001, "decommissioned");
    await this.commit();
  }

  // ---- presence -------------------------------------------------------------------------

  async heartbeat(input: z.output<typeof Heartbeat>): Promise<HeartbeatOutcome> {
    // A device may name only a session it has, or one no other device of the project has claimed.
    if (input.session_id && !this.sessions.get(input.session_id)) {
      const s = this.state.require();
      const owner = await sessionOwner(this.db, s.projectId, input.session_id);
      if (owner !== null && owner !== s.deviceId) return { ok: false, code: "conflict" };
    }
    const now = Date.now();
    this.state.update((s) => {
      s.lastHeartbeatAt = now;
      s.lastSeenAt = now;
      s.reportedStatus = input.status;
      s.offline = false;
      if (input.metrics) s.metrics = input.metrics;
      if (input.session_id) s.currentSessionId = input.session_id;
    });
    if (input.metrics && Object.keys(input.metrics).length > 0) this.metricHistory.record(input.metrics, now);
    this.alerts.onHeartbeat(input.metrics, now);
    this.commands.expire(now);
    this.count({ heartbeats: 1 });
    await this.commit();
    return { ok: true, server_time: now, pending_commands: this.commands.pendingCount() };
  }

  async presence(): Promise<Presence | null> {
    const s = this.state.current;
    return s ? presenceOf(s) : null;
  }

  /** An operator's status: maintenance holds until set back to online. Offline stays offline. */
  async setOperatorStatus(status: "maintenance" | "online"): Promise<Presence | null> {
    this.state.update((s) => (s.maintenance = status === "maintenance"), { urgent: true });
    await this.commit();
    return this.presence();
  }

  async metrics(from: number, to: number, interval?: MetricInterval) {
    const chosen = MetricHistory.fitInterval(from, to, interval);
    return { interval: chosen, points: this.metricHistory.query(from, to, chosen) };
  }

  private offlineAt(): number | null {
    const s = this.state.current;
    return s ? offlineDeadline(s) : null;
  }

  /**
   * The hourly safety net for a device D1 still shows online past its deadline: goes offline
   * now if the object agrees (its alarm was lost), and sets the alarm again either way.
   */
  async sweep(): Promise<void> {
    if (!this.state.current) return;
    const at = this.offlineAt();
    if (at !== null && at <= Date.now()) await this.goOffline();
    await this.timers.arm();
  }

  /** The alarm found MISSED_HEARTBEATS intervals without a heartbeat. */
  private async goOffline(): Promise<void> {
    this.state.update((s) => (s.offline = true));
    this.alerts.onOffline(Date.now());
    await this.registry.flush(Date.now());
  }

  /** The project's alert rules changed (it tells devices that delivered lately): fetch them now. */
  async alertRulesChanged(version: number): Promise<void> {
    if (!this.state.current) return;
    await this.alerts.heardVersion(version);
    await this.timers.arm();
  }

  // ---- logs -----------------------------------------------------------------------------

  /**
   * Stores a batch in one transaction: the lines, their index entries, the session's
   * counters, the usage owed and the batch's answer (for retries). Answers only once committed.
   */
  async ingest(offered: IngestBatch): Promise<IngestOutcome> {
    const sessionId = offered.lines.length > 0 ? (offered.session_id ?? null) : null;
    const now = Date.now();
    if (sessionId !== null && !(await this.claim(sessionId, sessionId, now))) return { ok: false, code: "conflict" };
    // The month's quota, unless this is a retry (its answer is already kept).
    const retry = offered.batch_id !== undefined && this.batches.answerOf(offered.batch_id) !== undefined;
    // The Worker checked the operator's cap; this device's tier may keep lines for less.
    const edgeUs = (now - this.hotWindowMs()) * 1000;
    let batch = retry ? offered : refuseLines(offered, (l) => l.ts >= edgeUs, STALE_REJECTION);
    let reserved: { logs: number; bytes: number } | null = null;
    if (!retry && batch.lines.length > 0) {
      const counted = clockNow();
      const admission = await this.quota.admit(this.state.require(), batch.lines, utcDay(counted).slice(0, 7));
      if (admission.admitted === 0) return { ok: false, code: "quota_exceeded", state: admission.state! };
      const admitted = admission.admitted;
      batch = refuseLines(batch, (_, i) => i < admitted, QUOTA_REJECTION);
      if (admission.reserved) reserved = { logs: batch.lines.length, bytes: batch.lines.reduce((n, l) => n + l.bytes, 0) };
    }
    let firstId = 0;
    const answer = this.transaction((): IngestAnswer => {
      const seen = batch.batch_id === undefined ? undefined : this.batches.answerOf(batch.batch_id);
      if (seen) return { ...seen, duplicate: true };
      let newSession = false;
      const { errors, warnings } = severities(batch);
      if (sessionId !== null) {
        newSession = this.sessions.ensure(sessionId, sessionId, now).created;
        this.sessions.count(sessionId, batch.lines.length, errors, warnings);
      }
      firstId = this.logs.insert(batch.lines, sessionId, now);
      this.outbox.addBuckets(lineBuckets(batch.lines, Date.now()).values());
      const day = utcDay(clockNow());
      this.outbox.addTallies([...lineTallies(batch.lines).values()].map((t) => ({ ...t, day })));
      this.hours.note(batch.lines, this.state.require().deviceId, now);
      this.count({
        logs: batch.lines.length,
        log_bytes: batch.lines.reduce((n, l) => n + l.bytes, 0),
        error_lines: errors,
        sessions: newSession ? 1 : 0,
      });
      if (reserved) this.outbox.add(day, { reserved_logs: reserved.logs, reserved_bytes: reserved.bytes });
      if (batch.lines.length > 0) {
        this.state.update((s) => {
          s.lastLogAt = now;
          if (newSession) s.currentSessionId = sessionId;
        });
      }
      const result: IngestAnswer = { accepted: batch.lines.length, rejected: batch.rejected, duplicate: false };
      if (batch.batch_id !== undefined) {
        result.batch_id = batch.batch_id;
        this.batches.remember(batch.batch_id, result, now);
      }
      return result;
    });
    if (!answer.duplicate && batch.lines.length > 0) {
      this.delivery.addLines(batch.lines, sessionId, firstId);
      this.alerts.onLines(batch.lines, now);
    }
    await this.commit();
    return { ok: true, answer };
  }

  /**
   * A page of this device's lines: the hot store's, and the archive's where the filter reaches
   * archived time, merged in the page's order. When the archive scan stops at its chunk limit,
   * the page ends where it stopped and `resume` says where the next one starts.
   */
  async queryLogs(filter: LogFilter): Promise<{ rows: LogRow[]; resume?: LogCursor }> {
    const hot = this.logs.query(filter);
    if (!this.archive.covers(filter)) return { rows: hot };
    const asc = filter.order === "asc";
    const sign = asc ? 1 : -1;
    const before = (a: { ts: number; id: number }, b: { ts: number; id: number }) => sign * (a.ts - b.ts || a.id - b.id) < 0;
    // A full page of hot lines that all come before anything archived needs no chunk read (the usual "latest" page).
    const nearest = this.archive.nearest(filter.order);
    if (hot.length >= filter.limit && nearest && before(hot[filter.limit - 1]!, nearest)) return { rows: hot };
    const cold = await this.archive.page(filter, filter.terms);
    let rows = [...hot, ...cold.rows].sort((a, b) => (before(a, b) ? -1 : 1));
    const b = cold.boundary;
    if (!b) return { rows: rows.slice(0, filter.limit) };
    // Past the boundary nothing is read yet: the page ends there, and the next resumes at it.
    rows = rows.filter((r) => before(r, b)).slice(0, filter.limit);
    const resume = rows.length < filter.limit ? { ts: b.ts, device_id: this.state.require().deviceId, id: b.id - sign } : undefined;
    return { rows, resume };
  }

  /**
   * Whether this device may use a session id: it has it already, or it claims it now. D1
   * decides a new id's owner, once and atomically, for every device of the project.
   */
  private async claim(sessionId: string, name: string, startedAt: number): Promise<boolean> {
    if (this.sessions.get(sessionId)) return true;
    const s = this.state.require();
    const owner = await claimSession(this.db, s, { session_id: sessionId, name, started_at: startedAt });
    return owner === s.deviceId;
  }

  // ---- sessions -------------------------------------------------------------------------

  async createSession(id: string, name: string, startedAt: number): Promise<CreateSessionOutcome> {
    if (!(await this.claim(id, name, startedAt))) return { ok: false, code: "conflict" };
    const { session, created } = this.transaction(() => {
      const made = this.sessions.ensure(id, name, startedAt);
      if (made.created) this.count({ sessions: 1 });
      return made;
    });
    // Opening a session (again) makes it the device's current one while it is active.
    if (session.status === "active" && this.state.require().currentSessionId !== id) {
      this.state.update((s) => (s.currentSessionId = id));
    }
    await this.commit();
    return { ok: true, session: this.sessions.get(id)!, created };
  }

  async endSession(id: string, status: EndStatus, completedAt: number | undefined): Promise<EndOutcome> {
    const outcome = this.sessions.end(id, status, completedAt);
    if (outcome.ok) {
      this.registry.sessionChanged();
      if (this.state.require().currentSessionId === id) this.state.update((s) => (s.currentSessionId = null));
      await this.commit();
    }
    return outcome;
  }

  /**
   * Whether this device may upload a file to session `id` now: its own session, active or
   * ended less than UPLOAD_GRACE_MS ago. Another device's session is a conflict.
   */
  async uploadAllowed(id: string, now: number): Promise<"ok" | "not_found" | "conflict" | "ended"> {
    const session = this.sessions.get(id);
    if (!session) {
      const s = this.state.require();
      const owner = await sessionOwner(this.db, s.projectId, id);
      return owner === null ? "not_found" : "conflict";
    }
    if (session.status !== "active" && (session.completed_at ?? now) + UPLOAD_GRACE_MS < now) return "ended";
    return "ok";
  }

  /** A file of `bytes` was stored for one of this device's sessions: counted as artifact_bytes. */
  async recordUpload(bytes: number): Promise<void> {
    this.count({ artifact_bytes: bytes });
    await this.commit();
  }

  async getSessions(ids: string[]): Promise<SessionRow[]> {
    return this.sessions.live(ids);
  }

  // ---- commands -------------------------------------------------------------------------

  async queueCommand(command: string, params: unknown, ttlMs: number): Promise<CommandRecord> {
    const now = Date.now();
    const row = this.commands.queue(newId("cmd", now), command, params, ttlMs, now);
    this.count({ commands: 1 });
    this.socket.pushCommands(this.state.require().deviceId);
    await this.commit();
    return this.commands.get(row.id)!;
  }

  /** The device's poll: every queued command, now marked delivered. */
  async pollCommands(limit = 100): Promise<CommandRecord[]> {
    const now = Date.now();
    this.commands.expire(now);
    const rows = this.commands.deliver(now, limit);
    if (rows.length > 0) this.count({ device_messages_out: rows.length });
    await this.commit();
    return rows;
  }

  async ackCommand(id: string, status: AckStatus, result: unknown): Promise<AckOutcome> {
    const now = Date.now();
    this.commands.expire(now);
    const outcome = this.commands.ack(id, status, result, now);
    await this.commit();
    return outcome;
  }

  async commandHistory(limit: number, before?: string): Promise<CommandRecord[]> {
    this.commands.expire(Date.now());
    return this.commands.history(limit, before);
  }

  /** For the device socket: what is queued, marked delivered. */
  private takeQueuedCommands(): CommandRecord[] {
    const now = Date.now();
    this.commands.expire(now);
    return this.commands.deliver(now, 100);
  }

  // ---- the device's WebSocket -----------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    return this.socket.accept(request, this.state.require().deviceId);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.socket.onMessage(ws, this.state.require().deviceId, message);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    answerClose(ws, code);
  }

  // ---- time -----------------------------------------------------------------------------

  override async alarm(): Promise<void> {
    if (this.state.retired) {
      // What a deleted project's device held goes; the object is empty from here on.
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      return;
    }
    await this.timers.fire();
  }

  /** A stats read is about to happen: what this device owes its project goes now. */
  async sendCounts(): Promise<void> {
    if (this.state.current) await this.delivery.flush();
  }

  /** Delivers everything owed to the project now and waits for it (tests settle with it). */
  [SETTLE](): Promise<void> {
    return this.delivery.flush();
  }

  /**
   * What every change ends with before it answers: what people must see at once goes to D1,
   * new log hours to the project's index, what is owed to the project (counts, lines for the
   * live tail), and the alarm is set for everything else.
   */
  private async commit(): Promise<void> {
    if (this.registry.urgent) await this.registry.flushNow();
    try {
      await this.hours.report();
    } catch (err) {
      console.error("reporting log hours failed; the alarm retries", err);
    }
    await this.delivery.kick();
    await this.timers.arm();
  }

  /** How long this device keeps its lines: its tier's hot retention, within the operator's cap. */
  private hotWindowMs(): number {
    const days = this.state.current?.hotWindowDays;
    return days === undefined ? hotWindowMs(this.env) : hotWindowFor(this.env, days);
  }

  /** What the project said with a delivery: the month's quota, and the tier's hot retention. */
  private heard(state: QuotaState | undefined): void {
    this.quota.note(state);
    const current = this.state.current;
    if (state && current && current.hotWindowDays !== state.hot_window_days) this.state.update((s) => (s.hotWindowDays = state.hot_window_days));
    if (state && current && current.archiveDays !== state.archive_days) this.state.update((s) => (s.archiveDays = state.archive_days));
  }

  /** One SQLite transaction; if it rolls back, the device state kept in memory is read again. */
  private transaction<T>(work: () => T): T {
    try {
      return this.ctx.storage.transactionSync(work);
    } catch (err) {
      this.state.forget();
      throw err;
    }
  }

  /** Records usage, and what arrived in the time buckets, under the outbox's open sequence; it travels with the next delivery. */
  private count(delta: OutboxDelta): void {
    const now = clockNow();
    this.outbox.addBuckets(arrivalBuckets(now, delta).values());
    this.outbox.add(utcDay(now), delta);
  }
}

/** Days archived lines are kept before the device has heard its tier's number. */
const DEFAULT_ARCHIVE_DAYS = 90;

/** Beside each line refused because this device's tier keeps lines for less time (as the Worker words it). */
const STALE_REJECTION = "timestamp: older than the hot window";

/**
 * The batch with only the lines `keep` accepts (given each line and its place among the
 * stored lines); the others are refused by their index in the request, beside the rest.
 */
function refuseLines(batch: IngestBatch, keep: (line: StoredLine, i: number) => boolean, reason: string): IngestBatch {
  if (batch.lines.every(keep)) return batch;
  const invalid = new Set(batch.rejected.map((r) => r.index));
  const indexes: number[] = [];
  for (let i = 0; indexes.length < batch.lines.length; i++) if (!invalid.has(i)) indexes.push(i);
  const kept: StoredLine[] = [];
  const refused: Rejection[] = [];
  batch.lines.forEach((l, i) => (keep(l, i) ? kept.push(l) : refused.push({ index: indexes[i]!, reason })));
  return { ...batch, lines: kept, rejected: [...batch.rejected, ...refused].sort((a, b) => a.index - b.index) };
}

function severities(batch: IngestBatch): { errors: number; warnings: number } {
  let errors = 0;
  let warnings = 0;
  for (const l of batch.lines) {
    if (l.level >= 3) errors++;
    else if (l.level === 2) warnings++;
  }
  return { errors, warnings };
}
