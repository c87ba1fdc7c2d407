// What a DeviceHub remembers about its device between requests, the rules that turn it into
// the status people see, and the one way it changes.
import type { DeviceStatus, Identity, Presence, ReportedStatus } from "../../src/contract/presence";

export interface DeviceState extends Identity {
  /** SHA-256 of the device key; null once decommissioned, so the key stops at once. */
  keyHash: string | null;
  heartbeatIntervalMs: number;
  /** The org's tier's hot retention when last heard (at registration, then from the project); unset: not yet. */
  hotWindowDays?: number;
  /** The tier's archive retention when last heard from the project; unset: not yet. */
  archiveDays?: number;
  reportedStatus: ReportedStatus;
  /** Set by an operator (PATCH status: maintenance); outranks what the device reports, and offline. */
  maintenance: boolean;
  /** Set by the alarm after MISSED_HEARTBEATS intervals without a heartbeat. */
  offline: boolean;
  lastHeartbeatAt: number | null;
  lastSeenAt: number | null;
  metrics: Record<string, number> | null;
  currentSessionId: string | null;
  /** Receipt time (ms) of the latest log batch. */
  lastLogAt: number | null;
  /** Set at registration (alert rules may filter by it); unset for devices registered before it was kept. */
  deviceType?: string | null;
  /** Bumped on every change the D1 registry shows; D1 keeps the highest version it was sent. */
  version: number;
  flushedVersion: number;
  lastFlushAt: number;
}

export const MISSED_HEARTBEATS = 3;

/** An operator's maintenance outranks everything (it is why the device may be silent). */
export function effectiveStatus(s: DeviceState): DeviceStatus {
  if (s.maintenance) return "maintenance";
  if (s.offline || s.lastHeartbeatAt === null) return "offline";
  return s.reportedStatus;
}

export function offlineDeadline(s: DeviceState): number | null {
  if (s.offline || s.lastHeartbeatAt === null) return null;
  return s.lastHeartbeatAt + MISSED_HEARTBEATS * s.heartbeatIntervalMs;
}

export function presenceOf(s: DeviceState): Presence {
  return {
    status: effectiveStatus(s),
    last_seen_at: s.lastSeenAt,
    last_heartbeat_at: s.lastHeartbeatAt,
    metrics: s.metrics,
    current_session_id: s.currentSessionId,
    last_log_at: s.lastLogAt,
  };
}

const STATE_KEY = "device";
const RETIRED_KEY = "retired";

/**
 * The device's state in its object's key-value store. Every change the registry shows goes
 * through update(), which bumps the version D1 compares and marks the registry dirty; a change
 * people must see at once (the status, the current session) also marks it urgent.
 */
export class DeviceStateStore {
  /** A change waits that the registry should get before the request answers. */
  urgent = false;

  constructor(private readonly kv: DurableObjectStorage["kv"]) {}

  /**
   * What the KV store holds, read once per object life and then kept beside every write this
   * class makes (it is the only writer). Reading KV on every call cost ~0.8 ms per request in
   * a CPU profile. Callers get copies, so nothing changes the kept state but a write.
   */
  private kept?: { state: DeviceState | undefined; retired: boolean };

  private get stored() {
    return (this.kept ??= { state: this.kv.get<DeviceState>(STATE_KEY), retired: this.kv.get<boolean>(RETIRED_KEY) === true });
  }

  /** Drops what is kept, after a transaction that wrote through this class rolled back. */
  forget(): void {
    this.kept = undefined;
  }

  private write(s: DeviceState): void {
    this.kv.put(STATE_KEY, s);
    this.stored.state = { ...s };
  }

  get current(): DeviceState | undefined {
    const { state, retired } = this.stored;
    if (retired || !state) return undefined;
    // Fields added after an object was first provisioned start out empty.
    return { ...state, lastLogAt: state.lastLogAt ?? null };
  }

  require(): DeviceState {
    const s = this.current;
    if (!s) throw new Error("device is not provisioned");
    return s;
  }

  update(change: (s: DeviceState) => void, opts: { urgent?: boolean } = {}): DeviceState {
    const s = this.require();
    const before = effectiveStatus(s);
    const session = s.currentSessionId;
    change(s);
    s.version++;
    this.write(s);
    this.urgent ||= opts.urgent === true || effectiveStatus(s) !== before || s.currentSessionId !== session;
    return s;
  }

  /** (Re)binds the device to an identity and a key, keeping everything else it knew. */
  provision(p: Identity & { keyHash: string; heartbeatIntervalMs: number; hotWindowDays: number; deviceType?: string | null }, now: number): void {
    const prev = this.current;
    this.write({
      reportedStatus: "online",
      maintenance: false,
      offline: true,
      lastHeartbeatAt: null,
      metrics: null,
      currentSessionId: null,
      lastLogAt: null,
      flushedVersion: 0,
      lastFlushAt: 0,
      ...prev,
      ...p,
      lastSeenAt: now,
      version: (prev?.version ?? 0) + 1,
    } satisfies DeviceState);
  }

  /** The device's project was deleted: from now on the object acts for nobody. */
  get retired(): boolean {
    return this.stored.retired;
  }

  retire(): void {
    this.kv.put(RETIRED_KEY, true);
    this.stored.retired = true;
  }

  /** Records that D1 has seen `version`; not itself a change D1 needs to see. */
  flushed(version: number, at: number): void {
    const s = this.require();
    s.flushedVersion = Math.max(s.flushedVersion, version);
    s.lastFlushAt = at;
    this.write(s);
  }
}
