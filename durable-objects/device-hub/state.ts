// What a DeviceHub remembers about its device between requests, the rules that turn it into
// the status people see, and the one way it changes.
//
// The state is one key-value row. It is also where the device's small, frequent changes meet,
// so that an event writes one row however much it changes: presence, the usage owed to the
// project (owed.ts), sessions' counters not yet folded into their rows, the current hour of
// metric minutes, the chunk lines are appended to. Changes are made in memory (update) and
// written once, at the end of the event (save), inside the transaction of the work they go
// with. A change may also be left unsaved on purpose (the device socket's heartbeats, which
// the socket's attachment carries until the next save; see socket.ts).
import type { DeviceStatus, Identity, Presence, PresenceReport, ReportedStatus } from "../../src/contract/presence";
import type { Tier } from "../../src/contract/tiers";
import type { MetricHour } from "./metrics";
import type { Owed } from "./owed";
import type { SessionActivity } from "./sessions";

/** What registering binds a device's object to: its identity, its key, and the settings it runs by. */
export type Provisioning = Identity & {
  keyHash: string;
  heartbeatIntervalMs: number;
  hotWindowDays: number;
  tier: Tier;
  deviceType?: string | null;
};

export interface DeviceState extends Identity {
  /** SHA-256 of the device key; null once decommissioned, so the key stops at once. */
  keyHash: string | null;
  heartbeatIntervalMs: number;
  /** The org's tier's hot retention when last heard (at registration, then from the project); unset: not yet. */
  hotWindowDays?: number;
  /**
   * The org's tier when last heard (at registration, then from the project), for the device's rate limit;
   * unset: not yet.
   */
  tier?: Tier;
  /** The tier's archive retention when last heard from the project; unset: not yet. */
  archiveDays?: number;
  reportedStatus: ReportedStatus;
  /** Set by an operator (PATCH status: maintenance); outranks what the device reports, and offline. */
  maintenance: boolean;
  /** Set by the alarm after MISSED_HEARTBEATS intervals without a heartbeat. */
  offline: boolean;
  /**
   * When the status people see last changed (ms); unset for a device whose object has not seen a change since
   * it was kept.
   */
  statusChangedAt?: number;
  lastHeartbeatAt: number | null;
  lastSeenAt: number | null;
  metrics: Record<string, number> | null;
  currentSessionId: string | null;
  /** Receipt time (ms) of the latest log batch. */
  lastLogAt: number | null;
  /** Set at registration (alert rules may filter by it); unset for devices registered before it was kept. */
  deviceType?: string | null;
  /** Bumped on every change of presence; D1 keeps the highest version the project wrote. */
  version: number;
  /** What the project is owed (owed.ts). */
  owed?: Owed;
  /** Per session: lines, errors and warnings counted and not yet added to its row (sessions.ts). */
  sessionCounts?: Record<string, [number, number, number]>;
  /**
   * When the active sessions were last named, for their timeout (sessions.ts); unset for a device from before
   * it was kept.
   */
  sessionActivity?: SessionActivity;
  /**
   * The latest batches counted for their sessions, by their lines' ids (first, last), saved with
   * those counts: a retried batch the shard stored but this object never counted (it was evicted
   * between the two) is counted when its range is missing. Batches with lines before `since` were
   * counted before this was kept. Unset for a device that has not counted a session batch since.
   */
  sessionBatches?: { since: number; ranges: [number, number][] };
  /** The chunk new lines are appended to, and the id the next line gets (chunks.ts). */
  openChunk?: number | null;
  nextLineId?: number;
  /** The current hour's metric minutes (metrics.ts). */
  metricHour?: MetricHour | null;
  /** Storage rows this object had written as of this state's last save (storage.ts). */
  rowsWritten?: number;
  /** Until when (ms) the device is live: someone watches it (DeviceHub.watch). */
  liveUntil?: number;
  /** When the retention work last ran (retention.ts). */
  prunedAt?: number;
  /**
   * The archive's bytes in R2 as last counted to the project (DeviceHub.countArchiveBytes); unset before the
   * first count.
   */
  archiveBytesCounted?: number;
}

/** A device's transition as its project hears of it (presence.ts): a status, its moment and the current session. */
export interface Told {
  status: DeviceStatus;
  at: number | null;
  session: string | null;
}

export const MISSED_HEARTBEATS = 3;

/** An operator's maintenance outranks everything (it is why the device may be silent). */
export function effectiveStatus(s: DeviceState): DeviceStatus {
  if (s.maintenance) return "maintenance";
  if (s.offline || s.lastHeartbeatAt === null) return "offline";
  return s.reportedStatus;
}

/** When the device goes offline without another heartbeat; `silenceMs` stretches it while its socket is open. */
export function offlineDeadline(s: DeviceState, silenceMs = 0): number | null {
  if (s.offline || s.lastHeartbeatAt === null) return null;
  return s.lastHeartbeatAt + Math.max(MISSED_HEARTBEATS * s.heartbeatIntervalMs, silenceMs);
}

export function presenceOf(s: DeviceState): Presence {
  return {
    status: effectiveStatus(s),
    status_changed_at: s.statusChangedAt ?? null,
    last_seen_at: s.lastSeenAt,
    last_heartbeat_at: s.lastHeartbeatAt,
    metrics: s.metrics,
    current_session_id: s.currentSessionId,
    last_log_at: s.lastLogAt,
  };
}

/** The device's presence as it reports it to the project, made `at`. */
export function reportOf(s: DeviceState, at: number): PresenceReport {
  return { ...presenceOf(s), version: s.version, at };
}

/** The transition as the project should know it now. */
export function toldOf(s: DeviceState): Told {
  return { status: effectiveStatus(s), at: s.statusChangedAt ?? null, session: s.currentSessionId };
}

const STATE_KEY = "device";
const RETIRED_KEY = "retired";

type Kv = Pick<SyncKvStorage, "get" | "put">;

/**
 * The device's state in its object's key-value store, kept in memory beside it (this class is
 * its only writer). Every change of presence goes through update(), which bumps the version D1
 * compares and stamps the moment the status people see changes. Nothing is written until save().
 */
export class DeviceStateStore {
  /** Changes in memory that are not saved yet. */
  private dirty = false;

  constructor(
    private readonly kv: Kv,
    /** The object's storage rows written in this life, for the total kept in the state. */
    private readonly rowsThisLife: () => number,
    /** Hears that the state was written (what waited in memory for a save is in it now). */
    private readonly onSaved: () => void = () => {},
  ) {}

  /**
   * What the KV store holds, read once per object life and then kept beside every write this
   * class makes. Reading KV on every call cost ~0.8 ms per request in a CPU profile.
   */
  private kept?: { state: DeviceState | undefined; retired: boolean; rowsBase: number };

  private get stored() {
    if (!this.kept) {
      const state = this.kv.get<DeviceState>(STATE_KEY);
      this.kept = {
        state,
        retired: this.kv.get<boolean>(RETIRED_KEY) === true,
        rowsBase: (state?.rowsWritten ?? 0) - this.rowsThisLife(),
      };
    }
    return this.kept;
  }

  /**
   * Drops what is kept, after a transaction that wrote through this class rolled back, or a write from
   * outside (tests).
   */
  forget(): void {
    this.kept = undefined;
    this.dirty = false;
  }

  /** A copy of the state in memory and whether it was saved, to go back to (restore). */
  snapshot(): { state: DeviceState | undefined; dirty: boolean } {
    return { state: structuredClone(this.stored.state), dirty: this.dirty };
  }

  /** Goes back to a snapshot: after a transaction that changed the state rolled back. */
  restore(snapshot: { state: DeviceState | undefined; dirty: boolean }): void {
    this.stored.state = snapshot.state;
    this.dirty = snapshot.dirty;
  }

  /** Whether there are changes to save. */
  get unsaved(): boolean {
    return this.dirty;
  }

  get current(): DeviceState | undefined {
    const { state, retired } = this.stored;
    return retired ? undefined : state;
  }

  require(): DeviceState {
    const s = this.current;
    if (!s) throw new Error("device is not provisioned");
    return s;
  }

  /**
   * A change of presence (status, last seen, sessions): bumps the version D1 compares; a new status is
   * stamped `at`.
   */
  update(change: (s: DeviceState) => void, at = Date.now()): DeviceState {
    const s = this.require();
    const before = effectiveStatus(s);
    change(s);
    s.version++;
    if (effectiveStatus(s) !== before) s.statusChangedAt = at;
    this.dirty = true;
    return s;
  }

  /** A change of what only this object reads (counts owed, chunk pointers, metrics): no version bump. */
  note(change: (s: DeviceState) => void): DeviceState {
    const s = this.require();
    change(s);
    this.dirty = true;
    return s;
  }

  /** Marks the state as changed: what waited in memory (noteLazily) is written with the next save. */
  touch(): void {
    if (this.current) this.dirty = true;
  }

  /** Writes the state when it changed: one row, whatever changed. */
  save(): void {
    const s = this.current;
    if (!this.dirty || !s) return;
    // The row about to be written counts itself.
    s.rowsWritten = this.rowsWritten + 1;
    this.kv.put(STATE_KEY, s);
    this.dirty = false;
    this.onSaved();
  }

  /** Rows written by this object since it was first provisioned, as far as its saves have kept. */
  get rowsWritten(): number {
    return this.stored.rowsBase + this.rowsThisLife();
  }

  /** (Re)binds the device to an identity and a key, keeping everything else it knew. Saved at once. */
  provision(p: Provisioning, now: number): void {
    const prev = this.stored.state;
    this.stored.state = {
      reportedStatus: "online",
      maintenance: false,
      offline: true,
      lastHeartbeatAt: null,
      metrics: null,
      currentSessionId: null,
      lastLogAt: null,
      // A new device has archived nothing; one from before the archive was counted this way keeps it unset
      // (see countArchiveBytes).
      ...(prev
        ? {}
        : {
            archiveBytesCounted: 0,
            sessionBatches: { since: 0, ranges: [] },
            sessionActivity: { seen: {}, spilled: null },
          }),
      ...prev,
      ...p,
      lastSeenAt: now,
      version: (prev?.version ?? 0) + 1,
    } satisfies DeviceState;
    this.dirty = true;
    this.save();
  }

  /** The device's project was deleted: from now on the object acts for nobody. */
  get retired(): boolean {
    return this.stored.retired;
  }

  retire(): void {
    this.kv.put(RETIRED_KEY, true);
    this.stored.retired = true;
  }

  /**
   * A change that may wait for the next save rather than cost one of its own: losing it to an
   * eviction only repeats work that is idempotent (telling the project a transition again, resending a
   * delivery the project ignores).
   */
  noteLazily(change: (s: DeviceState) => void): void {
    const s = this.current;
    if (s) change(s);
  }
}
