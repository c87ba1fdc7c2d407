// The org's audit log, in the org's own hub (a ProjectHub named `org:<org id>`), where the org's
// mutations already meet: one SQLite row per event, written once and never changed. Its key is
// the event's id, its time in ms times 1,024 plus its order within that ms, so the table is in
// time order with no index to pay for (an index entry is a billed row): a time range is a key
// range, and the other filters ride a bounded scan of it.
//
// Append-only: nothing updates a row, and the only delete is of rows older than the tier's
// audit retention, a batch at a time as events arrive.
import { AUDIT_ID_PER_MS, type AuditEntry, type AuditEvent, type AuditFilter } from "../../src/contract/audit";
import type { ObjectStorage } from "../storage";

/** The most rows one page reads, matching or not: a page that found too few ends with a cursor to go on. */
const AUDIT_SCAN = { rows: 5_000 };
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

  /** Stamps each entry with an id and a time, now, and stores it: one row each; then deletes a batch of events older than `keepAfter` (ms). */
  append(entries: AuditEntry[], now: number, keepAfter: number): AuditEvent[] {
    const sql = this.storage.sql;
    this.lastId ??= sql.exec<{ id: number | null }>("SELECT max(id) AS id FROM audit_events").one().id ?? 0;
    const events = entries.map((entry) => {
      const id = Math.max(this.lastId! + 1, now * AUDIT_ID_PER_MS);
      this.lastId = id;
      const event: AuditEvent = { id: String(id), at: new Date(Math.floor(id / AUDIT_ID_PER_MS)).toISOString(), ...entry };
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
    sql.exec("DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE id < ? ORDER BY id LIMIT ?)", keepAfter * AUDIT_ID_PER_MS, PRUNE_BATCH);
    return events;
  }

  /**
   * Up to `limit` events matching `filter` (each as its JSON), newest first, older than `filter.before` (an id). `next`
   * is where the next page starts: the last event's id, or where a page's scan stopped; null at the end.
   */
  page(filter: AuditFilter, limit: number): { events: string[]; next: number | null } {
    const upper = Math.min(filter.before ?? Number.MAX_SAFE_INTEGER, filter.to === undefined ? Number.MAX_SAFE_INTEGER : (filter.to + 1) * AUDIT_ID_PER_MS);
    const lower = filter.from === undefined ? 0 : filter.from * AUDIT_ID_PER_MS;
    const [actor, target, project, action] = [filter.actor ?? null, filter.target ?? null, filter.project_id ?? null, filter.action ?? null];
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
      .exec<{ id: number }>("SELECT id FROM audit_events WHERE id < ? AND id >= ? ORDER BY id DESC LIMIT 1 OFFSET ?", upper, lower, AUDIT_SCAN.rows - 1)
      .toArray()[0];
    return { events, next: bound?.id ?? null };
  }
}
