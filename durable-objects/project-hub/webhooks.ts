// The project's webhook queue and its D1 recorder. Each state change of an alert is queued
// once per target, in this object's SQLite, and sent by the alarm: signed with the target's
// secret, retried with exponential backoff on a network error, a 5xx or a 429 for up to 24
// hours, and never lost to a restart (the row stays until an answer settles it). Alerts and
// every attempt are written to D1 by the alarm too, in batches, off the ingest path.
import {
  type AlertRecord,
  type AlertRule,
  type DeliveryRecord,
  slackBody,
  webhookBody,
} from "../../src/contract/alerts";
import { createDb } from "../../src/db/client";
import { saveAlerts, saveDeliveries } from "../../src/db/repos/alerts";
import { hmacHex, newId } from "../../src/lib/crypto";
import type { ObjectStorage } from "../storage";
import type { Timers } from "../timers";

/** Retries wait 0.5 s, 1 s, 2 s, … up to an hour, for up to a day after the first try. */
const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 3_600_000;
const GIVE_UP_AFTER_MS = 24 * 3_600_000;
/** A receiver has this long to answer. */
const TIMEOUT_MS = 10_000;
/** Sends and D1 rows per alarm run, so one run stays short. */
const PER_RUN = 25;
const D1_PER_RUN = 100;

type QueuedHook = {
  id: string;
  rule_id: string;
  alert_id: string;
  target_id: string;
  state: "firing" | "resolved";
  url: string;
  secret: string;
  body: string;
  attempt: number;
  first_at: number;
  next_at: number;
};

/** The signature headers a receiver checks: HMAC-SHA-256 of "<timestamp>.<body>" under the target's secret. */
async function signatureHeaders(secret: string, body: string, nowMs: number): Promise<Record<string, string>> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    "x-fleetbeat-timestamp": timestamp,
    "x-fleetbeat-signature": `sha256=${await hmacHex(secret, `${timestamp}.${body}`)}`,
  };
}

export class Webhooks {
  // What the alarm's timers ask on every arm, kept beside storage (undefined: read it again),
  // so arming for other work costs no query.
  private nextSendAt?: number | null;
  private d1Waiting?: boolean;

  constructor(
    private readonly storage: ObjectStorage,
    private readonly env: Env,
    timers: Timers,
  ) {
    timers.add({ name: "alert webhooks", due: () => this.nextSend(), fire: (now) => this.sendDue(now) });
    timers.add({
      name: "alert records to D1",
      due: (now) => (this.d1Pending() ? now : null),
      fire: () => this.writeD1(),
    });
  }

  /** Queues a state change of `alert` for every target of its rule, and its record for D1. */
  enqueue(rule: AlertRule, alert: AlertRecord, now: number): void {
    const sql = this.storage.sql;
    this.nextSendAt = undefined;
    this.record("alert", alert);
    for (const t of rule.targets) {
      const body = JSON.stringify(t.format === "slack" ? slackBody(rule, alert) : webhookBody(rule, alert));
      sql.exec(
        `INSERT OR IGNORE INTO webhook_queue (id, rule_id, alert_id, target_id, state, url, secret, body, attempt, first_at, next_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
        `${alert.id}.${alert.state}.${t.id}`,
        rule.id,
        alert.id,
        t.id,
        alert.state,
        t.url,
        t.secret,
        body,
        now,
        now,
      );
    }
  }

  /** Writes an alert's record to D1 with the next batch (a resolution replaces its firing row). */
  record(kind: "alert" | "delivery", record: AlertRecord | DeliveryRecord): void {
    this.storage.sql.exec("INSERT INTO alert_d1_outbox (kind, record) VALUES (?, ?)", kind, JSON.stringify(record));
    this.d1Waiting = true;
  }

  private nextSend(): number | null {
    if (this.nextSendAt === undefined) {
      const [row] = this.storage.sql
        .exec<{ at: number | null }>("SELECT MIN(next_at) AS at FROM webhook_queue")
        .toArray();
      this.nextSendAt = row?.at ?? null;
    }
    return this.nextSendAt;
  }

  private d1Pending(): boolean {
    this.d1Waiting ??= this.storage.sql.exec("SELECT 1 FROM alert_d1_outbox LIMIT 1").toArray().length > 0;
    return this.d1Waiting;
  }

  private async sendDue(now: number): Promise<void> {
    const due = this.storage.sql
      .exec<QueuedHook>("SELECT * FROM webhook_queue WHERE next_at <= ? ORDER BY next_at LIMIT ?", now, PER_RUN)
      .toArray();
    await Promise.all(due.map((hook) => this.send({ ...hook }, now)));
    this.nextSendAt = undefined;
  }

  /** One attempt; the row goes once an answer settles it, or moves to its next try. */
  private async send(hook: QueuedHook, now: number): Promise<void> {
    const attempt = hook.attempt + 1;
    let status: number | null = null;
    let error: string | null = null;
    let retryAfterMs: number | undefined;
    try {
      const res = await fetch(hook.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "fleetbeat-webhooks",
          ...(await signatureHeaders(hook.secret, hook.body, now)),
        },
        body: hook.body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: "manual",
      });
      status = res.status;
      const seconds = Number(res.headers.get("retry-after"));
      if (Number.isFinite(seconds) && seconds > 0) retryAfterMs = seconds * 1000;
      await res.body?.cancel();
      if (!res.ok) error = `the receiver answered ${res.status}`;
    } catch (err) {
      error =
        (err as Error).name === "TimeoutError"
          ? `no answer within ${TIMEOUT_MS / 1000} s`
          : `network: ${(err as Error).message}`;
    }
    const retry = status === null || status >= 500 || status === 429;
    const nextAt = now + Math.max(retryAfterMs ?? 0, Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempt - 1)));
    const givingUp = retry && nextAt - hook.first_at > GIVE_UP_AFTER_MS;
    this.storage.transactionSync(() => {
      this.record("delivery", {
        id: newId("whd", now),
        rule_id: hook.rule_id,
        alert_id: hook.alert_id,
        target_id: hook.target_id,
        state_change: hook.state,
        attempt,
        at: now,
        status,
        error: givingUp ? `${error}; given up after 24 hours of retries` : error,
      });
      if (retry && !givingUp)
        this.storage.sql.exec(
          "UPDATE webhook_queue SET attempt = ?, next_at = ? WHERE id = ?",
          attempt,
          nextAt,
          hook.id,
        );
      else this.storage.sql.exec("DELETE FROM webhook_queue WHERE id = ?", hook.id);
    });
  }

  /** Hands D1 what it has not been told, in order; rows leave the outbox only once D1 has them. */
  private async writeD1(): Promise<void> {
    const rows = this.storage.sql
      .exec<{ id: number; kind: string; record: string }>(
        "SELECT id, kind, record FROM alert_d1_outbox ORDER BY id LIMIT ?",
        D1_PER_RUN,
      )
      .toArray();
    if (rows.length === 0) return;
    // The last word on each alert wins (a batch may hold its firing and its resolution).
    const alerts = new Map<string, AlertRecord>();
    const deliveries: DeliveryRecord[] = [];
    for (const r of rows) {
      if (r.kind === "alert") {
        const a = JSON.parse(r.record) as AlertRecord;
        alerts.set(a.id, a);
      } else deliveries.push(JSON.parse(r.record));
    }
    const db = createDb(this.env.DB);
    await saveAlerts(db, [...alerts.values()]);
    await saveDeliveries(db, deliveries);
    this.storage.sql.exec("DELETE FROM alert_d1_outbox WHERE id <= ?", rows[rows.length - 1]!.id);
    this.d1Waiting = undefined;
  }
}
