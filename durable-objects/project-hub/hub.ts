// ProjectHub: one Durable Object per project. It holds the project's exact usage counters
// (fed by each DeviceHub's outbox, directly or, past 1,000 active devices, through fan-in
// objects, and by its log shards), the live-tail tickets and the live-tail viewers. This class is its RPC surface; each concern is a part in this folder.
import { DurableObject } from "cloudflare:workers";
import type { LogView } from "../../src/contract/log-view";
import { TailFilter } from "../../src/contract/tail-filter";
import type { BucketMetric, BucketMinutes, BucketRow } from "../../src/contract/buckets";
import type { OutboxRow } from "../../src/contract/usage";
import { errorBody } from "../../src/contract/errors";
import { createDb } from "../../src/db/client";
import { findLiveKey } from "../../src/db/repos/keys";
import { migrate } from "../sql-migrations";
import { answerClose } from "../sockets";
import { Timers } from "../timers";
import { PROJECT_SCHEMA } from "./schema";
import { LiveTail } from "./tail";
import { type Coverage, Watchers, covers } from "./watchers";
import { type TicketHolder, Tickets } from "./tickets";
import type { QuotaGrant } from "../../src/contract/quota";
import type { TallyRow } from "../../src/contract/tallies";
import { clockNow } from "../../src/lib/clock";
import { addDays, utcDay } from "../../src/lib/time";
import type { ApiRecord } from "../../src/contract/api-records";
import { ApiStats } from "./api-stats";
import { TimeBuckets } from "./buckets";
import { Tops } from "./tops";
import { MonthlyQuota } from "./quota";
import { type Sealed, UsageCounts } from "./usage";
import { FanInRoute } from "./fan-in-route";
import { FAN_IN_SENDER } from "../../src/contract/fan-in";
import { isShard } from "../../src/contract/log-shards";
import type { DeliveryAnswer, DeviceDayRow } from "../../src/contract/fan-in";
import type { AlertReport, AlertRule } from "../../src/contract/alerts";
import { usageLimits } from "../../src/contract/tiers";
import { ProjectAlerts } from "./alerts";
import { CountedStorage } from "../storage";
import { OrgStorage, type StorageReport, StorageReporter } from "../org-storage";
import type { UsageCounters } from "../../src/contract/usage";
import type { PresenceReport } from "../../src/contract/presence";
import { FleetPresence } from "./presence";

/** At most this many recently delivering devices are told of new alert rules at once. */
const PUSH_RULES_TO = 100;

/**
 * A device's object, as this one calls it: the methods it needs. (A stub typed with the whole
 * DeviceHub class would make an import cycle, since devices call this class.)
 */
function deviceObject(env: Env, deviceId: string): { alertRulesChanged(version: number): Promise<void>; sweep(): Promise<void> } {
  const ns = env.DEVICE_HUB as unknown as DurableObjectNamespace;
  return ns.get(ns.idFromName(deviceId)) as unknown as { alertRulesChanged(version: number): Promise<void>; sweep(): Promise<void> };
}

/** The close code for a stream whose key was revoked or whose project was deleted. */
const CLOSE_REVOKED = 4001;

const refused = () => Response.json(errorBody("unauthorized", "ticket is unknown, used or expired"), { status: 401 });

export class ProjectHub extends DurableObject<Env> {
  private readonly timers: Timers;
  private readonly usageCounts: UsageCounts;
  private readonly tickets: Tickets;
  private readonly tail: LiveTail;
  private readonly watchers: Watchers;
  private readonly buckets: TimeBuckets;
  private readonly quota: MonthlyQuota;
  private readonly apiStats: ApiStats;
  private readonly tops: Tops;
  private readonly fanIn: FanInRoute;
  private readonly alerts: ProjectAlerts;
  /** A project's side of its org's storage figure, and (in an org's own hub) the figure. */
  private readonly storageReporter: StorageReporter;
  private readonly orgStorage: OrgStorage;
  private readonly presence: FleetPresence;
  /** Devices that delivered here directly, and when (memory only; see recentDevices). */
  private readonly lastDelivery = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Every part writes through it, so the rows this object writes are counted (storageRows).
    const storage = new CountedStorage(ctx.storage);
    migrate(storage, PROJECT_SCHEMA);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    this.timers = new Timers(storage);
    this.usageCounts = new UsageCounts(storage, this.timers, () => storage.rowsWritten);
    const unfolded = () => this.usageCounts.unfolded;
    this.tickets = new Tickets(storage.sql);
    this.tail = new LiveTail(ctx, storage.kv, this.timers);
    this.watchers = new Watchers(env, () => ctx.id.name);
    this.buckets = new TimeBuckets(storage.sql, unfolded);
    this.quota = new MonthlyQuota(storage, env, this.usageCounts);
    this.apiStats = new ApiStats(storage);
    this.tops = new Tops(storage.sql, (from, to) => this.usageCounts.between(from, to), unfolded);
    this.fanIn = new FanInRoute(env, {
      activeDevices: (day) => this.tops.activeSince(addDays(day, -1)),
      fanInSenders: () => this.usageCounts.fanInSenders(),
    });
    this.alerts = new ProjectAlerts(storage, env, this.timers);
    this.storageReporter = new StorageReporter(storage, this.timers, env, () => ctx.id.name!, () => this.usageCounts.storageBytes);
    this.orgStorage = new OrgStorage(storage, env, () => ctx.id.name!.slice("org:".length));
    this.presence = new FleetPresence(
      storage,
      createDb(env.DB),
      () => (ctx.id.name?.startsWith("org:") ? undefined : ctx.id.name),
      (deviceId) => deviceObject(env, deviceId),
      this.usageCounts.seenRows(),
      this.timers,
    );
  }

  /**
   * A device's delivery: its sealed outbox rows (applied at most once per sequence), its
   * presence as of then (kept in the row the counts write) and the lines just accepted, fanned
   * out to the viewers. Answers how many viewers are watching, the month's quota and the route
   * devices take next.
   */
  async deliver(
    deviceId: string,
    rows: OutboxRow[],
    lines: LogView[],
    dropped = 0,
    buckets: BucketRow[] = [],
    tallies: TallyRow[] = [],
    seen?: PresenceReport,
  ): Promise<DeliveryAnswer> {
    if (rows.length > 0) this.lastDelivery.set(deviceId, Date.now());
    return this.take(deviceId, { rows, buckets, tallies, ...(seen ? { seen: { [deviceId]: seen } } : {}) }, lines, dropped);
  }

  /** A device's transition (status or current session), at once: the live picture has it, D1 with the project's next batch. */
  async reportPresence(deviceId: string, report: PresenceReport): Promise<void> {
    this.presence.report(deviceId, report);
    await this.timers.arm();
  }

  /**
   * The live presence of these devices (those that ever reported; at most a page's worth), and
   * how many of the project's devices are not offline: one call for a fleet list, a scrape or a
   * stats read, however many devices.
   */
  async livePresence(ids: string[]): Promise<{ devices: Record<string, PresenceReport>; active: number }> {
    return { devices: this.presence.of(ids), active: this.presence.active() };
  }

  /**
   * The devices that delivered here within `withinMs`, when there are at most `max` of them
   * (else none): a stats read asks them to send what they still owe (services/fresh-counts.ts).
   */
  async recentDevices(withinMs: number, max: number): Promise<string[]> {
    // Read from the intake rows (each delivery records when it came), so a restart forgets none;
    // fan-in objects are senders too, but not devices.
    const recent = this.usageCounts.recentSenders(withinMs, max).filter((s) => !s.includes(FAN_IN_SENDER));
    return recent.length <= max ? recent : [];
  }


  /**
   * A fan-in object's delivery: what it gathered from its devices since its last one, under
   * its own sequences (its epochs), with each device's days, the storage rows the fan-in
   * object itself has written so far, and their lines for the tail.
   */
  async deliverFanIn(
    sender: string,
    sealed: { rows: OutboxRow[]; buckets: BucketRow[]; tallies: TallyRow[]; devices: DeviceDayRow[]; own_rows?: number; seen?: Record<string, PresenceReport> },
    lines: LogView[],
    dropped: number,
  ): Promise<DeliveryAnswer> {
    return this.take(sender, sealed, lines, dropped);
  }

  /**
   * A log shard's delivery (durable-objects/log-shard/counts.ts): the counts of its sequences
   * (from, through], applied only when `from` is the last sequence taken from it; with no
   * delivery, or another `from`, nothing is applied. Answers where the shard stands here
   * (`taken`) with the rest of a delivery's answer.
   */
  async deliverShard(
    sender: string,
    delivery: { from: number; through: number; rows: OutboxRow[]; buckets: BucketRow[]; tallies: TallyRow[]; devices: DeviceDayRow[] } | null,
  ): Promise<DeliveryAnswer & { taken: number }> {
    const last = this.usageCounts.lastOf(sender);
    const fits = delivery !== null && delivery.from === last && delivery.through > last && delivery.rows.length > 0;
    const answer = await this.take(sender, fits ? delivery : { rows: [] }, [], 0);
    return { ...answer, taken: fits ? delivery.through : last };
  }

  private async take(sender: string, sealed: Sealed & { seen?: Record<string, PresenceReport> }, lines: LogView[], dropped: number): Promise<DeliveryAnswer> {
    const now = clockNow();
    const day = utcDay(now);
    // What the sender said of its devices' presence goes in the row its counts write (kept in memory if they bring nothing fresh).
    const seen = sealed.seen && Object.keys(sealed.seen).length > 0 ? this.presence.heard(sender, sealed.seen) : undefined;
    if (sealed.rows.length > 0) {
      const fresh = await this.usageCounts.take(sender, sealed, now, seen);
      // Archived logs written or deleted: the org's storage figure follows, within seconds.
      if (fresh.some((r) => r.storage_bytes)) await this.storageReporter.changedSoon();
      if (fresh.length > 0 && this.alerts.judgesDeliveries) await this.evaluateAlerts(fresh, sealed.tallies ?? [], day, now);
    }
    if (lines.length > 0 || dropped > 0) {
      this.tail.offer(lines, dropped);
      await this.timers.arm();
    }
    return {
      viewers: this.tail.viewers,
      // A device delivering directly hears whether a viewer watches it (a fan-in object's devices go by `viewers`).
      ...(sender.includes(FAN_IN_SENDER) || isShard(sender) ? {} : { live: covers(this.tail.coverage(), sender) }),
      quota: await this.quota.current(day.slice(0, 7), now),
      fan_in: this.fanIn.count(day, now),
      alert_rules: this.alerts.version,
    };
  }

  /** Project-wide rules, on counts just applied (a retried delivery adds nothing here). */
  private async evaluateAlerts(fresh: OutboxRow[], tallies: TallyRow[], day: string, now: number): Promise<void> {
    const seqs = new Set(fresh.map((r) => r.seq));
    this.alerts.countErrors(
      fresh.reduce((n, r) => n + (r.error_lines ?? 0), 0),
      tallies.filter((t) => seqs.has(t.seq)),
      Date.now(),
    );
    await this.evaluateQuota(day, now, false);
    await this.timers.arm();
  }

  /** Quota rules, on the month's counters: after deliveries at most every few seconds, at once when storage changes. */
  private async evaluateQuota(day: string, now: number, force: boolean): Promise<void> {
    const orgId = this.alerts.orgId;
    if (!orgId || !this.alerts.quotaDue(now, force)) return;
    const tier = await this.quota.tierFor(orgId, now);
    this.alerts.checkQuota({ ...this.usageCounts.month(day.slice(0, 7)), storage_bytes: this.usageCounts.storageBytes }, usageLimits(tier), Date.now());
    await this.timers.arm();
  }

  // ---- alerts ---------------------------------------------------------------------------

  /** The routes changed the project's rules in D1: this is the whole set now. Answers the new version. */
  async setAlertRules(rules: AlertRule[]): Promise<number> {
    const version = this.alerts.setRules(rules, Date.now());
    await this.timers.arm();
    // Devices that delivered lately hear of it now; the rest with their next delivery's answer.
    const recent = [...this.lastDelivery.keys()].slice(0, PUSH_RULES_TO);
    this.ctx.waitUntil(Promise.allSettled(recent.map((id) => deviceObject(this.env, id).alertRulesChanged(version))));
    return version;
  }

  /** A device's object asks for the rules that concern it (its delivery's answer named a newer version). */
  async alertRulesFor(deviceId: string, deviceType: string | null): Promise<{ version: number; rules: AlertRule[] }> {
    return this.alerts.rulesFor(deviceId, deviceType);
  }

  /** A device's object reports a rule's condition starting or ending for it. */
  async reportAlert(report: AlertReport): Promise<void> {
    this.alerts.report(report, Date.now());
    await this.timers.arm();
  }

  /**
   * The Worker's batched API records for this project (or, in an org's own hub, for calls
   * that touch no project), and how many of them were org-key calls, by UTC day, for
   * api_calls. A batch sent again (its answer was lost) is applied once.
   */
  async recordApi(batchId: string, records: ApiRecord[], orgKeyCalls: Record<string, number>): Promise<void> {
    this.apiStats.record(batchId, records, Date.now(), () => {
      for (const [day, n] of Object.entries(orgKeyCalls)) this.usageCounts.addApiCalls(day, n);
    });
  }

  /** Totals and the top devices and modules of the days in [from, to] (YYYY-MM-DD). */
  async overview(from: string, to: string, limit: number): Promise<ReturnType<Tops["overview"]>> {
    return this.tops.overview(from, to, limit);
  }

  /** The top modules by errors and the most repeated error messages of the days in [from, to]. */
  async topErrors(from: string, to: string, limit: number): Promise<ReturnType<Tops["errors"]>> {
    return this.tops.errors(from, to, limit);
  }

  async apiHours(fromHour: number, toHour: number): Promise<ApiRecord[]> {
    return this.apiStats.read(fromHour, toHour);
  }

  /** A device close to the month's limit reserves its batch's lines here, one batch at a time. */
  async reserve(orgId: string, month: string, lineBytes: number[]): Promise<QuotaGrant> {
    return this.quota.reserve(orgId, month, lineBytes, clockNow());
  }

  /** Counters of one month (YYYY-MM), of one day (YYYY-MM-DD) and lifetime, by day of receipt. */
  async usage(month: string, day: string): Promise<ReturnType<UsageCounts["read"]>> {
    return this.usageCounts.read(month, day);
  }

  /** A file stored, replaced or deleted: storage follows at once, and the org's figure with it. */
  async addStorage(delta: number): Promise<number> {
    this.usageCounts.addStorage(delta);
    await this.storageReporter.changed();
    const now = clockNow();
    await this.evaluateQuota(utcDay(now), now, true);
    return this.usageCounts.storageBytes;
  }

  /** The project's storage under the version of its last change (the org's hub asks once, when it first keeps the figure). */
  async storageReport(): Promise<StorageReport> {
    return this.storageReporter.current();
  }

  /** In an org's own hub: a project's storage total (applied once per version). */
  async reportStorage(projectId: string, report: StorageReport): Promise<void> {
    this.orgStorage.apply(projectId, report);
  }

  /** In an org's own hub: a deleted project's storage leaves the figure. */
  async forgetStorage(projectId: string): Promise<void> {
    this.orgStorage.forget(projectId);
  }

  /** In an org's own hub: the bytes the org's projects hold in R2, as they reported them. */
  async orgStorageBytes(): Promise<number> {
    return this.orgStorage.total();
  }

  /**
   * Storage rows written for this project (Cloudflare bills them): by this object and its
   * fan-in objects, and by its devices' objects, as their deliveries said.
   */
  async storageRows(): Promise<{ project: number; devices: number; log_shards: number }> {
    return this.usageCounts.storageRows();
  }

  /** Counts of `metrics` summed per bucket of `minutes` starting in [from, to) (ms). */
  async series(minutes: BucketMinutes, metrics: BucketMetric[], from: number, to: number): Promise<{ start: number; n: number }[]> {
    return this.buckets.series(minutes, metrics, from, to);
  }

  /** The daily job: closes a finished day and answers its counters (the same answer every time). */
  async closeDay(day: string): Promise<UsageCounters & { active_devices: number; storage_bytes: number }> {
    const now = clockNow();
    const counters = this.usageCounts.closeDay(day, now);
    const closed = { ...counters, active_devices: this.tops.activeOn(day), storage_bytes: this.usageCounts.storageBytes };
    // The daily job visits every project once a day: a good moment to prune, and to arm the alarm.
    this.tops.prune(day);
    this.buckets.prune(now);
    await this.timers.arm();
    return closed;
  }

  /** A single-use ticket for the live tail, for the org key that asked; answers when it expires. */
  async mintTicket(secret: string, holder: TicketHolder): Promise<number> {
    return this.tickets.mint(secret, holder, Date.now());
  }

  /** A key was revoked: the streams it opened close now (its unused tickets open nothing, see fetch). */
  async revokeKey(keyId: string): Promise<void> {
    this.tail.close(CLOSE_REVOKED, "the key that opened this stream was revoked", keyId);
  }

  /** The project was deleted: every stream closes and no ticket opens anything. */
  async retire(): Promise<void> {
    this.tickets.clear();
    this.tail.close(CLOSE_REVOKED, "project deleted");
    await this.storageReporter.retire();
  }

  /**
   * The live-tail WebSocket. The Worker has validated the filter and the ticket's signature;
   * the ticket is used up here, and the key that minted it must still be live.
   */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const holder = await this.tickets.redeem(url.searchParams.get("ticket") ?? "", Date.now());
    if (!holder) return refused();
    const filter = TailFilter.parse(JSON.parse(decodeURIComponent(request.headers.get("x-tail-filter") ?? "%7B%7D")));
    const watchedBefore = this.tail.viewers > 0;
    const before = this.tail.coverage();
    const answer = this.tail.accept(filter, holder.keyId, Number(url.searchParams.get("window") ?? undefined) || undefined);
    this.viewersChanged(before);
    // The first viewer: fan-in objects learn it now, so their devices send lines from here on.
    if (!watchedBefore) await this.fanIn.tellWatched(this.tail.viewers);
    // Checked after the viewer is in place: a revocation either finds it there or is seen here.
    if (!(await findLiveKey(createDb(this.env.DB), holder.orgId, holder.keyId))) {
      this.tail.close(CLOSE_REVOKED, "the key that minted this ticket was revoked", holder.keyId);
      return refused();
    }
    return answer;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const before = this.tail.coverage();
    this.tail.onMessage(ws, message);
    this.viewersChanged(before);
  }

  /** The viewers' coverage may have changed since `before`: the devices concerned hear it (in the background). */
  private viewersChanged(before: Coverage, leaving?: WebSocket): void {
    const after = this.tail.coverage(leaving && { ws: leaving, counted: false });
    this.ctx.waitUntil(this.watchers.changed(before, after).catch((err) => console.error("telling devices who watches them failed; their deliveries hear it", err)));
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    const before = this.tail.coverage({ ws, counted: true });
    answerClose(ws, code);
    this.viewersChanged(before, ws);
  }

  override async alarm(): Promise<void> {
    await this.timers.fire();
  }
}
