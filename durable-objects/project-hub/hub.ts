// ProjectHub: one Durable Object per project. It holds the project's exact usage counters
// (fed by each DeviceHub's outbox, directly or, past 1,000 active devices, through fan-in
// objects, and by its log shards), the live-tail tickets and what the live-tail viewers want,
// group by group: the viewers themselves are held by viewer groups (TailGroup), and lines go
// from the devices to the groups without passing here. This class is its RPC surface; each
// concern is a part in this folder.
import { DurableObject } from "cloudflare:workers";
import type { AlertReport, AlertRule } from "../../src/contract/alerts";
import type { ApiRecord } from "../../src/contract/api-records";
import type { ActivityDay, AuditEntry, AuditFilter } from "../../src/contract/audit";
import type { BucketMetric, BucketMinutes, BucketRow } from "../../src/contract/buckets";
import { errorBody } from "../../src/contract/errors";
import type { DeliveryAnswer, DeviceDayRow } from "../../src/contract/fan-in";
import { FAN_IN_SENDER } from "../../src/contract/fan-in";
import type { LogView } from "../../src/contract/log-view";
import type { DeviceStatus, PresenceReport, StatusCounts } from "../../src/contract/presence";
import type { QuotaGrant } from "../../src/contract/quota";
import type {
  SessionAfter,
  SessionFields,
  SessionListFilter,
  SessionUpsert,
  StoredSession,
} from "../../src/contract/sessions";
import { type Admission, viewerRequest } from "../../src/contract/tail-admission";
import { TailFilter } from "../../src/contract/tail-filter";
import { MAX_VIEWERS } from "../../src/contract/tail-plan";
import type { TallyRow } from "../../src/contract/tallies";
import { TIERS, usageLimits } from "../../src/contract/tiers";
import type { OutboxRow, UsageCounters } from "../../src/contract/usage";
import { createDb } from "../../src/db/client";
import { clockNow } from "../../src/lib/clock";
import { addDays, DAY_MS, utcDay } from "../../src/lib/time";
import { OrgStorage, type StorageReport, StorageReporter } from "../org-storage";
import { answerClose, closeQuietly } from "../sockets";
import { migrate } from "../sql-migrations";
import { CountedStorage } from "../storage";
import { TailShipper } from "../tail-group/shipper";
import { Timers } from "../timers";
import { ProjectAlerts } from "./alerts";
import { ApiStats } from "./api-stats";
import { AuditLog } from "./audit";
import { TimeBuckets } from "./buckets";
import { FanInRoute } from "./fan-in-route";
import { FleetPresence } from "./presence";
import { MonthlyQuota } from "./quota";
import { PROJECT_SCHEMA } from "./schema";
import { ProjectSessions } from "./sessions";
import { TailCoverage } from "./tail-coverage";
import { type TicketHolder, Tickets } from "./tickets";
import { Tops } from "./tops";
import { type Sealed, UsageCounts } from "./usage";
import { Watchers } from "./watchers";

/** A new viewer waits at most this long for its devices to hear of it (ms). */
const TELL_WAIT_MS = 1000;

/** At most this many recently delivering devices are told of new alert rules at once. */
const PUSH_RULES_TO = 100;

/**
 * A device's object, as this one calls it: the methods it needs. (A stub typed with the whole
 * DeviceHub class would make an import cycle, since devices call this class.)
 */
function deviceObject(
  env: Env,
  deviceId: string,
): { alertRulesChanged(version: number): Promise<void>; sweep(): Promise<void> } {
  const ns = env.DEVICE_HUB as unknown as DurableObjectNamespace;
  return ns.get(ns.idFromName(deviceId)) as unknown as {
    alertRulesChanged(version: number): Promise<void>;
    sweep(): Promise<void>;
  };
}

/**
 * A viewer group of this project, addressed through Env's own typing (the group calls this object, so
 * importing its class would make a cycle).
 */
const tailGroup = (env: Env, name: string) => env.TAIL_GROUP.get(env.TAIL_GROUP.idFromName(name));

const refusals = {
  401: () => Response.json(errorBody("unauthorized", "ticket is unknown, used or expired"), { status: 401 }),
  429: () =>
    Response.json(errorBody("rate_limited", `at most ${MAX_VIEWERS} live viewers per project`), { status: 429 }),
};

export class ProjectHub extends DurableObject<Env> {
  private readonly timers: Timers;
  private readonly usageCounts: UsageCounts;
  private readonly tickets: Tickets;
  private readonly coverage: TailCoverage;
  private readonly watchers: Watchers;
  private readonly shipper: TailShipper;
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
  private readonly sessions: ProjectSessions;
  /** The org's audit log (an org's own hub only). */
  private readonly audit: AuditLog;
  /**
   * Sessions to prune before this moment (ms) on the alarm, a batch at a time (memory only: the daily job
   * asks again).
   */
  private pruneSessionsBefore: number | null = null;
  /** Devices that delivered here directly, and when (memory only; see recentDevices). */
  private readonly lastDelivery = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Every part writes through it, so the rows this object writes are counted (storageRows).
    const storage = new CountedStorage(ctx.storage);
    migrate(storage, PROJECT_SCHEMA);
    this.timers = new Timers(storage);
    this.usageCounts = new UsageCounts(storage, this.timers, () => storage.rowsWritten);
    const unfolded = () => this.usageCounts.unfolded;
    this.tickets = new Tickets(storage.sql);
    this.coverage = new TailCoverage(storage.kv, () => ctx.id.name);
    this.shipper = new TailShipper(env);
    this.buckets = new TimeBuckets(storage.sql, unfolded);
    this.quota = new MonthlyQuota(storage, env, this.usageCounts);
    this.apiStats = new ApiStats(storage);
    this.tops = new Tops(storage.sql, (from, to) => this.usageCounts.between(from, to), unfolded);
    this.fanIn = new FanInRoute({ activeDevices: (day) => this.tops.activeSince(addDays(day, -1)) });
    this.alerts = new ProjectAlerts(storage, env, this.timers);
    this.storageReporter = new StorageReporter(
      storage,
      this.timers,
      env,
      () => ctx.id.name!,
      () => this.usageCounts.storageBytes,
    );
    this.orgStorage = new OrgStorage(storage, env, () => ctx.id.name!.slice("org:".length));
    this.presence = new FleetPresence(
      storage,
      createDb(env.DB),
      () => (ctx.id.name?.startsWith("org:") ? undefined : ctx.id.name),
      (deviceId) => deviceObject(env, deviceId),
      this.usageCounts.seenRows(),
      this.timers,
    );
    this.sessions = new ProjectSessions(storage.sql, storage.kv);
    this.audit = new AuditLog(storage);
    this.timers.add({
      name: "session pruning",
      due: (now) => (this.pruneSessionsBefore !== null ? now : null),
      fire: () => {
        const before = this.pruneSessionsBefore;
        if (before !== null && !this.sessions.pruneBatch(before)) this.pruneSessionsBefore = null;
      },
    });
    this.watchers = new Watchers(env, {
      projectId: () => ctx.id.name,
      plan: () => this.coverage.plan(),
      fanIns: () => this.usageCounts.fanInSenders(),
    });
    // A retired project's sessions still to delete go on being deleted after a restart.
    if (this.sessions.leftOver) {
      this.pruneSessionsBefore = 0;
      void ctx.blockConcurrencyWhile(() => this.timers.arm());
    }
  }

  /**
   * A device's delivery: its sealed outbox rows (applied at most once per sequence) and its
   * presence as of then (kept in the row the counts write). Answers how many viewers are
   * watching and which groups want which of its lines, the month's quota and the route devices
   * take next. Lines for the tail go from devices to the viewer groups; any still handed here
   * (by a device object of the version before, during a deploy) go on to them.
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
    return this.take(
      deviceId,
      { rows, buckets, tallies, ...(seen ? { seen: { [deviceId]: seen } } : {}) },
      lines,
      dropped,
    );
  }

  /**
   * A device's transition (status or current session), at once: the live picture has it, D1 with the
   * project's next batch.
   */
  async reportPresence(deviceId: string, report: PresenceReport): Promise<void> {
    this.presence.report(deviceId, report);
    await this.timers.arm();
  }

  /**
   * The live presence of these devices (those that ever reported; at most a page's worth), and
   * how many of the project's devices are not offline: one call for a fleet list, a scrape or a
   * stats read, however many devices.
   */
  async livePresence(
    ids: string[],
    opts: { sparklines?: boolean } = {},
  ): Promise<{ devices: Record<string, PresenceReport>; active: number }> {
    return { devices: this.presence.of(ids, opts.sparklines), active: this.presence.active() };
  }

  /**
   * GET /fleet/summary: the devices of each group (ids by environment, from D1) counted by their
   * status in the live picture (`registered` for those it never heard from: D1's status where it
   * is not offline), and those with a firing alert, in one call however many devices.
   */
  async fleetCounts(
    groups: Record<string, string[]>,
    registered: Record<string, DeviceStatus>,
  ): Promise<Record<string, StatusCounts>> {
    return this.presence.count(groups, registered, this.alerts.alertingDevices());
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
    sealed: {
      rows: OutboxRow[];
      buckets: BucketRow[];
      tallies: TallyRow[];
      devices: DeviceDayRow[];
      own_rows?: number;
      seen?: Record<string, PresenceReport>;
    },
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
    delivery: {
      from: number;
      through: number;
      rows: OutboxRow[];
      buckets: BucketRow[];
      tallies: TallyRow[];
      devices: DeviceDayRow[];
    } | null,
  ): Promise<DeliveryAnswer & { taken: number }> {
    const last = this.usageCounts.lastOf(sender);
    const fits = delivery !== null && delivery.from === last && delivery.through > last && delivery.rows.length > 0;
    const answer = await this.take(sender, fits ? delivery : { rows: [] }, [], 0);
    return { ...answer, taken: fits ? delivery.through : last };
  }

  private async take(
    sender: string,
    sealed: Sealed & { seen?: Record<string, PresenceReport> },
    lines: LogView[],
    dropped: number,
  ): Promise<DeliveryAnswer> {
    const now = clockNow();
    const day = utcDay(now);
    // What the sender said of its devices' presence goes in the row its counts write (kept in memory if they
    // bring nothing fresh).
    const seen =
      sealed.seen && Object.keys(sealed.seen).length > 0 ? this.presence.heard(sender, sealed.seen) : undefined;
    if (sealed.rows.length > 0) {
      const fresh = await this.usageCounts.take(sender, sealed, now, seen);
      // Archived logs written or deleted: the org's storage figure follows, within seconds.
      if (fresh.some((r) => r.storage_bytes)) await this.storageReporter.changedSoon();
      if (fresh.length > 0 && this.alerts.judgesDeliveries)
        await this.evaluateAlerts(fresh, sealed.tallies ?? [], day, now);
    }
    const fanIn = sender.includes(FAN_IN_SENDER);
    if (lines.length > 0 || dropped > 0) {
      await this.shipper.ship(
        fanIn ? this.coverage.routes() : this.coverage.planOf(sender).routes,
        lines,
        dropped,
        fanIn ? undefined : sender,
      );
    }
    return {
      viewers: this.coverage.viewers,
      // A device hears the routes that concern it; a fan-in object every route, for its devices.
      tail: fanIn ? this.coverage.plan() : this.coverage.planOf(sender),
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
    this.alerts.checkQuota(
      { ...this.usageCounts.month(day.slice(0, 7)), storage_bytes: this.usageCounts.storageBytes },
      usageLimits(tier),
      Date.now(),
    );
    await this.timers.arm();
  }

  // ---- sessions -------------------------------------------------------------------------

  /**
   * A device names a session id: it claims it unless a device of the project has it. Answers
   * the owner (this device, or the first to claim it), or null once the project is deleted.
   */
  async claimSession(
    deviceId: string,
    s: Pick<SessionFields, "session_id" | "name" | "started_at">,
  ): Promise<string | null> {
    return this.sessions.claim(deviceId, s);
  }

  /** The device that owns a session id, if any claimed it. */
  async sessionOwner(sessionId: string): Promise<string | null> {
    return this.sessions.owner(sessionId);
  }

  /** A device's object sends its sessions (an end, with its counts): only its own, only newer versions. */
  async updateSessions(deviceId: string, rows: SessionUpsert[]): Promise<void> {
    this.sessions.update(deviceId, rows);
  }

  async getSession(sessionId: string): Promise<StoredSession | null> {
    return this.sessions.get(sessionId) ?? null;
  }

  /** A page of the project's sessions, newest first, strictly after `after` (see ProjectSessions.list). */
  async listSessions(
    filter: SessionListFilter,
    after: SessionAfter | undefined,
    limit: number,
  ): Promise<StoredSession[]> {
    return this.sessions.list(filter, after, limit);
  }

  /** Ids of the sessions that ran during [from, to) (ms), newest first. */
  async sessionIdsBetween(range: { from?: number; to?: number }, max: number): Promise<string[]> {
    return this.sessions.idsBetween(range, max);
  }

  /** The names of these sessions of the project, by id, in one read (GET /logs/facets); unknown ids are left out. */
  async sessionNames(ids: string[]): Promise<Record<string, string>> {
    return this.sessions.names(ids);
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

  /**
   * The project's storage under the version of its last change (the org's hub asks once, when it first keeps
   * the figure).
   */
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
  async series(
    minutes: BucketMinutes,
    metrics: BucketMetric[],
    from: number,
    to: number,
  ): Promise<{ start: number; n: number }[]> {
    return this.buckets.series(minutes, metrics, from, to);
  }

  /** The daily job: closes a finished day and answers its counters (the same answer every time). */
  /**
   * A day the job has not closed (today), as closeDay would answer it now, writing nothing: its
   * counters folded or not, the devices active on it so far, the storage now (GET
   * /stats/daily?include_today).
   */
  async openDay(day: string): Promise<UsageCounters & { active_devices: number; storage_bytes: number }> {
    return {
      ...this.usageCounts.between(day, day),
      // No day after an open one has counts yet: active since it is active on it.
      active_devices: this.tops.activeSince(day),
      storage_bytes: this.usageCounts.storageBytes,
    };
  }

  async closeDay(
    day: string,
    sessionRetentionDays?: number,
  ): Promise<UsageCounters & { active_devices: number; storage_bytes: number }> {
    const now = clockNow();
    const counters = this.usageCounts.closeDay(day, now);
    const closed = {
      ...counters,
      active_devices: this.tops.activeOn(day),
      storage_bytes: this.usageCounts.storageBytes,
    };
    // The daily job visits every project once a day: a good moment to prune, and to arm the alarm.
    this.tops.prune(day);
    this.buckets.prune(now);
    // Sessions ended before the tier's archive retention go (their lines are gone by then too).
    if (sessionRetentionDays !== undefined && this.sessions.pruneBatch(now - sessionRetentionDays * DAY_MS)) {
      this.pruneSessionsBefore = now - sessionRetentionDays * DAY_MS;
    }
    await this.timers.arm();
    return closed;
  }

  /** A single-use ticket for the live tail, for the org key that asked; answers when it expires. */
  async mintTicket(secret: string, holder: TicketHolder): Promise<number> {
    return this.tickets.mint(secret, holder, Date.now());
  }

  /**
   * A viewer's ticket, used up here: the viewer group that takes the viewer, and the org key the
   * ticket acts for; or 401 (unknown, used or expired) or 429 (the project has MAX_VIEWERS).
   */
  async admitViewer(secret: string, filter: TailFilter): Promise<Admission> {
    const holder = await this.tickets.redeem(secret, Date.now());
    if (!holder) return { ok: false, status: 401 };
    const group = this.coverage.admit(filter);
    return group === null ? { ok: false, status: 429 } : { ok: true, group, ...holder };
  }

  /**
   * A viewer group's viewers changed: how many it holds and their distinct filters. The devices
   * whose plan changed hear it; the group's new viewer waits for that a second at most (a large
   * project's devices go on hearing in the background).
   */
  async tailGroupChanged(group: string, viewers: number, filters: TailFilter[]): Promise<void> {
    const change = this.coverage.report(group, { viewers, filters });
    if (!change) return;
    const told = this.watchers
      .changed(change.before, change.after)
      .catch((err) => console.error("telling devices what the viewers want failed; their deliveries hear it", err));
    this.ctx.waitUntil(told);
    await Promise.race([told, new Promise((r) => setTimeout(r, TELL_WAIT_MS))]);
  }

  /**
   * A key was revoked: the streams it opened close now, in every group (its unused tickets open nothing, see
   * admitViewer).
   */
  // ---- the org's audit log (an org's own hub) -------------------------------------------------

  /** Appends events to the org's audit log (one row each), and lets go of those past the tier's audit retention. */
  async appendAudit(entries: AuditEntry[]): Promise<number> {
    const orgId = this.orgOfOwnHub();
    const now = Date.now();
    const days = TIERS[await this.quota.tierFor(orgId, now)].audit_retention_days;
    return this.ctx.storage.transactionSync(() => this.audit.append(entries, now, now - days * DAY_MS)).length;
  }

  /** A page of the log, each event as its JSON (an answer writes them as they are). */
  async auditPage(filter: AuditFilter, limit: number): Promise<{ events: string[]; next: number | null }> {
    this.orgOfOwnHub();
    return this.audit.page(filter, limit);
  }

  /** The org's activity per day, from its audit log (GET /stats/activity). */
  async activity(from: string, to: string): Promise<ActivityDay[]> {
    this.orgOfOwnHub();
    return this.audit.activity(from, to);
  }

  /** The org this hub is the own hub of; a project's hub keeps no audit log. */
  private orgOfOwnHub(): string {
    const name = this.ctx.id.name ?? "";
    if (!name.startsWith("org:")) throw new Error("the audit log is kept by an org's own hub");
    return name.slice("org:".length);
  }

  async revokeKey(keyId: string): Promise<void> {
    await Promise.all(this.coverage.names.map((name) => tailGroup(this.env, name).revokeKey(keyId)));
  }

  /** The project was deleted: every stream closes and no ticket opens anything. */
  async retire(): Promise<void> {
    this.tickets.clear();
    if (this.sessions.retire()) {
      this.pruneSessionsBefore = 0;
      await this.timers.arm();
    }
    await Promise.all(this.coverage.names.map((name) => tailGroup(this.env, name).retire()));
    await this.storageReporter.retire();
  }

  /**
   * The live-tail WebSocket, for callers that hold the ticket and the filter (the Loki tail):
   * admitted here, accepted by its group. The Worker's own route admits and opens the group itself.
   */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const filter = TailFilter.parse(JSON.parse(decodeURIComponent(request.headers.get("x-tail-filter") ?? "%7B%7D")));
    const admitted = await this.admitViewer(url.searchParams.get("ticket") ?? "", filter);
    if (!admitted.ok) return refusals[admitted.status]();
    const window = Number(url.searchParams.get("window") ?? undefined) || undefined;
    return tailGroup(this.env, admitted.group).fetch(
      viewerRequest(request, { group: admitted.group, filter, orgId: admitted.orgId, keyId: admitted.keyId, window }),
    );
  }

  /**
   * A viewer socket from before viewer groups, held here across a deploy: it closes (1012, restart) and
   * reconnects into a group.
   */
  override async webSocketMessage(ws: WebSocket): Promise<void> {
    closeQuietly(ws, 1012, "the live tail moved; reconnect");
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    answerClose(ws, code);
  }

  override async alarm(): Promise<void> {
    await this.timers.fire();
  }
}
