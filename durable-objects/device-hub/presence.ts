// What the device's project hears of its presence and of its sessions. A
// transition (the status people see, or the current session) goes to the project's object at
// once, before the request that made it answers; the project keeps the fleet's live picture and
// writes the statuses to D1 as one row per project at most once a minute
// (../project-hub/presence.ts). Everything else (last seen, metrics) rides with the device's
// next delivery of counts (delivery.ts), so a steady heartbeat reaches neither D1 nor the
// project on its own. A session's end is control plane: the project's object (which keeps the
// project's sessions, ../project-hub/sessions.ts) hears of it at once, with its counts.
//
// What the project last acknowledged is kept in memory only, so a transition costs no row
// besides the state's own: a report that fails is retried by the alarm, and one lost with the
// object's memory (an eviction before the retry) reaches the project with the device's next
// delivery, whose presence the project compares with the transition it holds.
//
// Every report also carries the device's sparklines (its last hour of battery and CPU, from its
// metric history, metrics.ts), computed when it is made: they ride in the rows the project
// writes anyway (the transition's presence row, the delivery's intake row), so they cost reads here
// and no row anywhere.

import type { PresenceReport, Sparklines } from "../../src/contract/presence";
import type { SessionUpsert } from "../../src/contract/sessions";
import { projectHub } from "../../src/stubs/project-hub";
import type { Timers } from "../timers";
import type { SessionRow, SessionStore } from "./sessions";
import { type DeviceStateStore, reportOf, type Told, toldOf } from "./state";

/** Ended sessions sent to the project's object in one call. */
const SESSION_BATCH = 50;
/** What a device nobody told anything yet is: offline, as registered (in D1 too). */
const REGISTERED: Told = { status: "offline", at: null, session: null };

/** What the project keeps of a session row. */
const upsertOf = (r: SessionRow): SessionUpsert => ({
  session_id: r.session_id,
  name: r.name,
  status: r.status,
  started_at: r.started_at,
  completed_at: r.completed_at,
  total_logs: r.total_logs,
  error_count: r.error_count,
  warning_count: r.warning_count,
  version: r.version,
});

export class PresenceReports {
  /**
   * Ended sessions the project may not have heard of: looked up once per object life, and set when telling it
   * fails.
   */
  private untoldSessions?: boolean;
  /**
   * The transition the project last acknowledged, as far as this object's life knows: at its start, the one
   * it woke with.
   */
  private told: Told;

  constructor(
    private readonly env: Env,
    private readonly state: DeviceStateStore,
    private readonly sessions: SessionStore,
    timers: Timers,
    /** The device's sparklines as of a moment (metrics.ts MetricHistory.sparklines). */
    private readonly sparklines: (at: number) => Sparklines | undefined = () => undefined,
  ) {
    const s = state.current;
    this.told = s ? toldOf(s) : REGISTERED;
    timers.add({ name: "presence report", due: (now) => (this.pending ? now : null), fire: (now) => this.send(now) });
    timers.add({
      name: "ended sessions",
      due: (now) => (this.anyUntold() ? now : null),
      fire: () => this.tellSessions(),
    });
  }

  private anyUntold(): boolean {
    if (!this.state.current) return false;
    return (this.untoldSessions ??= this.sessions.untold(1).length > 0);
  }

  /** Whether the project has not heard the device's latest transition. */
  get pending(): boolean {
    const s = this.state.current;
    if (!s) return false;
    const now = toldOf(s);
    return this.told.status !== now.status || this.told.at !== now.at || this.told.session !== now.session;
  }

  /** The presence the device's next delivery carries (no transition: last seen, metrics). */
  snapshot(): PresenceReport | undefined {
    const s = this.state.current;
    return s && this.reportOf(s, Date.now());
  }

  /** The report the project gets: the presence, with the sparklines as of `at`. */
  private reportOf(s: NonNullable<DeviceStateStore["current"]>, at: number): PresenceReport {
    const sparklines = this.sparklines(at);
    return { ...reportOf(s, at), ...(sparklines ? { sparklines } : {}) };
  }

  /** Tells the project now, within a request: a failure is logged and left to the alarm. */
  async sendNow(): Promise<void> {
    if (!this.pending) return;
    try {
      await this.send(Date.now());
    } catch (err) {
      console.error("reporting a transition to the project failed; the alarm retries", err);
    }
  }

  /** Reports the latest transition to the project. Throws when the project could not be reached. */
  private async send(now: number): Promise<void> {
    const s = this.state.current;
    if (!s || !this.pending) return;
    const told = toldOf(s);
    await projectHub(this.env, s.projectId).reportPresence(s.deviceId, this.reportOf(s, now));
    this.told = told;
  }

  /**
   * A session ended (or a timed-out one reopened): the project hears of it now (its row records it as told; a
   * failure marks it to tell again).
   */
  async sessionChanged(row: SessionRow): Promise<void> {
    const s = this.state.require();
    try {
      await projectHub(this.env, s.projectId).updateSessions(s.deviceId, [upsertOf(row)]);
    } catch (err) {
      console.error("telling the project of an ended or reopened session failed; the alarm retries", err);
      this.sessions.notFlushed(row.session_id);
      this.untoldSessions = true;
    }
  }

  private async tellSessions(): Promise<void> {
    const s = this.state.require();
    const rows = this.sessions.untold(SESSION_BATCH);
    if (rows.length > 0) await projectHub(this.env, s.projectId).updateSessions(s.deviceId, rows.map(upsertOf));
    this.sessions.markFlushed(rows);
    this.untoldSessions = rows.length === SESSION_BATCH;
  }
}
