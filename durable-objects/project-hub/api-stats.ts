// API analytics of a project (or, in the org's own hub, of calls that touch no project): per
// hour, route pattern and status class, a count and a mergeable latency histogram. The
// Worker batches its records (src/http/api-analytics.ts); no request writes D1.
import type { ApiRecord } from "../../src/contract/api-records";
import { type Histogram, merge } from "../../src/contract/latency-histogram";
import type { ObjectStorage } from "../storage";

/** Hours kept, then pruned when records arrive. */
const KEEP_HOURS = 90 * 24;
const PRUNED_KEY = "api_hours_pruned";
/** Batch ids are remembered this long: far longer than the Worker retries one. */
const BATCHES_KEPT_MS = 86_400_000;

export class ApiStats {
  constructor(private readonly storage: ObjectStorage) {}

  /**
   * Applies the batch `batchId` unless it was applied already (a retried call), with `also`
   * in the same transaction. Answers whether it was new.
   */
  record(batchId: string, records: ApiRecord[], now: number, also: () => void): boolean {
    const sql = this.storage.sql;
    return this.storage.transactionSync(() => {
      if (sql.exec("SELECT 1 FROM api_batches WHERE id = ?", batchId).toArray().length > 0) return false;
      sql.exec("INSERT INTO api_batches (id, at) VALUES (?, ?)", batchId, now);
      also();
      for (const r of records) {
        const row = sql
          .exec<{ hist: string }>(
            "SELECT hist FROM api_hours WHERE hour = ? AND route = ? AND status_class = ?",
            r.hour,
            r.route,
            r.status_class,
          )
          .toArray()[0];
        const hist = row ? merge(JSON.parse(row.hist) as Histogram, r.hist) : r.hist;
        sql.exec(
          `INSERT INTO api_hours (hour, route, status_class, count, hist) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (hour, route, status_class) DO UPDATE SET count = count + excluded.count, hist = excluded.hist`,
          r.hour,
          r.route,
          r.status_class,
          r.count,
          JSON.stringify(hist),
        );
      }
      const newest = Math.max(...records.map((r) => r.hour));
      // Once an hour: what is past keeping goes (the batch ids by a scan: they have no time index, which
      // every flush would pay for).
      if ((this.storage.kv.get<number>(PRUNED_KEY) ?? 0) < newest) {
        sql.exec("DELETE FROM api_hours WHERE hour < ?", newest - KEEP_HOURS);
        sql.exec("DELETE FROM api_batches WHERE at < ?", now - BATCHES_KEPT_MS);
        this.storage.kv.put(PRUNED_KEY, newest);
      }
      return true;
    });
  }

  /** Every row of the hours in [fromHour, toHour]. */
  read(fromHour: number, toHour: number): ApiRecord[] {
    return this.storage.sql
      .exec<{ hour: number; route: string; status_class: string; count: number; hist: string }>(
        "SELECT hour, route, status_class, count, hist FROM api_hours WHERE hour BETWEEN ? AND ? ORDER BY hour, route, status_class",
        fromHour,
        toHour,
      )
      .toArray()
      .map((r) => ({ ...r, hist: JSON.parse(r.hist) as Histogram }));
  }
}
