// DeviceHub: one Durable Object per device. A device's writes serialise here: presence from
// heartbeats, metric history, the command queue, its hot logs and sessions, the usage it owes
// its project, and its own WebSocket.
import { DurableObject } from "cloudflare:workers";
import { newId } from "../../src/lib/crypto";
import { hotWindowMs } from "../../src/contract/limits";
import type { Rejection, StoredLine } from "../../src/contract/log-line";
import { projectHub } from "../../src/stubs/project-hub";
import { type AckOutcome, type AckStatus, type CommandRow, CommandQueue } from "./commands";
import { type DeviceState, type DeviceStatus, type ReportedStatus, effectiveStatus, offlineDeadline } from "./state";
import { DEVICE_SCHEMA } from "./schema";
import { DeviceSocket } from "./socket";
import { LogHours, hourOf } from "./hours";
import { type LogFilter, type LogRow, LogStore } from "./logs";
import { type MetricInterval, MetricHistory } from "./metrics";
import { DELIVERY_RETRY_MS, ProjectDelivery } from "./delivery";
import { writePresence, writeSessions } from "./registry";
import { type EndOutcome, type SessionRow, type SessionStatus, SessionStore } from "./sessions";
import { migrate } from "../sql-migrations";
import { type UsageDelta, UsageOutbox } from "./outbox";

/** The D1 registry gets at most one write per device per this long, plus one per status change. */
export const REGISTRY_FLUSH_MS = 60_000;
/** A retried batch_id is recognised for at least this long. */
export const BATCH_MEMORY_MS = 48 * 3600 * 1000;
const PRUNE_EVERY_MS = 3600_000;
const OWED_DELIVERY_MS = 1000;
const PRUNE_BATCH = 10_000;
const STATE_KEY = "device";

export interface Identity {
  deviceId: string;
  orgId: string;
  projectId: string;
}

export interface Provision extends Identity {
  keyHash: string;
  heartbeatIntervalMs: number;
}

export interface Presence {
  status: DeviceStatus;
  last_seen_at: number | null;
  last_heartbeat_at: number | null;
  metrics: Record<string, number> | null;
  current_session_id: string | null;
  last_log_at: number | null;
}

export interface HeartbeatInput {
  status: ReportedStatus;
  session_id?: string;
  metrics?: Record<string, number>;
}

export interface IngestBatch {
  batch_id?: string;
  session_id?: string;
  lines: StoredLine[];
  /** Lines the Worker already rejected, kept in the answer a retry gets back. */
  rejected: Rejection[];
}

export interface IngestAnswer {
  accepted: number;
  rejected: Rejection[];
  duplicate: boolean;
  batch_id?: string;
}

export type IngestOutcome = { ok: true; answer: IngestAnswer } | { ok: false; code: "conflict" };

export type CreateSessionOutcome = { ok: true; session: SessionRow; created: boolean } | { ok: false; code: "conflict" };

export class DeviceHub extends DurableObject<Env> {
  private readonly commands: CommandQueue;
  private readonly metricHistory: MetricHistory;
  private readonly logs: LogStore;
  private readonly sessions: SessionStore;
  private readonly outbox: UsageOutbox;
  private readonly socket: DeviceSocket;
  private readonly delivery: ProjectDelivery;
  private readonly hours: LogHours;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, DEVICE_SCHEMA);
    this.commands = new CommandQueue(ctx.storage.sql);
    this.metricHistory = new MetricHistory(ctx.storage.sql);
    this.logs = new LogStore(ctx.storage.sql, () => this.requireState().deviceId);
    this.sessions = new SessionStore(ctx.storage.sql);
    this.outbox = new UsageOutbox(ctx.storage);
    this.socket = new DeviceSocket(ctx, this, env);
    this.delivery = new ProjectDelivery(env, ctx.storage, this.outbox, () => this.state);
    this.hours = new LogHours(ctx.storage.sql);
  }

  // State is read from the synchronous KV store on each call (the runtime caches it), so
  // tests and restarts see exactly what is durable.
  private get state(): DeviceState | undefined {
    const stored = this.ctx.storage.kv.get<DeviceState>(STATE_KEY);
    // Fields added after an object was first provisioned start out empty.
    return stored && { ...stored, lastLogAt: stored.lastLogAt ?? null };
  }

  private save(s: DeviceState): void {
    this.ctx.storage.kv.put(STATE_KEY, s);
  }

  private requireState(): DeviceState {
    const s = this.state;
    if (!s) throw new Error("device is not provisioned");
    return s;
  }

  /** Records usage under the outbox's open sequence; it travels with the next delivery. */
  count(delta: UsageDelta): void {
    this.outbox.add(Date.now(), delta);
  }

  /** Delivers everything owed to the project and waits for it (see ProjectDelivery.kick). */
  deliverOwed(): Promise<void> {
    return this.delivery.kick();
  }

  // ---- identity -------------------------------------------------------------------------

  /** Registration and re-registration: (re)binds the identity and sets a new key. History is kept. */
  async provision(p: Provision): Promise<void> {
    const now = Date.now();
    const prev = this.state;
    this.save({
      deviceId: p.deviceId,
      orgId: p.orgId,
      projectId: p.projectId,
      keyHash: p.keyHash,
      heartbeatIntervalMs: p.heartbeatIntervalMs,
      reportedStatus: prev?.reportedStatus ?? "online",
      maintenance: prev?.maintenance ?? false,
      offline: prev?.offline ?? true,
      lastHeartbeatAt: prev?.lastHeartbeatAt ?? null,
      lastSeenAt: now,
      metrics: prev?.metrics ?? null,
      currentSessionId: prev?.currentSessionId ?? null,
      lastLogAt: prev?.lastLogAt ?? null,
      version: (prev?.version ?? 0) + 1,
      flushedVersion: prev?.flushedVersion ?? 0,
      lastFlushAt: prev?.lastFlushAt ?? 0,
    });
    await this.schedule(now);
  }

  /**
   * The device's identity when `keyHash` is its current key, else null. Every authenticated
   * HTTP request is a device message and an API call, and counts as being seen.
   */
  async authenticate(keyHash: string): Promise<Identity | null> {
    const s = this.state;
    if (!s || s.keyHash === null || s.keyHash !== keyHash) return null;
    const now = Date.now();
    s.lastSeenAt = now;
    s.version++;
    this.save(s);
    this.count({ device_messages_in: 1, api_calls: 1 });
    await this.schedule(now);
    return { deviceId: s.deviceId, orgId: s.orgId, projectId: s.projectId };
  }

  /** The key stops working at once; its socket is closed; queued commands stay undelivered. */
  async decommission(): Promise<void> {
    const s = this.state;
    if (!s) return;
    s.keyHash = null;
    s.offline = true;
    s.version++;
    this.save(s);
    this.socket.closeAll(4001, "decommissioned");
    await this.flushRegistry(Date.now());
  }

  // ---- presence -------------------------------------------------------------------------

  async heartbeat(input: HeartbeatInput): Promise<{ server_time: number; pending_commands: number }> {
    const now = Date.now();
    const s = this.requireState();
    const before = effectiveStatus(s);
    s.lastHeartbeatAt = now;
    s.lastSeenAt = now;
    s.reportedStatus = input.status;
    s.offline = false;
    if (input.metrics) s.metrics = input.metrics;
    if (input.session_id) s.currentSessionId = input.session_id;
    s.version++;
    this.save(s);
    if (input.metrics && Object.keys(input.metrics).length > 0) this.metricHistory.record(input.metrics, now);
    this.commands.expire(now);
    this.count({ heartbeats: 1 });
    if (effectiveStatus(s) !== before) await this.flushRegistry(now);
    await this.schedule(now);
    await this.deliverOwed();
    return { server_time: now, pending_commands: this.commands.pendingCount() };
  }

  async presence(): Promise<Presence | null> {
    const s = this.state;
    if (!s) return null;
    return {
      status: effectiveStatus(s),
      last_seen_at: s.lastSeenAt,
      last_heartbeat_at: s.lastHeartbeatAt,
      metrics: s.metrics,
      current_session_id: s.currentSessionId,
      last_log_at: s.lastLogAt,
    };
  }

  /** An operator's status: maintenance holds until set back to online. Offline stays offline. */
  async setOperatorStatus(status: "maintenance" | "online"): Promise<Presence | null> {
    const s = this.requireState();
    s.maintenance = status === "maintenance";
    s.version++;
    this.save(s);
    await this.flushRegistry(Date.now());
    return this.presence();
  }

  async metrics(from: number, to: number, interval?: MetricInterval) {
    const chosen = MetricHistory.fitInterval(from, to, interval);
    return { interval: chosen, points: this.metricHistory.query(from, to, chosen) };
  }

  // ---- logs -----------------------------------------------------------------------------

  /**
   * Stores a batch in one transaction: the lines, their index entries, the session's
   * counters, the usage owed and the batch's answer (for retries). Answers only once committed.
   */
  async ingest(batch: IngestBatch): Promise<IngestOutcome> {
    if (batch.session_id !== undefined && batch.lines.length > 0 && !(await this.mayUseSession(batch.session_id))) {
      return { ok: false, code: "conflict" };
    }
    const now = Date.now();
    const s = this.requireState();
    let newSession = false;
    let firstId = 0;
    const answer = this.ctx.storage.transactionSync((): IngestAnswer => {
      if (batch.batch_id !== undefined) {
        const seen = this.ctx.storage.sql
          .exec<{ answer: string }>("SELECT answer FROM batches WHERE batch_id = ?", batch.batch_id)
          .toArray()[0];
        if (seen) return { ...(JSON.parse(seen.answer) as IngestAnswer), duplicate: true };
      }
      const sessionId = batch.session_id ?? null;
      if (sessionId !== null && batch.lines.length > 0) {
        newSession = this.sessions.ensure(sessionId, sessionId, now).created;
        if (newSession) s.currentSessionId = sessionId;
        let errors = 0;
        let warnings = 0;
        for (const l of batch.lines) {
          if (l.level >= 3) errors++;
          else if (l.level === 2) warnings++;
        }
        this.sessions.count(sessionId, batch.lines.length, errors, warnings);
      }
      firstId = this.logs.insert(batch.lines, sessionId, now);
      this.hours.note(batch.lines);
      let bytes = 0;
      for (const l of batch.lines) bytes += l.bytes;
      this.outbox.add(now, { logs: batch.lines.length, log_bytes: bytes, sessions: newSession ? 1 : 0 });
      const result: IngestAnswer = { accepted: batch.lines.length, rejected: batch.rejected, duplicate: false };
      if (batch.batch_id !== undefined) {
        result.batch_id = batch.batch_id;
        this.ctx.storage.sql.exec(
          "INSERT INTO batches (batch_id, received_at, answer) VALUES (?, ?, ?)",
          batch.batch_id,
          now,
          JSON.stringify(result),
        );
      }
      if (batch.lines.length > 0) {
        s.lastLogAt = now;
        s.version++;
        this.save(s);
      }
      return result;
    });
    if (!answer.duplicate && batch.lines.length > 0) {
      this.delivery.addLines(batch.lines, batch.session_id ?? null, firstId);
    }
    // The project's index learns of new hours before the answer, so a search right after
    // finds these lines; D1 learns of a new session at once, of the rest by the next flush.
    await this.reportHours();
    if (newSession) await this.flushSessions();
    await this.schedule(now);
    await this.deliverOwed();
    return { ok: true, answer };
  }

  /** A session id this device has, or one no other device of the project has taken. */
  private async mayUseSession(sessionId: string): Promise<boolean> {
    if (this.sessions.get(sessionId)) return true;
    const s = this.requireState();
    const owner = await this.env.DB.prepare("SELECT device_id FROM sessions WHERE project_id = ? AND session_id = ?")
      .bind(s.projectId, sessionId)
      .first<{ device_id: string }>();
    return !owner || owner.device_id === s.deviceId;
  }

  async queryLogs(filter: LogFilter): Promise<LogRow[]> {
    return this.logs.query(filter);
  }

  /** Tells the project's index the hours it does not know yet; on failure the alarm retries. */
  private async reportHours(): Promise<void> {
    const hours = this.hours.unreported();
    const s = this.state;
    if (hours.length === 0 || !s) return;
    try {
      await projectHub(this.env, s.projectId).indexHours(s.deviceId, hours);
      this.hours.reported(hours);
    } catch (err) {
      console.error("reporting log hours failed; the alarm retries", err);
      await this.ctx.storage.setAlarm(Date.now() + DELIVERY_RETRY_MS);
    }
  }

  // ---- sessions -------------------------------------------------------------------------

  async createSession(id: string, name: string, startedAt: number): Promise<CreateSessionOutcome> {
    // The session and its count are written together; a refusal below takes both back.
    const { session, created } = this.ctx.storage.transactionSync(() => {
      const made = this.sessions.ensure(id, name, startedAt);
      if (made.created) this.outbox.add(Date.now(), { sessions: 1 });
      return made;
    });
    if (created && (await this.flushSessions()).includes(id)) {
      await this.deliverOwed();
      return { ok: false, code: "conflict" };
    }
    // Opening a session (again) makes it the device's current one while it is active.
    const s = this.requireState();
    if (session.status === "active" && s.currentSessionId !== id) {
      s.currentSessionId = id;
      s.version++;
      this.save(s);
      await this.flushRegistry(Date.now());
    }
    await this.deliverOwed();
    return { ok: true, session: this.sessions.get(id)!, created };
  }

  async endSession(id: string, status: Exclude<SessionStatus, "active">, completedAt: number): Promise<EndOutcome> {
    const outcome = this.sessions.end(id, status, completedAt);
    if (outcome.ok) {
      const s = this.requireState();
      if (s.currentSessionId === id) {
        s.currentSessionId = null;
        s.version++;
        this.save(s);
      }
      await this.flushSessions();
      await this.flushRegistry(Date.now());
    }
    return outcome;
  }

  async getSessions(ids: string[]): Promise<SessionRow[]> {
    return this.sessions.live(ids);
  }

  // ---- commands -------------------------------------------------------------------------

  async queueCommand(command: string, params: unknown, ttlMs: number): Promise<CommandRow> {
    const now = Date.now();
    const row = this.commands.queue(newId("cmd", now), command, params, ttlMs, now);
    this.count({ commands: 1 });
    this.socket.pushCommands(this.requireState().deviceId);
    await this.schedule(now);
    await this.deliverOwed();
    return this.commands.get(row.id)!;
  }

  /** The device's poll: every queued command, now marked delivered. */
  async pollCommands(limit = 100): Promise<CommandRow[]> {
    const now = Date.now();
    this.commands.expire(now);
    const rows = this.commands.deliver(now, limit);
    if (rows.length > 0) this.count({ device_messages_out: rows.length });
    await this.deliverOwed();
    return rows;
  }

  async ackCommand(id: string, status: AckStatus, result: unknown): Promise<AckOutcome> {
    const now = Date.now();
    this.commands.expire(now);
    const outcome = this.commands.ack(id, status, result, now);
    await this.deliverOwed();
    return outcome;
  }

  async commandHistory(limit: number, before?: string): Promise<CommandRow[]> {
    this.commands.expire(Date.now());
    return this.commands.history(limit, before);
  }

  /** Used by the device socket to push what is queued. */
  takeQueuedCommands(): CommandRow[] {
    const now = Date.now();
    this.commands.expire(now);
    return this.commands.deliver(now, 100);
  }

  // ---- the device's WebSocket -----------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    return this.socket.accept(request, this.requireState().deviceId);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.socket.onMessage(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.socket.onClose(ws, code);
  }

  /** Waits for deliveries to the project under way: tests and the alarm use it to settle. */
  async settle(): Promise<void> {
    await this.delivery.settle();
  }

  // ---- the alarm ------------------------------------------------------------------------

  /** One alarm serves every timer: offline deadline, D1 flush, command expiry, retries, pruning. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.commands.expire(now);
    const s = this.state;
    if (!s) return;
    const deadline = offlineDeadline(s);
    if (deadline !== null && now >= deadline) {
      s.offline = true;
      s.version++;
      this.save(s);
      await this.flushRegistry(now);
    } else if (this.registryDirty(s) && now >= s.lastFlushAt + REGISTRY_FLUSH_MS) {
      await this.flushSessions();
      await this.flushRegistry(now);
    }
    await this.reportHours();
    if (this.outbox.pending()) await this.deliverOwed();
    if (now >= (this.ctx.storage.kv.get<number>("pruned_at") ?? 0) + PRUNE_EVERY_MS || this.logsExpired(now)) {
      this.prune(now);
    }
    await this.schedule(now);
  }

  private logsExpired(now: number): boolean {
    const oldest = this.logs.oldest();
    return oldest !== null && oldest < (now - hotWindowMs(this.env)) * 1000;
  }

  /** Lines past the hot window, remembered batch ids past BATCH_MEMORY_MS, old metric minutes. */
  private prune(now: number): void {
    this.logs.prune((now - hotWindowMs(this.env)) * 1000, PRUNE_BATCH);
    this.hours.prune(hourOf((now - hotWindowMs(this.env)) * 1000) - 1);
    this.ctx.storage.sql.exec("DELETE FROM batches WHERE received_at < ?", now - BATCH_MEMORY_MS);
    this.metricHistory.prune(now);
    this.ctx.storage.kv.put("pruned_at", now);
  }

  private registryDirty(s: DeviceState): boolean {
    return s.version > s.flushedVersion || this.sessions.unflushed(1).length > 0;
  }

  /** Presence to D1. A failed write leaves the state dirty for the next alarm to retry. */
  private async flushRegistry(now: number): Promise<void> {
    const s = this.state;
    if (!s) return;
    try {
      await writePresence(this.env.DB, s);
    } catch (err) {
      console.error("registry flush failed; the alarm retries", err);
      return;
    }
    const latest = this.requireState();
    latest.flushedVersion = Math.max(latest.flushedVersion, s.version);
    latest.lastFlushAt = now;
    this.save(latest);
  }

  /** Sessions to D1; returns ids refused because another device of the project owns them. */
  private async flushSessions(): Promise<string[]> {
    const s = this.requireState();
    const rows = this.sessions.unflushed(50);
    let refused: string[] = [];
    try {
      refused = await writeSessions(this.env.DB, s, rows);
    } catch (err) {
      console.error("session flush failed; the alarm retries", err);
      return [];
    }
    // A refused id (another device of the project took it first) is taken back: its count,
    // and the row itself unless lines already name it (they stay queryable by device).
    for (const id of refused) this.sessions.forget(id);
    if (refused.length > 0) this.count({ sessions: -refused.length });
    this.sessions.markFlushed(rows);
    return refused;
  }

  private async schedule(now: number): Promise<void> {
    const s = this.state;
    const times: number[] = [];
    const deadline = s ? offlineDeadline(s) : null;
    if (deadline !== null) times.push(deadline);
    if (s && this.registryDirty(s)) times.push(Math.max(now, s.lastFlushAt + REGISTRY_FLUSH_MS));
    const expiry = this.commands.nextExpiry();
    if (expiry !== null) times.push(expiry);
    // Counts of a request that ended early (a 4xx after authentication) still travel soon.
    if (this.outbox.pending()) times.push(now + OWED_DELIVERY_MS);
    const oldest = this.logs.oldest();
    if (oldest !== null) times.push(Math.max(now, Math.floor(oldest / 1000) + hotWindowMs(this.env)));
    if (times.length === 0) return;
    const next = Math.min(...times);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(next);
  }
}
