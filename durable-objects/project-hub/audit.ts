// The org's audit log, in the org's own hub (a ProjectHub named `org:<org id>`), where the org's
// mutations already meet: one SQLite row per event, written once and never changed. Its key is
// the event's id, its time in ms times 1,024 plus its order within that ms, so the table is in
// time order with no index to pay for (an index entry is a billed row): a time range is a key
// range, and the other filters ride a bounded scan of it.
//
// Append-only: nothing updates a row, and the only delete is of rows older than the tier's
// audit retention, a batch at a time as events arrive.
import {
  type ActivityDay,
  AUDIT_ID_PER_MS,
  type AuditEntry,
  type AuditEvent,
  type AuditFilter,
} from "../../src/contract/audit";
import type { ObjectStorage } from "../storage";

/** The most rows one page reads, matching or not: a page that found too few ends with a cursor to go on. */
const AUDIT_SCAN = { rows: 5_000 };
const DAY = 86_400_000;
/** The most events one activity read counts (a range of up to 92 days and the 29 before it). */
const ACTIVITY_ROWS = 500_000;

/** Expired events deleted per append, so retention never makes one request slow. */
const PRUNE_BATCH = 100;

interface EventRow extends Record<string, SqlStorageValue> {
  id: number;
  event: string;
}

export class AuditLog {
  /** The last id given (memory; read from the table after a restart). */
  private lastId: number | null = null;

  constructor(private readonly storage: ObjectStorage) {}

  /**
   * Stamps each entry with an id and a time, now, and stores it: one row each; then deletes a batch of events
   * older than `keepAfter` (ms).
   */
  append(entries: AuditEntry[], now: number, keepAfter: number): AuditEvent[] {
    const sql = this.storage.sql;
    this.lastId ??= sql.exec<{ id: number | null }>("SELECT max(id) AS id FROM audit_events").one().id ?? 0;
    const events = entries.map((entry) => {
      const id = Math.max(this.lastId! + 1, now * AUDIT_ID_PER_MS);
      this.lastId = id;
      const event: AuditEvent = {
        id: String(id),
        at: new Date(Math.floor(id / AUDIT_ID_PER_MS)).toISOString(),
        ...entry,
      };
      sql.exec(
        "INSERT INTO audit_events (id, actor_id, action, target_id, project_id, event) VALUES (?, ?, ?, ?, ?, ?)",
        id,
        entry.actor.id,
        entry.action,
        entry.target.id,
        entry.project_id ?? null,
        JSON.stringify(event),
      );
      return event;
    });
    sql.exec(
      "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE id < ? ORDER BY id LIMIT ?)",
      keepAfter * AUDIT_ID_PER_MS,
      PRUNE_BATCH,
    );
    return events;
  }

  /**
   * Up to `limit` events matching `filter` (each as its JSON), newest first, older than `filter.before` (an id). `next`
   * is where the next page starts: the last event's id, or where a page's scan stopped; null at the end.
   */
  page(filter: AuditFilter, limit: number): { events: string[]; next: number | null } {
    const upper = Math.min(
      filter.before ?? Number.MAX_SAFE_INTEGER,
      filter.to === undefined ? Number.MAX_SAFE_INTEGER : (filter.to + 1) * AUDIT_ID_PER_MS,
    );
    const lower = filter.from === undefined ? 0 : filter.from * AUDIT_ID_PER_MS;
    const [actor, target, project, action] = [
      filter.actor ?? null,
      filter.target ?? null,
      filter.project_id ?? null,
      filter.action ?? null,
    ];
    const rows = this.storage.sql
      .exec<EventRow>(
        `SELECT id, event FROM (SELECT * FROM audit_events WHERE id < ? AND id >= ? ORDER BY id DESC LIMIT ?)
         WHERE (? IS NULL OR actor_id = ?) AND (? IS NULL OR target_id = ?) AND (? IS NULL OR project_id = ?)
           AND (? IS NULL OR action = ? OR action LIKE ? || '.%')
         ORDER BY id DESC LIMIT ?`,
        upper,
        lower,
        AUDIT_SCAN.rows,
        actor,
        actor,
        target,
        target,
        project,
        project,
        action,
        action,
        action,
        limit,
      )
      .toArray();
    const events = rows.map((r) => r.event);
    if (events.length === limit) return { events, next: rows.at(-1)!.id };
    // Fewer than asked: the end, unless the scan stopped at its bound (the next page scans on from there).
    const bound = this.storage.sql
      .exec<{ id: number }>(
        "SELECT id FROM audit_events WHERE id < ? AND id >= ? ORDER BY id DESC LIMIT 1 OFFSET ?",
        upper,
        lower,
        AUDIT_SCAN.rows - 1,
      )
      .toArray()[0];
    return { events, next: bound?.id ?? null };
  }

  /**
   * Activity per UTC day from `from` to `to` (YYYY-MM-DD, inclusive), counted from the events:
   * people active that day, in the 7 and 30 days ending with it, and what happened. Reads the
   * events from 29 days before `from` (for the monthly count) up to the end of `to`.
   */
  activity(from: string, to: string): ActivityDay[] {
    const start = Date.parse(`${from}T00:00:00Z`) - 29 * DAY;
    const end = Date.parse(`${to}T00:00:00Z`) + DAY;
    const rows = this.storage.sql
      .exec<{ id: number; actor_id: string; kind: string; action: string; status: string | null }>(
        `SELECT id, actor_id, json_extract(event, '$.actor.kind') AS kind, action, json_extract(event, '$.summary.status') AS status
         FROM audit_events WHERE id >= ? AND id < ? ORDER BY id LIMIT ?`,
        start * AUDIT_ID_PER_MS,
        end * AUDIT_ID_PER_MS,
        ACTIVITY_ROWS,
      )
      .toArray();
    const byDay = new Map<string, typeof rows>();
    for (const r of rows) {
      const day = new Date(Math.floor(r.id / AUDIT_ID_PER_MS)).toISOString().slice(0, 10);
      let list = byDay.get(day);
      if (!list) byDay.set(day, (list = []));
      list.push(r);
    }
    // Each day's people, once: the weekly and monthly counts read 7 and 30 days of them.
    const people = new Map(
      [...byDay].map(([day, list]) => [
        day,
        new Set(list.filter((r) => r.kind === "person" && r.actor_id !== "unknown").map((r) => r.actor_id)),
      ]),
    );
    const peopleOn = (day: string) => people.get(day) ?? new Set<string>();
    const activeOver = (endDay: string, days: number) => {
      const people = new Set<string>();
      for (let i = 0; i < days; i++)
        for (const p of peopleOn(new Date(Date.parse(`${endDay}T00:00:00Z`) - i * DAY).toISOString().slice(0, 10)))
          people.add(p);
      return people.size;
    };
    const out: ActivityDay[] = [];
    for (let t = Date.parse(`${from}T00:00:00Z`); t < end; t += DAY) {
      const date = new Date(t).toISOString().slice(0, 10);
      const list = byDay.get(date) ?? [];
      const n = (action: string, status?: string[]) =>
        list.filter((r) => r.action === action && (status === undefined || status.includes(r.status ?? ""))).length;
      out.push({
        date,
        active_people: peopleOn(date).size,
        weekly_active_people: activeOver(date, 7),
        monthly_active_people: activeOver(date, 30),
        sign_ins: n("person.signed_in"),
        failed_sign_ins: n("person.sign_in_failed"),
        commands_sent: n("command.sent"),
        commands_succeeded: n("command.acked", ["succeeded"]),
        commands_failed: n("command.acked", ["failed", "rejected"]),
        commands_expired: n("command.expired"),
        devices_registered: n("device.registered"),
        devices_connected: n("device.connected"),
        devices_disconnected: n("device.disconnected"),
        keys_created: n("key.created"),
        keys_revoked: n("key.revoked"),
      });
    }
    return out;
  }
}
