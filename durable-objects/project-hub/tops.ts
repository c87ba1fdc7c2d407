// What the overview and errors stats rank: lines and errors per device (from the usage rows),
// per module and per error-message shape (from the devices' tallies), by day of receipt.
// Kept KEEP_DAYS, pruned when the daily job closes a day.
import type { Ranked } from "../../src/contract/tallies";
import { USAGE_FIELDS, type UsageCounters } from "../../src/contract/usage";
import { addDays } from "../../src/lib/time";

const KEEP_DAYS = 90;

export class Tops {
  constructor(private readonly sql: SqlStorage) {}

  private ranked(query: string, by: "lines" | "errors", limit: number, ...args: SqlStorageValue[]): Ranked[] {
    return this.sql.exec<{ key: string; lines: number; errors: number }>(`${query} ORDER BY ${by} DESC, key LIMIT ?`, ...args, limit).toArray();
  }

  /** Totals of the days in [from, to], and the top devices and modules by lines and by errors. */
  overview(from: string, to: string, limit: number) {
    const sums = USAGE_FIELDS.map((f) => `coalesce(sum(${f}), 0) AS ${f}`).join(", ");
    const totals = { ...this.sql.exec<UsageCounters>(`SELECT ${sums} FROM usage_days WHERE day BETWEEN ? AND ?`, from, to).one() };
    const devices = "SELECT device_id AS key, sum(lines) AS lines, sum(errors) AS errors FROM device_days WHERE day BETWEEN ? AND ? GROUP BY device_id";
    const modules = "SELECT key, sum(lines) AS lines, sum(errors) AS errors FROM tallies WHERE kind = 'module' AND day BETWEEN ? AND ? GROUP BY key";
    return {
      totals,
      devices_by_lines: this.ranked(devices, "lines", limit, from, to),
      devices_by_errors: this.ranked(`${devices} HAVING errors > 0`, "errors", limit, from, to),
      modules_by_lines: this.ranked(modules, "lines", limit, from, to),
      modules_by_errors: this.ranked(`${modules} HAVING errors > 0`, "errors", limit, from, to),
    };
  }

  /** The modules with the most ERROR and FATAL lines, and the most repeated error messages. */
  errors(from: string, to: string, limit: number) {
    const of = "SELECT key, sum(lines) AS lines, sum(errors) AS errors FROM tallies WHERE kind = ? AND day BETWEEN ? AND ? GROUP BY key HAVING errors > 0";
    return { modules: this.ranked(of, "errors", limit, "module", from, to), messages: this.ranked(of, "errors", limit, "error_message", from, to) };
  }

  prune(today: string): void {
    const cutoff = addDays(today, -KEEP_DAYS);
    this.sql.exec("DELETE FROM device_days WHERE day < ?", cutoff);
    this.sql.exec("DELETE FROM tallies WHERE day < ?", cutoff);
  }
}
