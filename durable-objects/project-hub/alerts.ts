// The project's alerts. This object holds the project's rules (a copy of D1's, set by the
// routes on every change, versioned), hands each device's object the per-device rules that
// concern it, evaluates the project-wide rules (error_rate with scope "project", quota) on
// the deliveries it already takes, and keeps every alert's state: one firing alert per rule
// and subject, however often its condition is reported, until it resolves; a resolution
// waits for the rule's min_firing_s, and a firing report in between cancels it (flapping is
// damped). A silenced rule raises nothing. Each state change is queued for the rule's
// webhooks and for D1 (webhooks.ts).
import {
  type AlertParams,
  type AlertRecord,
  type AlertReport,
  type AlertRule,
  concerns,
  perDevice,
  silenced,
} from "../../src/contract/alerts";
import type { TallyRow } from "../../src/contract/tallies";
import type { UsageCounters } from "../../src/contract/usage";
import { newId } from "../../src/lib/crypto";
import { ErrorWindows } from "../error-windows";
import type { ObjectStorage } from "../storage";
import type { Timers } from "../timers";
import { Webhooks } from "./webhooks";

const RULES_KEY = "alert_rules";
/** The subject of a project-wide rule's alert. */
const PROJECT_SUBJECT = "project";
/** Quota rules are checked at most this often (they read the month's counters). */
const QUOTA_CHECK_MS = 5_000;

interface Stored {
  version: number;
  rules: AlertRule[];
}

type OpenRow = {
  rule_id: string;
  subject: string;
  alert: string;
  resolve_at: number | null;
  resolve_summary: string | null;
};

export class ProjectAlerts {
  private readonly webhooks: Webhooks;
  private readonly errorWindows: ErrorWindows;
  private lastQuotaCheck = 0;

  constructor(
    private readonly storage: ObjectStorage,
    env: Env,
    timers: Timers,
  ) {
    this.webhooks = new Webhooks(storage, env, timers);
    this.errorWindows = new ErrorWindows(storage.kv, "alert_error_windows");
    timers.add({
      name: "held alert resolutions",
      due: () => this.nextResolution(),
      fire: (now) => this.resolveHeld(now),
    });
    timers.add({
      name: "project error windows",
      due: () => this.nextWindowCheck(),
      fire: (now) => this.checkWindows(now),
    });
  }

  /** The rules as stored, read once and kept beside storage: every delivery's answer names their version. */
  private cached?: Stored;

  private get stored(): Stored {
    return (this.cached ??= this.storage.kv.get<Stored>(RULES_KEY) ?? { version: 0, rules: [] });
  }

  /** The project's org, as its rules name it (quota rules read its tier). */
  get orgId(): string | undefined {
    return this.stored.rules[0]?.org_id;
  }

  /** The rules' version: devices compare it with theirs on every delivery's answer. */
  get version(): number {
    return this.stored.version;
  }

  /**
   * The project's rules as D1 now has them. Alerts of rules that are gone are dropped
   * without a webhook (nobody is left to tell); a rule's new targets apply from its next change.
   */
  setRules(rules: AlertRule[], now: number): number {
    const version = Math.max(now, this.stored.version + 1);
    this.resolutionAt = undefined;
    const ids = new Set(rules.map((r) => r.id));
    this.storage.transactionSync(() => {
      this.storage.kv.put(RULES_KEY, { version, rules });
      this.cached = { version, rules };
      for (const row of this.openRows())
        if (!ids.has(row.rule_id)) this.storage.sql.exec("DELETE FROM alert_open WHERE rule_id = ?", row.rule_id);
    });
    this.errorWindows.keep(ids);
    return version;
  }

  /** The per-device rules that concern one device, without their targets (a device needs only what to watch). */
  rulesFor(deviceId: string, deviceType: string | null): Stored {
    const { version, rules } = this.stored;
    return {
      version,
      rules: rules.filter((r) => concerns(r, { deviceId, deviceType })).map((r) => ({ ...r, targets: [] })),
    };
  }

  /** What a device's object (or this object) reports; firing while silenced, or for an unknown rule, is ignored. */
  report(r: AlertReport, now: number): void {
    this.resolutionAt = undefined;
    const rule = this.stored.rules.find((x) => x.id === r.rule_id);
    if (!rule) return;
    const open = this.open(r.rule_id, r.subject);
    if (r.state === "firing") {
      if (open) {
        // Still firing: a resolution held back by min_firing_s is called off.
        if (open.resolve_at !== null)
          this.storage.sql.exec(
            "UPDATE alert_open SET resolve_at = NULL, resolve_summary = NULL WHERE rule_id = ? AND subject = ?",
            r.rule_id,
            r.subject,
          );
        return;
      }
      if (silenced(rule, now)) return;
      const alert: AlertRecord = {
        id: newId("alt", r.at),
        org_id: rule.org_id,
        project_id: rule.project_id,
        rule_id: rule.id,
        device_id: r.subject === PROJECT_SUBJECT ? null : r.subject,
        state: "firing",
        started_at: r.at,
        resolved_at: null,
        summary: r.summary,
      };
      this.storage.transactionSync(() => {
        this.storage.sql.exec(
          "INSERT INTO alert_open (rule_id, subject, alert) VALUES (?, ?, ?)",
          r.rule_id,
          r.subject,
          JSON.stringify(alert),
        );
        this.webhooks.enqueue(rule, alert, now);
      });
      return;
    }
    if (!open) return;
    const heldUntil = (JSON.parse(open.alert) as AlertRecord).started_at + rule.min_firing_s * 1000;
    if (heldUntil > now) {
      this.storage.sql.exec(
        "UPDATE alert_open SET resolve_at = ?, resolve_summary = ? WHERE rule_id = ? AND subject = ?",
        heldUntil,
        r.summary,
        r.rule_id,
        r.subject,
      );
      return;
    }
    this.resolve(rule, open, Math.max(r.at, now), r.summary, now);
  }

  private resolve(rule: AlertRule, open: OpenRow, at: number, summary: string, now: number): void {
    const alert: AlertRecord = {
      ...(JSON.parse(open.alert) as AlertRecord),
      state: "resolved",
      resolved_at: at,
      summary,
    };
    this.storage.transactionSync(() => {
      this.storage.sql.exec("DELETE FROM alert_open WHERE rule_id = ? AND subject = ?", open.rule_id, open.subject);
      this.webhooks.enqueue(rule, alert, now);
    });
  }

  private open(ruleId: string, subject: string): OpenRow | undefined {
    return this.storage.sql
      .exec<OpenRow>("SELECT * FROM alert_open WHERE rule_id = ? AND subject = ?", ruleId, subject)
      .toArray()[0];
  }

  /** Devices with a firing alert (one awaiting its held resolution still fires), for GET /fleet/summary. */
  alertingDevices(): Set<string> {
    const rows = this.storage.sql.exec<{ subject: string }>(
      "SELECT DISTINCT subject FROM alert_open WHERE subject != ?",
      PROJECT_SUBJECT,
    );
    return new Set(rows.toArray().map((r) => r.subject));
  }

  private openRows(): OpenRow[] {
    return this.storage.sql.exec<OpenRow>("SELECT * FROM alert_open").toArray();
  }

  /** The earliest held resolution, kept beside storage (undefined: read it again after alert_open changed). */
  private resolutionAt?: number | null;

  private nextResolution(): number | null {
    if (this.resolutionAt === undefined) {
      const [row] = this.storage.sql
        .exec<{ at: number | null }>("SELECT MIN(resolve_at) AS at FROM alert_open")
        .toArray();
      this.resolutionAt = row?.at ?? null;
    }
    return this.resolutionAt;
  }

  private resolveHeld(now: number): void {
    this.resolutionAt = undefined;
    const rules = this.stored.rules;
    for (const row of this.storage.sql.exec<OpenRow>("SELECT * FROM alert_open WHERE resolve_at <= ?", now).toArray()) {
      const rule = rules.find((r) => r.id === row.rule_id);
      if (rule) this.resolve(rule, row, row.resolve_at!, row.resolve_summary ?? "resolved", now);
    }
  }

  // ---- project-wide rules ---------------------------------------------------------------

  private projectRules(kind: "error_rate" | "quota"): AlertRule[] {
    return this.stored.rules.filter((r) => r.kind === kind && !perDevice(r));
  }

  /** Errors in deliveries just applied (fresh rows only, so a retried delivery counts once). */
  countErrors(errorLines: number, tallies: TallyRow[], now: number): void {
    const rules = this.projectRules("error_rate");
    if (rules.length === 0) return;
    for (const rule of rules) {
      const p = rule.params as AlertParams["error_rate"];
      const n =
        p.module === undefined
          ? errorLines
          : tallies.filter((t) => t.kind === "module" && t.key === p.module).reduce((s, t) => s + t.errors, 0);
      this.errorWindows.add(rule.id, now, n, p.window_s);
    }
    this.checkWindows(now);
  }

  private checkWindows(now: number): void {
    for (const rule of this.projectRules("error_rate")) {
      const p = rule.params as AlertParams["error_rate"];
      const sum = this.errorWindows.sum(rule.id, now, p.window_s);
      const what = `${p.module ? `module ${p.module}: ` : ""}${sum} ERROR/FATAL lines across the project in the last ${p.window_s} s (threshold ${p.count})`;
      this.report(
        {
          rule_id: rule.id,
          subject: PROJECT_SUBJECT,
          state: sum >= p.count ? "firing" : "resolved",
          at: now,
          summary: what,
        },
        now,
      );
    }
  }

  /** Whether any rule is judged on the deliveries this object takes (project-wide error rates, quotas). */
  get judgesDeliveries(): boolean {
    return this.stored.rules.some((r) => !perDevice(r));
  }

  /**
   * A project error window is looked at again when its oldest counted second leaves it (which resolves a
   * firing alert once it is under the threshold).
   */
  private nextWindowCheck(): number | null {
    let next: number | null = null;
    for (const rule of this.projectRules("error_rate")) {
      const at = this.errorWindows.nextExpiry(rule.id, (rule.params as AlertParams["error_rate"]).window_s);
      if (at !== null && (next === null || at < next)) next = at;
    }
    return next;
  }

  /** Whether quota rules exist and are due a look (deliveries look at most every QUOTA_CHECK_MS). */
  quotaDue(now: number, force: boolean): boolean {
    if (this.projectRules("quota").length === 0 || (!force && now - this.lastQuotaCheck < QUOTA_CHECK_MS)) return false;
    this.lastQuotaCheck = now;
    return true;
  }

  /** Quota rules: any monthly counter at or past `percent` of the tier's limit fires; a new month resolves. */
  checkQuota(used: UsageCounters & { storage_bytes: number }, limit: Record<string, number | null>, now: number): void {
    const shares = (["logs", "log_bytes", "device_messages_in", "device_messages_out", "storage_bytes"] as const)
      .filter((f) => typeof limit[f] === "number" && limit[f]! > 0)
      .map((f) => ({ counter: f, share: (100 * (used[f] ?? 0)) / limit[f]!, used: used[f] ?? 0, limit: limit[f]! }));
    for (const rule of this.projectRules("quota")) {
      const p = rule.params as AlertParams["quota"];
      const over = shares.filter((s) => s.share >= p.percent).sort((a, b) => b.share - a.share);
      const summary = over.length
        ? over
            .map((s) => `${s.counter} at ${s.share.toFixed(1)}% of the month's limit (${s.used} of ${s.limit})`)
            .join("; ")
        : `every monthly counter under ${p.percent}% of its limit`;
      this.report(
        { rule_id: rule.id, subject: PROJECT_SUBJECT, state: over.length ? "firing" : "resolved", at: now, summary },
        now,
      );
    }
  }
}
