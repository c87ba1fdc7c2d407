// The fleet's live picture, kept where the devices' reports arrive, and the one writer of their
// status transitions to D1.
//
// A device's object reports a transition (its status or current session changed) at once
// (device-hub/presence.ts): one row here, `presence(device_id, report, seq)`, replaced by the
// device's next one. Each delivery of counts also brings the device's presence as of then
// (last seen, metrics): it is kept in the sender's intake row, which the delivery writes anyway
// (../intake.ts), so it costs no row; a transition it shows that no report brought (one lost
// with the device's memory) is recorded then. A fan-in object passes on what its devices said with its
// own deliveries. The picture is the newest report of each device, whichever way it came.
//
// D1 hears of transitions as one row per project (src/db/repos/devices.ts, project_statuses):
// the status of every device that has reported one, with the moment it changed, rewritten a minute after the first
// transition it carries and at most once per PRESENCE_D1.everyMs. However many devices change,
// and however often, a project costs D1 at most one row a minute. What is written is remembered
// by one key-value row (the highest sequence written), not a row per device.
//
// A safety net replaces the hourly sweep of D1: a device the picture shows online (or in error)
// that has reported nothing for SILENT_MS is asked to check its own deadline (its alarm may
// have been lost), at most SWEEP_MAX a run, once an hour.
import type { DeviceStatus, PresenceReport, StatusCounts } from "../../src/contract/presence";
import { DELIVERY } from "../../src/contract/usage";
import type { Db } from "../../src/db/client";
import { type StatusEntry, writeProjectStatuses } from "../../src/db/repos/devices";
import type { ObjectStorage } from "../storage";
import type { Timers } from "../timers";

/** Transitions go to D1 at most this often per project (an object, so tests can shorten it). */
export const PRESENCE_D1 = { everyMs: 60_000 };
/**
 * What has reached D1: transitions through this sequence, when the last batch went, and how many batches
 * there were.
 */
const MARK_KEY = "presence_d1";
/**
 * The safety net's round (an object, so tests can shorten it), and how long a device thought online may go
 * unheard before it is asked.
 */
export const PRESENCE_SWEEP = { everyMs: 3_600_000 };
const SILENT_MS = () => 3 * DELIVERY.everyMs;
const SWEEP_MAX = 50;
/** Devices whose presence one sender's intake row keeps (a fan-in object's share, with room to spare). */
const SEEN_PER_SENDER_MAX = 2_000;

interface Mark {
  through: number;
  at: number;
  batches: number;
}

/** A device's object, as this one calls it: the one method it needs (a typed stub would make an import cycle). */
type Sweepable = { sweep(): Promise<void> };

export class FleetPresence {
  /** The newest report of each device, however it came. */
  private readonly live = new Map<string, PresenceReport>();
  /** Each device's transition as its `presence` row holds it, and the row's sequence. */
  private readonly stored = new Map<string, { report: PresenceReport; seq: number }>();
  /** What each sender's intake row holds of its devices (what its next row write keeps). */
  private readonly bySender = new Map<string, Record<string, PresenceReport>>();
  private seq = 0;
  /** Devices whose picture is not offline. */
  private notOffline = 0;
  private mark: Mark;
  private pendingD1 = 0;
  /** Since when transitions wait for D1 (memory only: after a restart, since the start). */
  private pendingSince = 0;
  private sweptAt: number;

  constructor(
    private readonly storage: ObjectStorage,
    private readonly db: Db,
    /** The project this object is, for D1's rows (undefined for an org's own hub). */
    private readonly projectId: () => string | undefined,
    /** A device's object, for the safety net. */
    private readonly device: (deviceId: string) => Sweepable,
    seenRows: { sender: string; seen: string }[],
    timers: Timers,
  ) {
    this.mark = storage.kv.get<Mark>(MARK_KEY) ?? { through: 0, at: 0, batches: 0 };
    for (const row of storage.sql.exec<{ device_id: string; report: string; seq: number }>(
      "SELECT device_id, report, seq FROM presence",
    )) {
      const report = JSON.parse(row.report) as PresenceReport;
      this.stored.set(row.device_id, { report, seq: row.seq });
      this.see(row.device_id, report);
      this.seq = Math.max(this.seq, row.seq);
      if (row.seq > this.mark.through) this.pendingD1++;
    }
    for (const row of seenRows) {
      const seen = JSON.parse(row.seen) as Record<string, PresenceReport>;
      this.bySender.set(row.sender, seen);
      for (const [id, r] of Object.entries(seen)) this.see(id, r);
    }
    this.sweptAt = this.pendingSince = Date.now();
    // A batch goes a minute after the first transition it carries, and a minute after the batch before.
    timers.add({
      name: "transitions to D1",
      due: () => (this.pendingD1 > 0 ? Math.max(this.pendingSince, this.mark.at) + PRESENCE_D1.everyMs : null),
      fire: (now) => this.writeD1(now),
    });
    timers.add({
      name: "presence safety net",
      due: () => (this.notOffline > 0 ? this.sweptAt + PRESENCE_SWEEP.everyMs : null),
      fire: (now) => this.sweep(now),
    });
  }

  /** Keeps `r` as the device's picture if it is newer than what is kept. */
  private see(deviceId: string, r: PresenceReport): void {
    const had = this.live.get(deviceId);
    if (had && had.at > r.at) return;
    this.live.set(deviceId, r);
    this.notOffline += (r.status !== "offline" ? 1 : 0) - (had && had.status !== "offline" ? 1 : 0);
  }

  /**
   * A device's transition: kept in its row (one row written) unless the row holds it already
   * (a report sent again after a crash) or a newer one; D1 hears of it with the next batch.
   */
  report(deviceId: string, r: PresenceReport): void {
    this.see(deviceId, r);
    const had = this.stored.get(deviceId)?.report;
    if (had && (had.version >= r.version || sameTransition(had, r))) return;
    const seq = ++this.seq;
    this.storage.sql.exec(
      "INSERT INTO presence (device_id, report, seq) VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET report = excluded.report, seq = excluded.seq",
      deviceId,
      JSON.stringify(r),
      seq,
    );
    const before = this.stored.get(deviceId);
    this.stored.set(deviceId, { report: r, seq });
    if (!before || before.seq <= this.mark.through) {
      if (this.pendingD1 === 0) this.pendingSince = Date.now();
      this.pendingD1++;
    }
  }

  /**
   * What a delivery said of its sender's devices: kept in the picture, and answered as the JSON
   * the sender's intake row keeps (written with the delivery's counts, if it brings any). A
   * transition the project does not hold yet (its report was lost with the device's memory) is
   * recorded as if reported.
   */
  heard(sender: string, seen: Record<string, PresenceReport>): string {
    const kept = { ...this.bySender.get(sender) };
    for (const [id, r] of Object.entries(seen)) {
      this.report(id, r);
      if (!kept[id] || kept[id].at <= r.at) kept[id] = r;
    }
    const ids = Object.keys(kept);
    if (ids.length > SEEN_PER_SENDER_MAX) {
      ids.sort((a, b) => kept[a]!.at - kept[b]!.at);
      for (const id of ids.slice(0, ids.length - SEEN_PER_SENDER_MAX)) delete kept[id];
    }
    this.bySender.set(sender, kept);
    return JSON.stringify(kept);
  }

  /**
   * The live presence of these devices, those it knows (the others never reported: D1 has them
   * as registered); their sparklines only when asked (the fleet list draws them, a scrape does not).
   */
  of(ids: readonly string[], sparklines = false): Record<string, PresenceReport> {
    const out: Record<string, PresenceReport> = {};
    for (const id of ids) {
      const r = this.live.get(id);
      if (!r) continue;
      if (sparklines || !r.sparklines) out[id] = r;
      else {
        const { sparklines: _, ...rest } = r;
        out[id] = rest;
      }
    }
    return out;
  }

  /**
   * GET /fleet/summary's counts: the devices of each group (an environment, as D1 has them) by
   * their status in the picture, or as registered (`registered`, else offline) for one that never
   * reported; and those of them in `alerting`, beside their status.
   */
  count(
    groups: Record<string, readonly string[]>,
    registered: Record<string, DeviceStatus>,
    alerting: ReadonlySet<string>,
  ): Record<string, StatusCounts> {
    const out: Record<string, StatusCounts> = {};
    for (const [group, ids] of Object.entries(groups)) {
      const c: StatusCounts = { online: 0, offline: 0, maintenance: 0, error: 0, alerting: 0 };
      for (const id of ids) {
        c[this.live.get(id)?.status ?? (Object.hasOwn(registered, id) ? registered[id]! : "offline")]++;
        if (alerting.has(id)) c.alerting++;
      }
      out[group] = c;
    }
    return out;
  }

  /** Devices not offline now, as their reports have it. */
  active(): number {
    return this.notOffline;
  }

  /** How many batches of transitions have gone to D1, and through which sequence. */
  get written(): Readonly<Mark> {
    return this.mark;
  }

  /** The project's statuses to D1: every device's latest transition, in one row. */
  private async writeD1(now: number): Promise<void> {
    const projectId = this.projectId();
    if (!projectId) {
      // An org's own hub has no devices of its own: nothing to write, and nothing to wait for.
      this.pendingD1 = 0;
      return;
    }
    if (this.pendingD1 === 0) return;
    const through = this.seq;
    const statuses: Record<string, StatusEntry> = {};
    for (const [id, { report }] of this.stored) statuses[id] = [report.status, report.status_changed_at];
    await writeProjectStatuses(this.db, projectId, statuses, now);
    this.mark = { through, at: now, batches: this.mark.batches + 1 };
    this.storage.kv.put(MARK_KEY, this.mark);
    this.pendingD1 = 0;
    // Transitions that came while D1 was written wait for the next row.
    for (const s of this.stored.values()) if (s.seq > through) this.pendingD1++;
    this.pendingSince = now;
  }

  /** Asks devices thought online but unheard for SILENT_MS to check themselves. */
  private async sweep(now: number): Promise<void> {
    this.sweptAt = now;
    const silent: string[] = [];
    for (const [id, r] of this.live) {
      if ((r.status === "online" || r.status === "error") && r.at < now - SILENT_MS()) silent.push(id);
      if (silent.length >= SWEEP_MAX) break;
    }
    const outcomes = await Promise.allSettled(silent.map((id) => this.device(id).sweep()));
    for (const o of outcomes)
      if (o.status === "rejected")
        console.error("a device did not answer the presence safety net; the next round asks again", o.reason);
  }
}

const sameTransition = (a: PresenceReport, b: PresenceReport) =>
  a.status === b.status && a.status_changed_at === b.status_changed_at && a.current_session_id === b.current_session_id;
