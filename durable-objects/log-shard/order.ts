// Where a stored line stands in a page, the same wherever the line is kept (a hot chunk, the
// archive), so a query finds the same lines in either. Lines are ordered project-wide by event
// time, then device id, then line id: the order of the search cursor.
import type { SearchTerms } from "../../src/contract/fts-query";
import { matchesTerms } from "../../src/contract/fts-query";
import type { LogFilter } from "../../src/contract/logs";
import type { ShardRow } from "./rows";

/** A line's place in the project-wide order. */
export interface Key {
  ts: number;
  device_id: string;
  id: number;
}

/** -1, 0 or 1 as `a` sorts before, with or after `b` in ascending order. */
function compareKeys(a: Key, b: Key): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  if (a.device_id !== b.device_id) return a.device_id < b.device_id ? -1 : 1;
  return a.id === b.id ? 0 : a.id < b.id ? -1 : 1;
}

/** Whether `a` comes before `b` in the page's order. */
export const comesBefore = (order: "asc" | "desc", a: Key, b: Key): boolean =>
  order === "asc" ? compareKeys(a, b) < 0 : compareKeys(a, b) > 0;

/** Whether a row belongs to the page: time, levels, module, session, the cursor and the words. */
export function keepLine(r: ShardRow, f: LogFilter, after: Key | undefined, terms: SearchTerms | undefined): boolean {
  if (f.from !== undefined && r.ts < f.from) return false;
  if (f.to !== undefined && r.ts >= f.to) return false;
  if (f.levels && f.levels.length > 0 && !f.levels.includes(r.level)) return false;
  if (f.module !== undefined && r.module !== f.module) return false;
  if (f.session_id !== undefined && r.session_id !== f.session_id) return false;
  if (after && !comesBefore(f.order, after, r)) return false;
  return terms === undefined || matchesTerms(terms, r.message);
}
