// Whether one stored line belongs to a search page: the same rules wherever the line is kept
// (a hot chunk, the archive), so a query finds the same lines in either.
import type { SearchTerms } from "../../src/contract/fts-query";
import { matchesTerms } from "../../src/contract/fts-query";
import type { LogFilter } from "../../src/contract/logs";
import type { LogRow } from "./rows";

/** A position among this device's own lines, in (ts, id) order. */
export type Position = { ts: number; id: number };

/**
 * The page's cursor as a position among this device's own rows: another device's cursor at
 * timestamp t lets this device's rows at t through when this device sorts after it (the
 * project-wide order is time, then device id, then row id).
 */
export function ownCursor(f: LogFilter, me: string): Position | undefined {
  const c = f.after;
  if (!c) return undefined;
  if (c.device_id === me) return { ts: c.ts, id: c.id };
  const asc = f.order === "asc";
  const sortsAfter = asc ? me > c.device_id : me < c.device_id;
  const beforeAll = asc ? -1 : Number.MAX_SAFE_INTEGER;
  return { ts: c.ts, id: sortsAfter ? beforeAll : asc ? Number.MAX_SAFE_INTEGER : -1 };
}

/** Whether `a` comes before `b` in the page's order. */
export const comesBefore = (order: "asc" | "desc", a: Position, b: Position): boolean =>
  order === "asc" ? a.ts < b.ts || (a.ts === b.ts && a.id < b.id) : a.ts > b.ts || (a.ts === b.ts && a.id > b.id);

/** Whether a row belongs to the page: time, levels, module, session, the cursor and the words. */
export function keepLine(r: LogRow, f: LogFilter, after: Position | undefined, terms: SearchTerms | undefined): boolean {
  if (f.from !== undefined && r.ts < f.from) return false;
  if (f.to !== undefined && r.ts >= f.to) return false;
  if (f.levels && f.levels.length > 0 && !f.levels.includes(r.level)) return false;
  if (f.module !== undefined && r.module !== f.module) return false;
  if (f.session_id !== undefined && r.session_id !== f.session_id) return false;
  if (after && !comesBefore(f.order, after, r)) return false;
  return terms === undefined || matchesTerms(terms, r.message);
}
