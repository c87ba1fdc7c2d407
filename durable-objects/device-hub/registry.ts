// The device's rows in the D1 registry: its presence and its sessions. D1 gets a write at
// once for what people must see at once (a status change, a session opened or ended), and
// otherwise at most one per REGISTRY_FLUSH_MS: a device whose status does not change costs D1
// a row an hour, however often it heartbeats (its live presence is read from its object).
// Every write carries a version and D1 keeps only newer ones, so a slow write never undoes a
// newer one. A failed write leaves the rows dirty for the alarm to retry.
import type { Db } from "../../src/db/client";
import { updateSessions } from "../../src/db/repos/sessions";
import { writePresence } from "../../src/db/repos/devices";
import type { SessionRow, SessionStore } from "./sessions";
import { type DeviceStateStore, effectiveStatus } from "./state";
import type { Timers } from "../timers";

/** The D1 registry gets at most one write per device per this long, plus one per urgent change. */
const REGISTRY_FLUSH_MS = 3_600_000;
/** Sessions written to D1 in one batch. */
const SESSION_BATCH = 50;

export class Registry {
  /** A session was opened or ended: D1 should know before the request answers. */
  private sessionsUrgent = false;

  constructor(
    private readonly db: Db,
    private readonly state: DeviceStateStore,
    private readonly sessions: SessionStore,
    timers: Timers,
  ) {
    timers.add({ name: "registry flush", due: (now) => this.due(now), fire: (now) => this.flush(now) });
  }

  get urgent(): boolean {
    return this.state.urgent || this.sessionsUrgent;
  }

  /** A session ended: D1 hears of it now (its row records it as told; a failure marks it to tell again). */
  async sessionEnded(row: SessionRow): Promise<void> {
    try {
      await updateSessions(this.db, this.state.require(), [row]);
    } catch (err) {
      console.error("telling D1 of an ended session failed; the alarm retries", err);
      this.sessions.notFlushed(row.session_id);
      this.sessionsUrgent = true;
    }
  }

  private dirty(): boolean {
    const s = this.state.current;
    return s !== undefined && (s.version > s.flushedVersion || this.sessions.anyUnflushed());
  }

  private due(now: number): number | null {
    const s = this.state.current;
    if (!s || !this.dirty()) return null;
    return this.urgent ? now : Math.max(now, s.lastFlushAt + REGISTRY_FLUSH_MS);
  }

  /** Writes what is waiting now, within a request: a failure is logged and left to the alarm. */
  async flushNow(): Promise<void> {
    try {
      await this.flush(Date.now());
    } catch (err) {
      console.error("registry flush failed; the alarm retries", err);
    }
  }

  /** Sessions, then presence. Throws when D1 could not be written. */
  async flush(now: number): Promise<void> {
    await this.flushSessions();
    await this.flushPresence(now);
  }

  /** Sessions' counters and status to D1 (each id was claimed there when it was first named). */
  private async flushSessions(): Promise<void> {
    const s = this.state.require();
    const rows = this.sessions.unflushed(SESSION_BATCH);
    if (rows.length > 0) await updateSessions(this.db, s, rows);
    this.sessions.markFlushed(rows);
    this.sessionsUrgent = false;
  }

  private async flushPresence(now: number): Promise<void> {
    const s = this.state.current;
    if (!s) return;
    if (s.version > s.flushedVersion) {
      await writePresence(this.db, {
      deviceId: s.deviceId,
      status: effectiveStatus(s),
      lastSeenAt: s.lastSeenAt,
      lastHeartbeatAt: s.lastHeartbeatAt,
      metrics: s.metrics,
      currentSessionId: s.currentSessionId,
      lastLogAt: s.lastLogAt,
      version: s.version,
      });
      this.state.flushed(s.version, now);
    }
    this.state.urgent = false;
  }
}
