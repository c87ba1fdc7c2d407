// DeviceHub: one Durable Object per device. A device's writes serialise here: presence from
// heartbeats, metric history, the command queue (and, later, its hot logs).
import { DurableObject } from "cloudflare:workers";
import { newId } from "../src/lib/crypto";
import { type AckOutcome, type AckStatus, type CommandRow, CommandQueue } from "./command-queue";
import { type DeviceState, type DeviceStatus, type ReportedStatus, effectiveStatus, offlineDeadline } from "./device-presence";
import { DEVICE_SCHEMA } from "./device-schema";
import { type MetricInterval, MetricHistory } from "./metric-history";
import { migrate } from "./sql-migrations";

/** The D1 registry gets at most one presence write per device per this long, plus one per status change. */
export const REGISTRY_FLUSH_MS = 60_000;
const PRUNE_EVERY_MS = 3600_000;
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
}

export interface HeartbeatInput {
  status: ReportedStatus;
  session_id?: string;
  metrics?: Record<string, number>;
}

export class DeviceHub extends DurableObject<Env> {
  private readonly commands: CommandQueue;
  private readonly metricHistory: MetricHistory;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, DEVICE_SCHEMA);
    this.commands = new CommandQueue(ctx.storage.sql);
    this.metricHistory = new MetricHistory(ctx.storage.sql);
  }

  // State is read from the synchronous KV store on each call (it is cached by the runtime),
  // so tests and restarts see exactly what is durable.
  private get state(): DeviceState | undefined {
    return this.ctx.storage.kv.get<DeviceState>(STATE_KEY);
  }

  private save(s: DeviceState): void {
    this.ctx.storage.kv.put(STATE_KEY, s);
  }

  /** Registration and re-registration: (re)binds the identity and sets a new key. History is kept. */
  async provision(p: Provision): Promise<void> {
    const now = Date.now();
    const prev = this.state;
    const s: DeviceState = {
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
      version: (prev?.version ?? 0) + 1,
      flushedVersion: prev?.flushedVersion ?? 0,
      lastFlushAt: prev?.lastFlushAt ?? 0,
    };
    this.save(s);
    await this.schedule(now);
  }

  /** The device's identity when `keyHash` is its current key, else null. Counts as being seen. */
  async authenticate(keyHash: string): Promise<Identity | null> {
    const s = this.state;
    if (!s || s.keyHash === null || s.keyHash !== keyHash) return null;
    const now = Date.now();
    s.lastSeenAt = now;
    s.version++;
    this.save(s);
    await this.schedule(now);
    return { deviceId: s.deviceId, orgId: s.orgId, projectId: s.projectId };
  }

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
    if (effectiveStatus(s) !== before) await this.flush(now);
    await this.schedule(now);
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
    };
  }

  /** An operator's status: maintenance holds until set back to online. Offline stays offline. */
  async setOperatorStatus(status: "maintenance" | "online"): Promise<Presence | null> {
    const now = Date.now();
    const s = this.requireState();
    s.maintenance = status === "maintenance";
    s.version++;
    this.save(s);
    await this.flush(now);
    return this.presence();
  }

  /** The key stops working at once; queued commands can no longer be delivered. */
  async decommission(): Promise<void> {
    const s = this.state;
    if (!s) return;
    s.keyHash = null;
    s.offline = true;
    s.version++;
    this.save(s);
    await this.flush(Date.now());
    await this.ctx.storage.deleteAlarm();
  }

  async metrics(from: number, to: number, interval?: MetricInterval) {
    const chosen = MetricHistory.fitInterval(from, to, interval);
    return { interval: chosen, points: this.metricHistory.query(from, to, chosen) };
  }

  async queueCommand(command: string, params: unknown, ttlMs: number): Promise<CommandRow> {
    const now = Date.now();
    const row = this.commands.queue(newId("cmd", now), command, params, ttlMs, now);
    await this.schedule(now);
    return row;
  }

  /** The device's poll: every queued command, now marked delivered. */
  async pollCommands(limit = 100): Promise<CommandRow[]> {
    const now = Date.now();
    this.commands.expire(now);
    return this.commands.deliver(now, limit);
  }

  async ackCommand(id: string, status: AckStatus, result: unknown): Promise<AckOutcome> {
    const now = Date.now();
    this.commands.expire(now);
    return this.commands.ack(id, status, result, now);
  }

  async commandHistory(limit: number, before?: string): Promise<CommandRow[]> {
    this.commands.expire(Date.now());
    return this.commands.history(limit, before);
  }

  async getCommand(id: string): Promise<CommandRow | null> {
    this.commands.expire(Date.now());
    return this.commands.get(id) ?? null;
  }

  /** One alarm serves every timer: the offline deadline, the registry flush and command expiry. */
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
      await this.flush(now);
    } else if (s.version > s.flushedVersion && now >= s.lastFlushAt + REGISTRY_FLUSH_MS) {
      await this.flush(now);
    }
    if (now >= (this.ctx.storage.kv.get<number>("metrics_pruned_at") ?? 0) + PRUNE_EVERY_MS) {
      this.metricHistory.prune(now);
      this.ctx.storage.kv.put("metrics_pruned_at", now);
    }
    await this.schedule(now);
  }

  private requireState(): DeviceState {
    const s = this.state;
    if (!s) throw new Error("device is not provisioned");
    return s;
  }

  /**
   * Writes presence to the D1 registry. The version guard makes a late, slower write lose
   * to a newer one. A failed write leaves the state dirty for the next alarm to retry.
   */
  private async flush(now: number): Promise<void> {
    const s = this.state;
    if (!s) return;
    const version = s.version;
    try {
      await this.env.DB.prepare(
        `UPDATE devices SET status = ?, last_seen_at = ?, last_heartbeat_at = ?, metrics = ?,
           current_session_id = ?, presence_version = ?
         WHERE id = ? AND presence_version < ?`,
      )
        .bind(
          effectiveStatus(s),
          s.lastSeenAt,
          s.lastHeartbeatAt,
          s.metrics ? JSON.stringify(s.metrics) : null,
          s.currentSessionId,
          version,
          s.deviceId,
          version,
        )
        .run();
    } catch (err) {
      console.error("registry flush failed; retrying at the next alarm", err);
      return;
    }
    const latest = this.requireState();
    latest.flushedVersion = Math.max(latest.flushedVersion, version);
    latest.lastFlushAt = now;
    this.save(latest);
  }

  private async schedule(now: number): Promise<void> {
    const s = this.state;
    const times: number[] = [];
    const deadline = s ? offlineDeadline(s) : null;
    if (deadline !== null) times.push(deadline);
    if (s && s.version > s.flushedVersion) times.push(Math.max(now, s.lastFlushAt + REGISTRY_FLUSH_MS));
    const expiry = this.commands.nextExpiry();
    if (expiry !== null) times.push(expiry);
    if (times.length === 0) return;
    const next = Math.min(...times);
    const current = await this.ctx.storage.getAlarm();
    if (current !== next) await this.ctx.storage.setAlarm(next);
  }
}
