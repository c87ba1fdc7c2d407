// DeviceHub: one Durable Object per device. A device's writes serialise here: presence from
// heartbeats, metric history, the command queue, its sessions, the usage it owes its project,
// and its own WebSocket. Its log batches are authenticated here and forwarded to its log shard
// (durable-objects/log-shard/), which stores and counts their lines. This class is the object's
// RPC surface; each concern is a part in this folder, and every part that needs time registers
// with the one alarm (timers.ts).
import { DurableObject } from "cloudflare:workers";
import type { z } from "zod";
import { UPLOAD_GRACE_MS } from "../../src/contract/artifacts";
import {
  type AuditAction,
  type AuditActor,
  type AuditEntry,
  paramNames,
  type RequestInfo,
} from "../../src/contract/audit";
import { arrivalBuckets } from "../../src/contract/buckets";
import type { AckOutcome, AckStatus, Actor, CommandRecord } from "../../src/contract/commands";
import type { DeliveryAnswer } from "../../src/contract/fan-in";
import type { Heartbeat } from "../../src/contract/fleet";
import type { StoredLine } from "../../src/contract/log-line";
import type { MetricInterval } from "../../src/contract/metrics";
import type { HeartbeatOutcome, Identity, Presence } from "../../src/contract/presence";
import { type RateLimitRule, withinRate } from "../../src/contract/rate-limits";
import { type EndStatus, SESSION_IDLE, sessionIdleMs } from "../../src/contract/sessions";
import type { TailPlan } from "../../src/contract/tail-plan";
import { TIERS } from "../../src/contract/tiers";
import type { IngestBatch, IngestOutcome } from "../../src/ingest/ingest";
import { clockNow } from "../../src/lib/clock";
import { hotWindowFor, hotWindowMs } from "../../src/lib/config";
import { newId } from "../../src/lib/crypto";
import { utcDay } from "../../src/lib/time";
import { shardOfDevice } from "../../src/stubs/log-shard";
import { orgHub, projectHub } from "../../src/stubs/project-hub";
import type { AppendOutcome, RequestCounts } from "../log-shard/shard";
import { answerClose } from "../sockets";
import { migrate } from "../sql-migrations";
import { CountedStorage } from "../storage";
import { Timers } from "../timers";
import { DeviceAlerts } from "./alerts";
import { CommandQueue } from "./commands";
import { ProjectDelivery } from "./delivery";
import { HandOverToShard } from "./hand-over";
import { LegacyOutbox } from "./legacy-outbox";
import { MetricHistory } from "./metrics";
import { addBuckets, addUsage, delivered, emptyOwed, type Owed, type OwedDelta } from "./owed";
import { PresenceReports } from "./presence";
import { Retention } from "./retention";
import { DEVICE_SCHEMA } from "./schema";
import { type EndOutcome, type SessionRow, SessionStore } from "./sessions";
import { DeviceSocket } from "./socket";
import { addBeat, type Beats, type Held, heldOf, minutesOf, SOCKET_BEATS, saveDue } from "./socket-beats";
import { DeviceStateStore, offlineDeadline, type Provisioning, presenceOf } from "./state";
import { DeviceTail, TAIL_SHIPPED } from "./tail";

/** Tests wait on deliveries under way with this; a symbol, so it is no RPC method. */
export const SETTLE = Symbol("settle");

export type CreateSessionOutcome =
  | { ok: true; session: SessionRow; created: boolean }
  | { ok: false; code: "conflict" };

/** What a device is told with each answer: whether someone watches it, and how often to send its logs now. */
export interface SendAdvice {
  live: boolean;
  send_interval_s: number;
}

/**
 * A viewer's push keeps a device live `holdMs` at most (renewed for as long again by an answer
 * that finds less than `lingerMs` left, ended when the viewer leaves); it stays live `lingerMs`
 * after the last viewer covering it leaves. An object, so tests can shorten them.
 */
export const LIVE = { holdMs: 3_600_000, lingerMs: 60_000 };
/** Session batches whose line ranges a device keeps (DeviceState.sessionBatches). */
const SESSION_BATCHES_KEPT = 64;

/**
 * Audit events a device holds while its org's log cannot be reached (memory); older ones are dropped, and
 * said so in the Worker's log.
 */
const AUDIT_KEPT = 1000;

/** Who acts when the platform itself finds something out (a device gone silent, a command expired). */
const PRESENCE_ACTOR = { kind: "system", id: "fleetbeat", label: "fleetbeat" } as const;
/** How often a device should send its logs: while live, and otherwise. */
const SEND_INTERVAL_S = { live: 1, idle: 60 };

export class DeviceHub extends DurableObject<Env> {
  private readonly storage: CountedStorage;
  private readonly state: DeviceStateStore;
  private readonly timers: Timers;
  private readonly commands: CommandQueue;
  private readonly metricHistory: MetricHistory;
  private readonly legacyOutbox: LegacyOutbox;
  private readonly sessions: SessionStore;
  /** Sessions reopened since the last commit, which tells the project of them. */
  private readonly reopened: SessionRow[] = [];
  private readonly delivery: ProjectDelivery;
  private readonly presenceReports: PresenceReports;
  private readonly tail: DeviceTail;
  private readonly socket: DeviceSocket;
  private readonly alerts: DeviceAlerts;
  /** Audit events of this device's commands not yet appended to its org's log (memory; sent by commit). */
  private readonly auditOut: AuditEntry[] = [];
  /** Heartbeats over the socket held since the state was last saved (socket-beats.ts). */
  private beats: Beats | null = null;
  /**
   * The delivery the project took since the state was last saved, held by the socket's attachment too
   * (socket-beats.ts).
   */
  private taken: Held["taken"] = null;
  /** While set, changes to the state wait for the next save (the socket's heartbeats). */
  private volatile = false;
  /** The device's socket was told it is live (memory only). */
  private liveTold = false;
  /** Where the per-line store's ids stopped, for a device that never had chunks (memory only). */
  private floor?: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const storage = (this.storage = new CountedStorage(ctx.storage));
    // An object nobody provisioned builds no storage (a key for a deleted device still reaches it).
    if (storage.kv.get("schema_version") !== undefined) migrate(storage, DEVICE_SCHEMA);
    const sql = storage.sql;
    const identity = () => this.state.current;
    this.state = new DeviceStateStore(
      storage.kv,
      () => storage.rowsWritten,
      () => this.saved(),
    );
    this.timers = new Timers(storage);
    this.commands = new CommandQueue(sql);
    this.metricHistory = new MetricHistory(sql, {
      get: () => this.state.current?.metricHour,
      set: (h) => this.change((s) => (s.metricHour = h)),
    });
    this.legacyOutbox = new LegacyOutbox(sql, storage.kv);
    this.sessions = new SessionStore(
      sql,
      { get: () => this.state.current?.sessionCounts ?? {}, set: (p) => this.state.note((s) => (s.sessionCounts = p)) },
      { get: () => this.state.current?.sessionActivity, set: (a) => this.state.note((s) => (s.sessionActivity = a)) },
      sessionIdleMs(env.SESSION_IDLE_S),
    );
    // The order the alarm runs them in: expiry and offline first, so what is reported is current.
    this.timers.add({
      name: "command expiry",
      due: () => this.commands.nextExpiry(),
      fire: (now) => this.expireCommands(now),
    });
    // An open socket's silence may be noticed up to one silence late: it then rides on the deliveries' alarm.
    // Over HTTPS, up to one heartbeat interval late (offline after three to four missed heartbeats): a device
    // that keeps its interval then moves the alarm once every four intervals at most, not every three.
    this.timers.add({
      name: "offline",
      due: () => this.offlineAt(),
      slack: () =>
        this.ctx.getWebSockets().length > 0 ? SOCKET_BEATS.silenceMs : (this.state.current?.heartbeatIntervalMs ?? 0),
      fire: () => this.goOffline(),
    });
    // Sessions nothing named for SESSION_IDLE_S end as timed_out (sessions.ts); the check may come
    // SESSION_IDLE.slackMs late, riding on other alarms.
    this.timers.add({
      name: "session timeout",
      due: () => (this.state.current ? this.sessions.nextTimeout() : null),
      slack: (now) => ((this.sessions.nextTimeout() ?? now) <= now ? 0 : SESSION_IDLE.slackMs),
      fire: (now) => this.timeOutSessions(now),
    });
    this.presenceReports = new PresenceReports(env, this.state, this.sessions, this.timers, (at) =>
      this.metricHistory.sparklines(at),
    );
    this.alerts = new DeviceAlerts(storage.kv, env, () => this.state.current, this.timers);
    this.tail = new DeviceTail(env, identity, (wanted) => this.setLive(wanted, Date.now(), LIVE.lingerMs));
    this.delivery = new ProjectDelivery(
      env,
      storage.kv,
      {
        owed: () => this.owed(),
        rowsWritten: () => this.state.rowsWritten,
        save: () => {
          this.state.touch();
          this.state.save();
        },
        taken: (seq, at) => this.markTaken(seq, at),
        live: () => this.isLive(Date.now()),
        // An open socket's heartbeats deliver the counts when they are due: the alarm is only for a
        // socket gone silent, and may come up to one silence late, with the silence check.
        countsSlackMs: () => (this.ctx.getWebSockets().length > 0 ? SOCKET_BEATS.silenceMs : 0),
        presence: () => this.presenceReports.snapshot(),
      },
      this.legacyOutbox,
      identity,
      this.tail,
      this.timers,
      (answer) => this.heard(answer),
    );
    new Retention(this.metricHistory, this.timers, {
      get: () => this.state.current?.prunedAt ?? 0,
      ran: (at) => this.state.note((s) => (s.prunedAt = at)),
    });
    // What the device kept of its lines before log shards goes to its shard.
    new HandOverToShard(
      storage,
      env,
      () => this.state.current,
      () => this.lineFloor(),
      this.timers,
    );
    // A device told on its socket that it is live hears when that ends (after a hibernation, with its next
    // heartbeat's answer).
    this.timers.add({
      name: "live end",
      due: () => (this.liveTold && this.ctx.getWebSockets().length > 0 ? (this.state.current?.liveUntil ?? 0) : null),
      fire: (now) => {
        if (this.isLive(now)) return;
        this.liveTold = false;
        this.socket.pushAdvice(this.advice(now));
      },
    });
    // What the alarm must keep: the state, when something changed it without a save (the socket's heartbeats).
    this.timers.add({
      name: "state save",
      due: (now) => (this.state.unsaved ? now : null),
      fire: () => this.state.save(),
    });
    this.socket = new DeviceSocket(
      ctx,
      {
        ingest: (batch) => this.ingest(batch, undefined, [1, 1, 0]),
        heartbeat: (input) => this.socketHeartbeat(input),
        ackCommand: (id, status, result) => this.ackCommand(id, status, result),
        takeQueuedCommands: () => this.takeQueuedCommands(),
        count: (delta) => this.count(delta),
        deliverOwed: () => this.commit(),
      },
      hotWindowMs(env),
    );
    // Woken with the socket open: what its attachment holds is not saved yet.
    const held = heldOf(ctx.getWebSockets()[0]?.deserializeAttachment());
    // (The heartbeats first: marking the delivery taken rewrites the attachment with what is held.)
    if (this.state.current) {
      if (held.beats) this.replay(held.beats);
      if (held.taken) this.markTaken(...held.taken);
    }
  }

  /** A change to the state: saved with the event, or, for the socket's heartbeats, with a later save. */
  private change(fn: (s: import("./state").DeviceState) => void): void {
    if (this.volatile) this.state.noteLazily(fn);
    else this.state.note(fn);
  }

  /** The state was saved: the socket's held heartbeats and taken mark are in it now. */
  private saved(): void {
    if (!this.beats && !this.taken) return;
    this.beats = null;
    this.taken = null;
    for (const ws of this.ctx.getWebSockets()) ws.serializeAttachment(null);
  }

  /** What the socket's attachment should hold now. */
  private held(): Held {
    return { beats: this.beats, taken: this.taken };
  }

  /** Puts what is held in the socket's attachment (free, and kept while the object hibernates). */
  private hold(): void {
    const held = this.beats || this.taken ? this.held() : null;
    for (const ws of this.ctx.getWebSockets()) ws.serializeAttachment(held);
  }

  /**
   * The project took the sealed delivery `seq` at `at`: dropped from what is owed with the next
   * save, not one of its own (a resend meanwhile is ignored by the project). With the socket open
   * the mark waits in its attachment too, so a hibernation does not lose it.
   */
  private markTaken(seq: number, at: number): void {
    this.state.noteLazily((s) => {
      const owed = (s.owed ??= { ...emptyOwed(), nextSeq: this.legacyOutbox.nextSeq() });
      delivered(owed, seq);
      owed.sentAt = Math.max(owed.sentAt, at);
    });
    if (this.ctx.getWebSockets().length === 0) return;
    this.taken = [seq, at];
    this.hold();
  }

  /** Lays the socket's held heartbeats over the saved state (after the object woke). */
  private replay(b: Beats): void {
    this.volatile = true;
    try {
      this.state.noteLazily((s) => {
        s.lastHeartbeatAt = b.last;
        s.lastSeenAt = Math.max(s.lastSeenAt ?? 0, b.last);
        s.reportedStatus = b.status as typeof s.reportedStatus;
        s.offline = false;
        if (b.metrics) s.metrics = b.metrics;
      });
      for (const [at, samples, data] of minutesOf(b)) {
        this.count({ heartbeats: samples, device_messages_in: samples, device_messages_out: samples }, at);
        this.metricHistory.mergeMinute(at, samples, data);
      }
    } finally {
      this.volatile = false;
    }
    this.beats = b;
  }

  /**
   * A heartbeat over the device socket: the same as over HTTPS, but saved with a later change
   * unless it changes what people must see at once (socket-beats.ts). Counts its frame and its ack.
   */
  private async socketHeartbeat(input: z.output<typeof Heartbeat>): Promise<HeartbeatOutcome & Partial<SendAdvice>> {
    const s = this.state.require();
    const now = Date.now();
    const quiet = !input.session_id && input.status === s.reportedStatus && !s.offline && !s.maintenance;
    if (!quiet) {
      this.count({ device_messages_in: 1, device_messages_out: 1 });
      return this.heartbeat(input);
    }
    this.volatile = true;
    try {
      this.state.noteLazily((d) => {
        d.lastHeartbeatAt = now;
        d.lastSeenAt = now;
        if (input.metrics) d.metrics = input.metrics;
      });
      if (input.metrics && Object.keys(input.metrics).length > 0) this.metricHistory.record(input.metrics, now);
      this.count({ heartbeats: 1, device_messages_in: 1, device_messages_out: 1 }, now);
    } finally {
      this.volatile = false;
    }
    this.alerts.onHeartbeat(input.metrics, now);
    this.expireCommands(now);
    const beats = (this.beats = addBeat(this.beats, now, input.status, input.metrics));
    if (saveDue({ ...this.held(), beats }, now) || this.delivery.countsDue()) {
      this.state.touch();
      await this.commit();
    } else {
      this.hold();
      await this.timers.arm();
    }
    return { ok: true, server_time: now, pending_commands: this.commands.pendingCount(), ...this.advice(now) };
  }

  /** Where the device's line ids stood in its own store before log shards (its shard continues after it). */
  private lineFloor(): number {
    const next = this.state.current?.nextLineId;
    if (next) return next;
    this.floor ??=
      (this.storage.sql.exec<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'logs'").toArray()[0]
        ?.seq ?? 0) + 1;
    return this.floor;
  }

  /** What is owed to the project, kept in the state (new sequences continue after the outbox tables' of before). */
  private owed(): Owed {
    const s = this.state.require();
    return (s.owed ??= { ...emptyOwed(), nextSeq: this.legacyOutbox.nextSeq() });
  }

  private isLive(now: number): boolean {
    return (this.state.current?.liveUntil ?? 0) > now;
  }

  /**
   * What the device is told: live while someone watches it, or while one of its alert conditions holds (so
   * its lines come at once).
   */
  private advice(now = Date.now()): SendAdvice {
    const live = this.isLive(now) || this.alerts.holding();
    return { live, send_interval_s: live ? SEND_INTERVAL_S.live : SEND_INTERVAL_S.idle };
  }

  // ---- identity -------------------------------------------------------------------------

  /** Registration and re-registration: (re)binds the identity and sets a new key. History is kept. */
  async provision(p: Provisioning): Promise<void> {
    migrate(this.storage, DEVICE_SCHEMA);
    this.state.provision(p, Date.now());
    await this.timers.arm();
  }

  /**
   * The device's identity when `keyHash` is its current key, else null. Every authenticated
   * HTTP request is a device message and an API call, and counts as being seen. Its counts
   * travel with the request's own work (or by the alarm, if it ends early).
   */
  async authenticate(keyHash: string, opts: { alone?: boolean } = {}): Promise<Identity | null> {
    // Its counts are saved by the work the request goes on to ask for (one row for both), or
    // now, when the request was refused before any work (`alone`).
    const who = this.checkKey(keyHash);
    if (who && opts.alone) await this.commit();
    return who;
  }

  /**
   * authenticate, for a request that its device's rate limit holds (every device request but a
   * heartbeat and a command acknowledgement): past the limit, the identity comes with the rule it
   * broke, and the request counts nothing and writes nothing.
   */
  async admit(keyHash: string): Promise<{ identity: Identity | null; limited?: RateLimitRule }> {
    if (!this.holdsKeyNow(keyHash)) return { identity: null };
    const limited = await this.pastRate();
    if (limited) return { identity: this.identity(), limited };
    return { identity: this.checkKey(keyHash) };
  }

  /** The device's rate rule when one more request would break it, else null (the request is counted against it). */
  private async pastRate(): Promise<RateLimitRule | null> {
    const s = this.state.require();
    const rule = TIERS[s.tier ?? "free"].rate_limits.device;
    return (await withinRate(this.env, rule, s.deviceId)) ? null : rule;
  }

  /**
   * A request was refused after it was authenticated: what it counted is saved now (one row, if anything is
   * unsaved).
   */
  async keepCounts(): Promise<void> {
    if (this.state.current) await this.commit();
  }

  /** authenticate's work, for the calls that authenticate and act in one request to this object. */
  private checkKey(keyHash: string, counts = true): Identity | null {
    if (!this.holdsKeyNow(keyHash)) return null;
    if (!counts) {
      // A log batch (ingest): its counts go with it to the shard, and last seen waits for the next save.
      this.state.noteLazily((d) => (d.lastSeenAt = Date.now()));
      return this.identity();
    }
    this.state.update((d) => (d.lastSeenAt = Date.now()));
    this.count({ device_messages_in: 1, api_calls: 1 });
    return this.identity();
  }

  private holdsKeyNow(keyHash: string): boolean {
    const s = this.state.current;
    return s !== undefined && s.keyHash !== null && s.keyHash === keyHash;
  }

  private identity(): Identity {
    const s = this.state.require();
    return { deviceId: s.deviceId, orgId: s.orgId, projectId: s.projectId };
  }

  /** Whether `keyHash` is the device's current key (an org route asks, to answer 403 or 401). */
  async holdsKey(keyHash: string): Promise<boolean> {
    return this.holdsKeyNow(keyHash);
  }

  /**
   * The device's project was deleted: the key stops and the socket closes at once, nothing
   * reaches D1 or the project again, and the alarm wipes everything the object holds.
   */
  async retire(): Promise<void> {
    if (!this.state.current) return;
    this.state.retire();
    this.socket.closeAll(4001, "project deleted");
    await this.storage.setAlarm(Date.now());
  }

  /** The key stops working at once; its socket is closed; queued commands stay undelivered. */
  async decommission(): Promise<void> {
    if (!this.state.current) return;
    this.state.update((s) => {
      s.keyHash = null;
      s.offline = true;
    });
    this.socket.closeAll(4001, "decommissioned");
    await this.commit();
  }

  // ---- presence -------------------------------------------------------------------------

  /**
   * A heartbeat. Over HTTPS it comes with the key's hash and is authenticated here, in the same
   * call (one request to this object); over the socket the connection was authenticated.
   */
  async heartbeat(
    input: z.output<typeof Heartbeat>,
    keyHash?: string,
  ): Promise<HeartbeatOutcome & Partial<SendAdvice> & { identity?: Identity }> {
    const identity = keyHash === undefined ? undefined : this.checkKey(keyHash);
    if (keyHash !== undefined && !identity) return { ok: false, code: "unauthorized" };
    // A device may name only a session it has, or one no other device of the project has claimed.
    const named = input.session_id ? this.sessions.get(input.session_id) : undefined;
    if (input.session_id && !named) {
      const s = this.state.require();
      const owner = await projectHub(this.env, s.projectId).sessionOwner(input.session_id);
      if (owner !== null && owner !== s.deviceId) {
        await this.commit();
        return { ok: false, code: "conflict" };
      }
    }
    const now = Date.now();
    if (this.state.current?.offline)
      this.auditPresence("device.connected", { via: keyHash === undefined ? "socket" : "https" });
    this.state.update((s) => {
      s.lastHeartbeatAt = now;
      s.lastSeenAt = now;
      s.reportedStatus = input.status;
      s.offline = false;
      if (input.metrics) s.metrics = input.metrics;
      // A session this device ended is not opened again by naming it; one that timed out is (below).
      if (input.session_id && (!named || named.status === "active" || named.status === "timed_out"))
        s.currentSessionId = input.session_id;
    }, now);
    if (named) this.noteNamed(named, now);
    if (input.metrics && Object.keys(input.metrics).length > 0) this.metricHistory.record(input.metrics, now);
    this.alerts.onHeartbeat(input.metrics, now);
    this.expireCommands(now);
    this.count({ heartbeats: 1 });
    await this.commit();
    return {
      ok: true,
      server_time: now,
      pending_commands: this.commands.pendingCount(),
      ...this.advice(now),
      ...(identity ? { identity } : {}),
    };
  }

  async presence(): Promise<Presence | null> {
    const s = this.state.current;
    return s ? presenceOf(s) : null;
  }

  /** An operator's status: maintenance holds until set back to online. Offline stays offline. */
  async setOperatorStatus(status: "maintenance" | "online"): Promise<Presence | null> {
    this.state.update((s) => (s.maintenance = status === "maintenance"));
    await this.commit();
    return this.presence();
  }

  async metrics(from: number, to: number, interval?: MetricInterval) {
    const chosen = MetricHistory.fitInterval(from, to, interval);
    return { interval: chosen, points: this.metricHistory.query(from, to, chosen) };
  }

  private offlineAt(): number | null {
    const s = this.state.current;
    return s ? offlineDeadline(s, this.ctx.getWebSockets().length > 0 ? SOCKET_BEATS.silenceMs : 0) : null;
  }

  /**
   * The project's safety net for a device it has not heard from for a long while although it
   * thinks it online (project-hub/presence.ts): goes offline now if the object agrees (its alarm
   * was lost), and sets the alarm again either way.
   */
  async sweep(): Promise<void> {
    if (!this.state.current) return;
    const at = this.offlineAt();
    if (at !== null && at <= Date.now()) await this.goOffline();
    await this.timers.arm();
  }

  /**
   * The alarm found MISSED_HEARTBEATS intervals without a heartbeat (or the open socket fell silent); the
   * project hears of it next.
   */
  private async goOffline(): Promise<void> {
    if (!this.state.require().offline)
      this.auditPresence("device.disconnected", { last_seen_at: this.state.require().lastSeenAt });
    this.state.update((s) => (s.offline = true));
    this.alerts.onOffline(Date.now());
    this.state.save();
    await this.sendAudit();
    await this.presenceReports.sendNow();
  }

  /**
   * The project's alert rules changed (it tells devices that delivered lately): fetch them at this device's
   * moment (alerts.ts).
   */
  async alertRulesChanged(version: number): Promise<void> {
    if (!this.state.current) return;
    this.alerts.heardVersion(version);
    await this.timers.arm();
  }

  /**
   * The project says which viewer groups want which of this device's lines (its plan, tail.ts):
   * while some do, the device sends its lines every second and ships them the lines they want
   * at once; with none it ships nothing, and a minute later goes back to sending every
   * SEND_INTERVAL_S.idle seconds. Only its own project's word counts.
   */
  async watch(projectId: string, plan: TailPlan): Promise<void> {
    if (this.state.current?.projectId !== projectId) return;
    const watched = this.tail.learn(plan).length > 0;
    this.setLive(watched, Date.now(), watched ? LIVE.holdMs : LIVE.lingerMs);
    await this.commit();
  }

  private setLive(watched: boolean, now: number, forMs: number): void {
    const was = this.isLive(now);
    const until = this.state.current?.liveUntil ?? 0;
    // Renewed a whole hold at a time: an answer that finds the device watched changes the state once an hour,
    // not each time.
    const next = watched ? (until >= now + forMs ? until : now + LIVE.holdMs) : Math.min(until, now + forMs);
    if (next !== until) this.state.note((s) => (s.liveUntil = next));
    if (this.isLive(now) === was) return;
    this.liveTold = this.isLive(now);
    this.socket.pushAdvice(this.advice(now));
  }

  // ---- logs ----------------------------------------------------------------------------

  /**
   * A batch: its session claimed, then forwarded to the device's log shard, which stores and
   * counts its lines in one transaction and answers once committed (a retry gets the first
   * answer, marked duplicate). The session's counts, the alerts and the live tail then hear of
   * the lines kept. Over HTTPS it comes with the key's hash and is authenticated here, in the same call.
   */
  async ingest(
    offered: IngestBatch,
    keyHash?: string,
    frame: RequestCounts = [0, 0, 0],
  ): Promise<IngestOutcome & { identity?: Identity }> {
    if (keyHash !== undefined && !this.holdsKeyNow(keyHash)) return { ok: false, code: "unauthorized" };
    // Over HTTPS or the socket alike, a batch past the device's rate counts and writes nothing.
    const limited = this.state.current ? await this.pastRate() : null;
    if (limited)
      return {
        ok: false,
        code: "rate_limited",
        rule: limited,
        ...(keyHash !== undefined ? { identity: this.identity() } : {}),
      };
    const identity = keyHash === undefined ? undefined : this.checkKey(keyHash, false);
    // The request's own counts (over HTTPS a message in and an API call; over the socket the frame
    // and its ack) go with the batch: the shard counts them in the transaction that stores it, so
    // a plain batch writes no row here. A batch the shard did not store counts them here.
    const request: RequestCounts = identity ? [1, 0, 1] : frame;
    let outcome: IngestOutcome = { ok: false, code: "conflict" };
    let counted = false;
    try {
      ({ outcome, counted } = await this.store(offered, request));
    } finally {
      // The request's own counts are kept whatever the shard said.
      if (!counted)
        this.count({ device_messages_in: request[0], device_messages_out: request[1], api_calls: request[2] });
      await this.commit();
    }
    return { ...outcome, ...(outcome.ok ? this.advice() : {}), ...(identity ? { identity } : {}) };
  }

  private async store(
    offered: IngestBatch,
    request: RequestCounts,
  ): Promise<{ outcome: IngestOutcome; counted: boolean }> {
    const sessionId = offered.lines.length > 0 ? (offered.session_id ?? null) : null;
    const now = Date.now();
    if (sessionId !== null && !(await this.claim(sessionId, sessionId, now)))
      return { outcome: { ok: false, code: "conflict" }, counted: false };
    const s = this.state.require();
    const stored = await shardOfDevice(this.env, s.projectId, s.deviceId).append({
      orgId: s.orgId,
      deviceId: s.deviceId,
      batch: offered,
      sessionId,
      hotWindowMs: this.hotWindowMs(),
      lineFloor: this.lineFloor(),
      ...(request.some((n) => n > 0) ? { request } : {}),
    });
    if (!stored.ok) return { outcome: stored, counted: false };
    return { outcome: this.kept(offered, stored, sessionId, now), counted: stored.counted === true };
  }

  /** What a stored batch changes here: its session's counts, the device's last log, the alerts and the live tail. */
  private kept(
    offered: IngestBatch,
    stored: Extract<AppendOutcome, { ok: true }>,
    sessionId: string | null,
    now: number,
  ): IngestOutcome {
    const answer = stored.answer;
    if (answer.duplicate) {
      if (sessionId !== null && stored.taken && this.uncounted(stored.taken.first)) {
        const { first, lines, errors, warnings } = stored.taken;
        this.countForSession(sessionId, first, lines, errors, warnings, now);
      }
      return { ok: true, answer };
    }
    if (stored.firstId === undefined) return { ok: true, answer };
    const lines = stored.kept ? stored.kept.map((i) => offered.lines[i]!) : offered.lines;
    if (lines.length === 0) return { ok: true, answer };
    // Not when a retry of it sent at the same time came back first and counted it (its duplicate
    // answer finds no range here while this one is still on its way back from the shard).
    if (sessionId !== null && !this.countedHere(stored.firstId)) {
      const { errors, warnings } = severities(lines);
      this.countForSession(sessionId, stored.firstId, lines.length, errors, warnings, now);
    }
    // The time of the last log waits for the next save (a new session's was saved with it).
    this.state.noteLazily((d) => (d.lastLogAt = now));
    this.delivery.addLines(lines, sessionId, stored.firstId);
    this.alerts.onLines(lines, now);
    return { ok: true, answer };
  }

  /**
   * Counts a stored batch's lines (ids from `first`) for its session, opening it here if it is new; saved
   * with the event.
   */
  private countForSession(
    sessionId: string,
    first: number,
    lines: number,
    errors: number,
    warnings: number,
    now: number,
  ): void {
    const { session, created: newSession } = this.sessions.ensure(sessionId, sessionId, now, now);
    this.sessions.count(sessionId, lines, errors, warnings);
    if (this.noteNamed(session, now)) this.state.update((d) => (d.currentSessionId = sessionId));
    this.state.note((d) => {
      const kept = (d.sessionBatches ??= { since: first, ranges: [] });
      kept.ranges.push([first, first + lines - 1]);
      if (kept.ranges.length > SESSION_BATCHES_KEPT) kept.ranges.shift();
    });
    if (!newSession) return;
    // A new session is a transition people see.
    this.count({ sessions: 1 });
    this.state.update((d) => {
      d.lastLogAt = now;
      d.currentSessionId = sessionId;
    });
  }

  /**
   * A line or heartbeat named the session: its timeout starts again, and a timed-out one is reopened (told to
   * the project by commit). Says whether it was reopened.
   */
  private noteNamed(session: Pick<SessionRow, "session_id" | "status">, now: number): boolean {
    const reopened = this.sessions.named(session, now);
    if (reopened) this.reopened.push(reopened);
    return reopened !== undefined;
  }

  /** Whether the batch whose lines start at `first` is among the session batches counted here lately. */
  private countedHere(first: number): boolean {
    return this.state.current?.sessionBatches?.ranges.some(([a]) => a === first) ?? false;
  }

  /**
   * Whether the stored batch whose lines start at `first` was not counted for its session here (see
   * DeviceState.sessionBatches).
   */
  private uncounted(first: number): boolean {
    const kept = this.state.current?.sessionBatches;
    if (!kept || first < kept.since) return false;
    if (this.countedHere(first)) return false;
    // Older than every range kept: it was counted long ago (a retry comes within minutes, not
    // SESSION_BATCHES_KEPT batches later).
    return kept.ranges.length < SESSION_BATCHES_KEPT || first > kept.ranges[0]![0];
  }

  /**
   * Whether this device may use a session id: it has it already, or it claims it now. The
   * project's object decides a new id's owner, once and atomically, for every device of the
   * project (../project-hub/sessions.ts).
   */
  private async claim(sessionId: string, name: string, startedAt: number): Promise<boolean> {
    if (this.sessions.get(sessionId)) return true;
    const s = this.state.require();
    const owner = await projectHub(this.env, s.projectId).claimSession(s.deviceId, {
      session_id: sessionId,
      name,
      started_at: startedAt,
    });
    return owner === s.deviceId;
  }

  // ---- sessions -------------------------------------------------------------------------

  async createSession(id: string, name: string, startedAt: number): Promise<CreateSessionOutcome> {
    if (!(await this.claim(id, name, startedAt))) return { ok: false, code: "conflict" };
    const { session, created } = this.transaction(() => {
      const made = this.sessions.ensure(id, name, startedAt);
      if (made.created) this.count({ sessions: 1 });
      // Opening a session (again) makes it the device's current one while it is active.
      if (made.session.status === "active" && this.state.require().currentSessionId !== id)
        this.state.update((s) => (s.currentSessionId = id));
      this.state.save();
      return made;
    });
    await this.commit();
    return { ok: true, session: this.sessions.get(id) ?? session, created };
  }

  async endSession(id: string, status: EndStatus, completedAt: number | undefined): Promise<EndOutcome> {
    const outcome = this.transaction(() => {
      const ended = this.sessions.end(id, status, completedAt);
      if (ended.ok && this.state.require().currentSessionId === id)
        this.state.update((s) => (s.currentSessionId = null));
      this.state.save();
      return ended;
    });
    if (outcome.ok) {
      if (outcome.session.version === outcome.session.flushed_version)
        await this.presenceReports.sessionChanged(outcome.session);
      await this.commit();
    }
    return outcome;
  }

  /**
   * The alarm: sessions nothing named for SESSION_IDLE_S end as timed_out, each as an end does (its row, the
   * state, the project told).
   */
  private async timeOutSessions(now: number): Promise<void> {
    const ended = this.transaction(() => {
      const rows = this.sessions.timeOut(now);
      if (rows.some((r) => r.session_id === this.state.require().currentSessionId))
        this.state.update((s) => (s.currentSessionId = null), now);
      this.state.save();
      return rows;
    });
    for (const row of ended) await this.presenceReports.sessionChanged(row);
  }

  /**
   * Whether this device may upload a file to session `id` now: its own session, active or
   * ended less than UPLOAD_GRACE_MS ago. Another device's session is a conflict.
   */
  async uploadAllowed(id: string, now: number): Promise<"ok" | "not_found" | "conflict" | "ended"> {
    const session = this.sessions.get(id);
    if (!session) {
      const s = this.state.require();
      const owner = await projectHub(this.env, s.projectId).sessionOwner(id);
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

  /**
   * A command from a person or key (`sentBy`); audited here, so that its events stay in order (sent before
   * delivered).
   */
  async queueCommand(
    command: string,
    params: unknown,
    ttlMs: number,
    sentBy: Actor,
    audited?: { actor: AuditActor; via: RequestInfo },
  ): Promise<CommandRecord> {
    const now = Date.now();
    const row = this.commands.queue(newId("cmd", now), command, params, ttlMs, now, sentBy);
    this.count({ commands: 1 });
    // Parameters may carry secrets (a network's password): the event names them, not their values.
    if (audited)
      this.auditCommand(
        "command.sent",
        row,
        { command, params: paramNames(params), ttl_s: Math.round(ttlMs / 1000) },
        audited.via,
        audited.actor,
      );
    this.socket.pushCommands(this.state.require().deviceId);
    await this.commit();
    return this.commands.get(row.id)!;
  }

  /** The device's poll: every queued command, now marked delivered. */
  async pollCommands(limit = 100, via?: RequestInfo): Promise<CommandRecord[]> {
    const now = Date.now();
    this.expireCommands(now);
    const rows = this.commands.deliver(now, limit);
    if (rows.length > 0) this.count({ device_messages_out: rows.length });
    for (const row of rows) this.auditCommand("command.delivered", row, { via: "poll" }, via);
    await this.commit();
    return rows;
  }

  /** A command's outcome, from the device over HTTPS (`via`: the request) or its socket. */
  async ackCommand(id: string, status: AckStatus, result: unknown, via?: RequestInfo): Promise<AckOutcome> {
    const now = Date.now();
    this.expireCommands(now);
    const outcome = this.commands.ack(id, status, result, now);
    if (outcome.ok) this.auditCommand("command.acked", outcome.command, { status: outcome.command.status }, via);
    await this.commit();
    return outcome;
  }

  /**
   * An audit event of one of this device's commands, by the device unless said, sent to its org's log at the
   * end of the event (commit).
   */
  private auditCommand(
    action: AuditAction,
    row: Pick<CommandRecord, "id" | "command">,
    summary: Record<string, unknown>,
    via?: RequestInfo,
    actor?: AuditActor,
  ): void {
    const s = this.state.require();
    this.auditOut.push({
      actor: actor ?? { kind: "device", id: s.deviceId, label: s.deviceId },
      action,
      target: { kind: "command", id: row.id, label: row.command },
      project_id: s.projectId,
      summary: { device_id: s.deviceId, ...summary },
      ...(via ?? { request_id: `socket-${crypto.randomUUID()}` }),
    });
  }

  /**
   * Expires what is past its time, each an audit event by the system (sent with the event's commit, or the
   * alarm's).
   */
  private expireCommands(now: number): void {
    for (const row of this.commands.expire(now))
      this.auditCommand("command.expired", row, {}, undefined, PRESENCE_ACTOR);
  }

  /** The device came online after being offline (`by` it), or the alarm found it gone (by the system). */
  private auditPresence(action: "device.connected" | "device.disconnected", summary: Record<string, unknown>): void {
    const s = this.state.require();
    this.auditOut.push({
      actor: action === "device.connected" ? { kind: "device", id: s.deviceId, label: s.deviceId } : PRESENCE_ACTOR,
      action,
      target: { kind: "device", id: s.deviceId, label: s.deviceId },
      project_id: s.projectId,
      summary,
      request_id: `presence-${crypto.randomUUID()}`,
    });
  }

  /**
   * Appends the audit events waiting here to the org's log; ones that fail wait for the next commit (at most
   * AUDIT_KEPT).
   */
  private async sendAudit(): Promise<void> {
    const s = this.state.current;
    if (this.auditOut.length === 0 || !s) return;
    const entries = this.auditOut.splice(0);
    try {
      await orgHub(this.env, s.orgId).appendAudit(entries);
    } catch (err) {
      this.auditOut.unshift(...entries.slice(-AUDIT_KEPT));
      console.error("audit events not appended yet", err);
    }
  }

  async commandHistory(limit: number, before?: string): Promise<CommandRecord[]> {
    this.expireCommands(Date.now());
    return this.commands.history(limit, before);
  }

  /** For the device socket: what is queued, marked delivered (audited with the event's commit). */
  private takeQueuedCommands(): CommandRecord[] {
    const now = Date.now();
    this.expireCommands(now);
    const rows = this.commands.deliver(now, 100);
    for (const row of rows) this.auditCommand("command.delivered", row, { via: "socket" });
    return rows;
  }

  // ---- the device's WebSocket -----------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    const advice = this.advice();
    const answer = this.socket.accept(request, this.state.require().deviceId, advice);
    this.liveTold = advice.live;
    await this.commit();
    return answer;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.socket.onMessage(ws, this.state.require().deviceId, message);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    answerClose(ws, code);
    if (!this.state.current) return;
    // What the socket held is saved now: the attachment goes with it.
    if (!this.beats && !this.taken) {
      const held = heldOf(ws.deserializeAttachment());
      if (held.beats) this.replay(held.beats);
      if (held.taken) this.markTaken(...held.taken);
    }
    if (this.beats || this.taken) this.state.touch();
    // Without its socket the device is offline three missed heartbeats after its last, not ten minutes.
    await this.commit();
  }

  // ---- time -----------------------------------------------------------------------------

  override async alarm(): Promise<void> {
    if (this.state.retired) {
      // What a deleted project's device held goes; the object is empty from here on.
      await this.storage.deleteAlarm();
      await this.storage.deleteAll();
      return;
    }
    await this.timers.fire();
    this.state.save();
    await this.sendAudit();
  }

  /** A stats read is about to happen: what this device owes its project goes now. */
  async sendCounts(): Promise<void> {
    if (this.state.current) await this.delivery.flush();
  }

  /** The storage rows this object has written since it was provisioned (storage.ts), as its saves have kept them. */
  async storageRows(): Promise<number> {
    return this.state.current ? this.state.rowsWritten : 0;
  }

  /** Calls made to viewer groups and lines shipped to them since the object started (tests read it). */
  [TAIL_SHIPPED](): { calls: number; lines: number } {
    return this.tail.shipped;
  }

  /**
   * Delivers everything owed to the project now, the shard's counts too, fetches rules it was told of, and
   * waits for it (tests settle with it).
   */
  async [SETTLE](): Promise<void> {
    await this.presenceReports.sendNow();
    await this.delivery.flush();
    await this.alerts.fetchAnnounced();
    this.state.save();
    const s = this.state.current;
    if (s) await shardOfDevice(this.env, s.projectId, s.deviceId).flush();
  }

  /**
   * What every change ends with before it answers: the state is saved (one row, if it
   * changed), a transition goes to the project, what is owed to the project when it is due
   * (counts, lines for the live tail), and the alarm is set for everything else.
   */
  private async commit(): Promise<void> {
    if (this.state.unsaved) this.delivery.sealIfDue();
    this.state.save();
    // Timed-out sessions a line or heartbeat reopened: the project's index hears of it now, as of an end.
    for (const row of this.reopened.splice(0)) await this.presenceReports.sessionChanged(row);
    await this.sendAudit();
    await this.presenceReports.sendNow();
    await this.delivery.kick();
    await this.timers.arm();
  }

  /** How long this device keeps its lines: its tier's hot retention, within the operator's cap. */
  private hotWindowMs(): number {
    const days = this.state.current?.hotWindowDays;
    return days === undefined ? hotWindowMs(this.env) : hotWindowFor(this.env, days);
  }

  /**
   * What the project said with a delivery: the month's quota, the tier's retention, who watches, the rules'
   * version.
   */
  private async heard(answer: DeliveryAnswer): Promise<void> {
    const state = answer.quota;
    const current = this.state.current;
    if (state && current && current.hotWindowDays !== state.hot_window_days)
      this.state.update((s) => (s.hotWindowDays = state.hot_window_days));
    if (state && current && current.archiveDays !== state.archive_days)
      this.state.update((s) => (s.archiveDays = state.archive_days));
    if (state?.tier && current && current.tier !== state.tier) this.state.update((s) => (s.tier = state.tier));
    this.setLive(this.tail.learn(answer.tail).length > 0, Date.now(), LIVE.lingerMs);
    this.alerts.heardVersion(answer.alert_rules);
  }

  /**
   * One SQLite transaction; if it rolls back, the device state kept in memory goes back to what it was when
   * it began.
   */
  private transaction<T>(work: () => T): T {
    const before = this.state.snapshot();
    try {
      return this.storage.transactionSync(work);
    } catch (err) {
      this.state.restore(before);
      throw err;
    }
  }

  /** Records usage, and what arrived in the time buckets, in the state; it travels with the next delivery. */
  private count(delta: OwedDelta, at = clockNow()): void {
    this.change(() => {
      const owed = this.owed();
      addBuckets(owed, arrivalBuckets(at, delta).values());
      addUsage(owed, utcDay(at), delta);
    });
  }
}

function severities(lines: readonly StoredLine[]): { errors: number; warnings: number } {
  let errors = 0;
  let warnings = 0;
  for (const l of lines) {
    if (l.level >= 3) errors++;
    else if (l.level === 2) warnings++;
  }
  return { errors, warnings };
}
