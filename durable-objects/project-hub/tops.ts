// What the overview and errors stats rank: lines and errors per device (from the usage rows),
// per module and per error-message shape (from the devices' tallies), by day of receipt.
// Packed one row per day each (`device_day_sets`, `tally_days`), so a fold writes a row or two
// a day however many devices and modules delivered; read together with what is not folded
// yet. Kept KEEP_DAYS, pruned when the daily job closes a day.
import type { Ranked } from "../../src/contract/tallies";
import type { UsageCounters } from "../../src/contract/usage";
import { addDays } from "../../src/lib/time";
import type { Delta, Pair } from "../intake";
import type { Sql } from "../storage";

const KEEP_DAYS = 90;
/**
 * A day keeps at most this many modules and as many error-message shapes, the largest (so its
 * row stays far under SQLite's 2 MB); what a ranking shows is a few dozen.
 */
const KEYS_PER_DAY = 5_000;

type Keys = Record<string, Pair>;
type Kinds = NonNullable<Delta["tallies"]>[string];

function addAll(into: Keys, from: Keys): void {
  for (const [key, [lines, errors]] of Object.entries(from)) {
    const t = (into[key] ??= [0, 0]);
    t[0] += lines;
    t[1] += errors;
  }
}

/** Adds the devices' days to their rows: one row written per day. */
export function foldDeviceDays(sql: Sql, devices: NonNullable<Delta["devices"]>): void {
  for (const [day, ids] of Object.entries(devices)) {
    const row = sql.exec<{ devices: string }>("SELECT devices FROM device_day_sets WHERE day = ?", day).toArray()[0];
    const all = row ? (JSON.parse(row.devices) as Keys) : {};
    addAll(all, ids);
    sql.exec(
      "INSERT INTO device_day_sets (day, devices) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET devices = excluded.devices",
      day,
      JSON.stringify(all),
    );
  }
}

/** Adds the tallies to their rows: one row written per day. */
export function foldTallies(sql: Sql, tallies: NonNullable<Delta["tallies"]>): void {
  for (const [day, kinds] of Object.entries(tallies)) {
    const row = sql.exec<{ tallies: string }>("SELECT tallies FROM tally_days WHERE day = ?", day).toArray()[0];
    const all = row ? (JSON.parse(row.tallies) as Kinds) : {};
    for (const [kind, keys] of Object.entries(kinds) as [keyof Kinds, Keys][]) {
      const into = (all[kind] ??= {});
      addAll(into, keys);
      if (Object.keys(into).length > KEYS_PER_DAY) {
        const by = kind === "module" ? 0 : 1;
        all[kind] = Object.fromEntries(
          Object.entries(into)
            .sort((a, b) => b[1][by] - a[1][by])
            .slice(0, KEYS_PER_DAY),
        );
      }
    }
    sql.exec(
      "INSERT INTO tally_days (day, tallies) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET tallies = excluded.tallies",
      day,
      JSON.stringify(all),
    );
  }
}

/** The top `limit` by lines or errors (ties by key), of those with any. */
function ranked(sums: Map<string, Pair>, by: "lines" | "errors", limit: number): Ranked[] {
  const i = by === "lines" ? 0 : 1;
  return [...sums]
    .filter(([, p]) => p[i] > 0)
    .sort((a, b) => b[1][i] - a[1][i] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, limit)
    .map(([key, [lines, errors]]) => ({ key, lines, errors }));
}

export class Tops {
  constructor(
    private readonly sql: Sql,
    /** The usage counters of the days in [from, to], folded or not. */
    private readonly totals: (from: string, to: string) => UsageCounters,
    /** What deliveries brought that is not folded yet. */
    private readonly unfolded: () => Delta,
  ) {}

  /** Stored sums of one packed column (SQLite unpacks it), plus what is not folded. */
  private sums(query: string, args: SqlStorageValue[], pending: (Keys | undefined)[]): Map<string, Pair> {
    const sums = new Map<string, Pair>();
    for (const r of this.sql.exec<{ key: string; lines: number; errors: number }>(query, ...args))
      sums.set(r.key, [r.lines, r.errors]);
    for (const keys of pending) {
      for (const [key, [lines, errors]] of Object.entries(keys ?? {})) {
        const t = sums.get(key) ?? [0, 0];
        sums.set(key, [t[0] + lines, t[1] + errors]);
      }
    }
    return sums;
  }

  private unfoldedDays<T>(part: Record<string, T> | undefined, from: string, to: string): T[] {
    return Object.entries(part ?? {})
      .filter(([day]) => day >= from && day <= to)
      .map(([, v]) => v);
  }

  private devices(from: string, to: string): Map<string, Pair> {
    const query = `SELECT j.key AS key, sum(j.value ->> 0) AS lines, sum(j.value ->> 1) AS errors
      FROM device_day_sets d, json_each(d.devices) j WHERE d.day BETWEEN ? AND ? GROUP BY j.key`;
    return this.sums(query, [from, to], this.unfoldedDays(this.unfolded().devices, from, to));
  }

  private tallies(kind: keyof Kinds, from: string, to: string): Map<string, Pair> {
    const query = `SELECT j.key AS key, sum(j.value ->> 0) AS lines, sum(j.value ->> 1) AS errors
      FROM tally_days t, json_each(t.tallies, ?) j WHERE t.day BETWEEN ? AND ? GROUP BY j.key`;
    const pending = this.unfoldedDays(this.unfolded().tallies, from, to).map((k) => k[kind]);
    return this.sums(query, [`$.${kind}`, from, to], pending);
  }

  /** Totals of the days in [from, to], and the top devices and modules by lines and by errors. */
  overview(from: string, to: string, limit: number) {
    const devices = this.devices(from, to);
    const modules = this.tallies("module", from, to);
    return {
      totals: this.totals(from, to),
      devices_by_lines: ranked(devices, "lines", limit),
      devices_by_errors: ranked(devices, "errors", limit),
      modules_by_lines: ranked(modules, "lines", limit),
      modules_by_errors: ranked(modules, "errors", limit),
    };
  }

  /** The modules with the most ERROR and FATAL lines, and the most repeated error messages. */
  errors(from: string, to: string, limit: number) {
    return {
      modules: ranked(this.tallies("module", from, to), "errors", limit),
      messages: ranked(this.tallies("error_message", from, to), "errors", limit),
    };
  }

  /** The devices active on `day` (folded ones: the daily job closes a day after folding it). */
  activeOn(day: string): number {
    return this.sql
      .exec<{ n: number }>("SELECT count(*) AS n FROM device_day_sets d, json_each(d.devices) WHERE d.day = ?", day)
      .one().n;
  }

  /** Devices active on any day from `since` on, folded or not. */
  activeSince(since: string): number {
    const ids = new Set(
      this.sql
        .exec<{ id: string }>(
          "SELECT DISTINCT j.key AS id FROM device_day_sets d, json_each(d.devices) j WHERE d.day >= ?",
          since,
        )
        .toArray()
        .map((r) => r.id),
    );
    for (const [day, devices] of Object.entries(this.unfolded().devices ?? {}))
      if (day >= since) for (const id of Object.keys(devices)) ids.add(id);
    return ids.size;
  }

  prune(today: string): void {
    const cutoff = addDays(today, -KEEP_DAYS);
    this.sql.exec("DELETE FROM device_day_sets WHERE day < ?", cutoff);
    this.sql.exec("DELETE FROM tally_days WHERE day < ?", cutoff);
  }
}
