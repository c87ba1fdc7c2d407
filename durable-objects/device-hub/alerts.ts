// A device's own alert conditions, evaluated where its events already arrive: heartbeats (metric_threshold,
// and the way back from offline), the offline mark (device_offline) and each stored batch (error_rate per
// device). The object holds only the rules that concern it, asked of the project's object when a delivery's
// answer (or the project's push) names a version it lacks, so evaluating costs no D1 read or write. It asks
// after a delay of its own within RULES_SPREAD.ms (a hash of its id and the version), so a rule change heard
// by many devices at once reaches the project's object spread over that time, not in the same second. What it
// finds (a condition starting or ending) goes to the project's object, which keeps the alert's state and
// sends the webhooks; reports wait in this object's storage until the project has them. Everything it judges
// by (rules, conditions, error windows, reports) is in its storage, so an evicted object resumes as it was.
import type { AlertParams, AlertReport, AlertRule } from "../../src/contract/alerts";
import { createDb } from "../../src/db/client";
import { findDeviceOfOrg } from "../../src/db/repos/devices";
import { slotOf } from "../../src/lib/hash";
import { projectHub } from "../../src/stubs/project-hub";
import { ErrorWindows } from "../error-windows";
import type { Kv } from "../storage";
import type { Timers } from "../timers";
import type { DeviceState } from "./state";

const RULES_KEY = "alert_rules";
const CONDITIONS_KEY = "alert_conditions";
const REPORTS_KEY = "alert_reports";
/** Devices that hear of new rules together ask for them spread over this long (an object, so tests can lengthen it). */
export const RULES_SPREAD = { ms: 60_000 };

/** When a device that heard of rules `version` at `heardAt` asks for them: its own moment within RULES_SPREAD.ms. */
export const rulesFetchAt = (deviceId: string, version: number, heardAt: number): number =>
  heardAt + slotOf(`${deviceId}:${version}`, RULES_SPREAD.ms);

/** Per rule: since when its condition holds (unset: it does not), and whether it was reported firing. */
type Conditions = Record<string, { since?: number; firing?: boolean }>;

export class DeviceAlerts {
  private readonly errorWindows: ErrorWindows;
  private refreshing: Promise<void> | null = null;
  /**
   * A rules version heard of and not fetched yet, and when to fetch it (memory only: the next delivery's
   * answer names it again).
   */
  private announced: { version: number; at: number } | null = null;

  constructor(
    private readonly kv: Kv,
    private readonly env: Env,
    private readonly device: () => DeviceState | undefined,
    timers: Timers,
  ) {
    this.errorWindows = new ErrorWindows(kv, "alert_error_windows");
    timers.add({ name: "alert conditions", due: () => this.nextDue(), fire: (now) => this.evaluateTime(now) });
    timers.add({
      name: "alert reports",
      due: (now) => (this.reports.length ? now : null),
      fire: () => this.sendReports(),
    });
    timers.add({ name: "alert rules", due: () => this.announced?.at ?? null, fire: () => this.fetchAnnounced() });
  }

  // Rules and conditions are read from storage once and kept in memory beside it: every
  // batch and heartbeat reads them, and a change is rare.
  private cachedRules?: { version: number; rules: AlertRule[] };
  private cachedConditions?: Conditions;

  private get stored(): { version: number; rules: AlertRule[] } {
    return (this.cachedRules ??= this.kv.get<{ version: number; rules: AlertRule[] }>(RULES_KEY) ?? {
      version: 0,
      rules: [],
    });
  }

  private get rules(): AlertRule[] {
    return this.stored.rules;
  }

  private get conditions(): Conditions {
    return (this.cachedConditions ??= this.kv.get<Conditions>(CONDITIONS_KEY) ?? {});
  }

  /** Whether one of the device's conditions holds now (firing or on its way): its lines should come at once. */
  holding(): boolean {
    for (const c of Object.values(this.conditions)) if (c.since !== undefined) return true;
    return false;
  }

  /** Writes the conditions through to storage, when `changed` says they changed. */
  private saveConditions(c: Conditions, changed: boolean): void {
    this.cachedConditions = c;
    if (changed) this.kv.put(CONDITIONS_KEY, c);
  }

  private cachedReports?: AlertReport[];

  private get reports(): AlertReport[] {
    return (this.cachedReports ??= this.kv.get<AlertReport[]>(REPORTS_KEY) ?? []);
  }

  private set reports(r: AlertReport[]) {
    this.cachedReports = r;
    this.kv.put(REPORTS_KEY, r);
  }

  /**
   * A delivery's answer (or the project) named the project's rules version; a different one is
   * fetched once, at this device's moment within RULES_SPREAD.ms (the caller arms the alarm).
   */
  heardVersion(version: number | undefined, now = Date.now()): void {
    if (version === undefined || version === this.stored.version || this.announced?.version === version) return;
    const id = this.device()?.deviceId;
    if (!id) return;
    this.announced = { version, at: rulesFetchAt(id, version, now) };
  }

  /** Fetches the rules heard of now, whatever the moment (the alarm's timer, and tests settling). */
  async fetchAnnounced(): Promise<void> {
    if (!this.announced) return;
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = null));
    await this.refreshing;
  }

  private async refresh(): Promise<void> {
    const announced = this.announced;
    const s = this.device();
    if (!s) {
      this.announced = null;
      return;
    }
    let deviceType = s.deviceType;
    // Devices registered before their type was kept learn it once, here (not on any hot path).
    if (deviceType === undefined)
      deviceType = (await findDeviceOfOrg(createDb(this.env.DB), s.orgId, s.deviceId))?.deviceType ?? null;
    // RPC types cannot carry params' `unknown` values; they are the rules as the project holds them.
    const fetched = (await projectHub(this.env, s.projectId).alertRulesFor(s.deviceId, deviceType)) as unknown as {
      version: number;
      rules: AlertRule[];
    };
    this.kv.put(RULES_KEY, fetched);
    this.cachedRules = fetched;
    // What was announced is fetched (a newer announcement made meanwhile waits for its own moment).
    if (this.announced === announced) this.announced = null;
    const ids = new Set(fetched.rules.map((r) => r.id));
    this.saveConditions(Object.fromEntries(Object.entries(this.conditions).filter(([id]) => ids.has(id))), true);
    this.errorWindows.keep(ids);
    // A new or changed rule judges the device as it is now.
    if (s.metrics && !s.offline) this.onHeartbeat(s.metrics, Date.now());
  }

  // ---- events ---------------------------------------------------------------------------

  /** A heartbeat: thresholds on its metrics, and a device back from offline. */
  onHeartbeat(metrics: Record<string, number> | undefined, now: number): void {
    const c = this.conditions;
    let changed = false;
    for (const rule of this.rules) {
      const cond = (c[rule.id] ??= {});
      if (rule.kind === "device_offline") {
        if (cond.since !== undefined) {
          delete cond.since;
          changed = true;
        }
        if (cond.firing) changed = this.change(rule, cond, "resolved", now, "the device is back online");
      } else if (rule.kind === "metric_threshold") {
        const p = rule.params as AlertParams["metric_threshold"];
        const v = metrics?.[p.metric];
        if (v === undefined) continue;
        if (p.op === "<" ? v < p.value : v > p.value) {
          if (cond.since === undefined) {
            cond.since = now;
            changed = true;
          }
          if (!cond.firing && now - cond.since >= p.for_s * 1000)
            changed = this.change(rule, cond, "firing", now, metricSummary(p, v, cond.since));
        } else {
          if (cond.since !== undefined) {
            delete cond.since;
            changed = true;
          }
          if (cond.firing)
            changed = this.change(
              rule,
              cond,
              "resolved",
              now,
              `${p.metric} is ${v} again (threshold ${p.op} ${p.value})`,
            );
        }
      }
    }
    this.saveConditions(c, changed);
  }

  /** The offline mark: device_offline rules start counting from it. */
  onOffline(now: number): void {
    const c = this.conditions;
    for (const rule of this.rules) if (rule.kind === "device_offline") (c[rule.id] ??= {}).since ??= now;
    this.saveConditions(c, true);
    this.evaluateTime(now);
  }

  /** A stored batch's lines: ERROR and FATAL count towards error_rate rules (of their module, if one is named). */
  onLines(lines: readonly { module: string; level: number }[], now: number): void {
    const rules = this.rules.filter((r) => r.kind === "error_rate");
    if (rules.length === 0) return;
    for (const rule of rules) {
      const p = rule.params as AlertParams["error_rate"];
      let n = 0;
      for (const l of lines) if (l.level >= 3 && (p.module === undefined || l.module === p.module)) n++;
      this.errorWindows.add(rule.id, now, n, p.window_s);
    }
    this.evaluateTime(now);
  }

  // ---- time -----------------------------------------------------------------------------

  /** When a condition next needs looking at: a duration running out, or errors leaving a window. */
  private nextDue(): number | null {
    let next: number | null = null;
    const at = (t: number) => (next = next === null ? t : Math.min(next, t));
    const c = this.conditions;
    for (const rule of this.rules) {
      const cond = c[rule.id];
      if (rule.kind === "device_offline" && cond?.since !== undefined && !cond.firing)
        at(cond.since + (rule.params as AlertParams["device_offline"]).for_s * 1000);
      if (rule.kind === "metric_threshold" && cond?.since !== undefined && !cond.firing)
        at(cond.since + (rule.params as AlertParams["metric_threshold"]).for_s * 1000);
      if (rule.kind === "error_rate") {
        const expiry = this.errorWindows.nextExpiry(rule.id, (rule.params as AlertParams["error_rate"]).window_s);
        if (expiry !== null) at(expiry);
        else if (cond?.firing) at(Date.now());
      }
    }
    return next;
  }

  private evaluateTime(now: number): void {
    const c = this.conditions;
    let changed = false;
    for (const rule of this.rules) {
      const cond = (c[rule.id] ??= {});
      if (rule.kind === "device_offline") {
        const p = rule.params as AlertParams["device_offline"];
        if (cond.since !== undefined && !cond.firing && now - cond.since >= p.for_s * 1000 && this.device()?.offline) {
          changed = this.change(
            rule,
            cond,
            "firing",
            now,
            `offline since ${new Date(cond.since).toISOString()} (over ${p.for_s} s)`,
          );
        }
      } else if (rule.kind === "metric_threshold") {
        const p = rule.params as AlertParams["metric_threshold"];
        const v = this.device()?.metrics?.[p.metric];
        if (cond.since !== undefined && !cond.firing && now - cond.since >= p.for_s * 1000 && v !== undefined)
          changed = this.change(rule, cond, "firing", now, metricSummary(p, v, cond.since));
      } else if (rule.kind === "error_rate") {
        const p = rule.params as AlertParams["error_rate"];
        const sum = this.errorWindows.sum(rule.id, now, p.window_s);
        const what = `${sum} ERROR/FATAL lines${p.module ? ` from ${p.module}` : ""} in the last ${p.window_s} s (threshold ${p.count})`;
        if (sum >= p.count && !cond.firing) changed = this.change(rule, cond, "firing", now, what);
        else if (sum < p.count && cond.firing) changed = this.change(rule, cond, "resolved", now, what);
      }
    }
    this.saveConditions(c, changed);
  }

  /** Records the change in the condition and queues its report for the project. */
  private change(
    rule: AlertRule,
    cond: { firing?: boolean },
    state: "firing" | "resolved",
    at: number,
    summary: string,
  ): true {
    cond.firing = state === "firing";
    const deviceId = this.device()?.deviceId;
    if (deviceId) this.reports = [...this.reports, { rule_id: rule.id, subject: deviceId, state, at, summary }];
    return true;
  }

  /** Sends the queued reports in order; one that fails stays, with the rest, for the alarm's retry. */
  async sendReports(): Promise<void> {
    const s = this.device();
    if (!s) return;
    const hub = projectHub(this.env, s.projectId);
    for (const report of this.reports) {
      await hub.reportAlert(report);
      this.reports = this.reports.slice(1);
    }
  }
}

function metricSummary(p: AlertParams["metric_threshold"], v: number, since: number): string {
  return `${p.metric} is ${v} (threshold ${p.op} ${p.value}) since ${new Date(since).toISOString()}`;
}
