// Live lines in time order. Each device sends its own batches, so a frame from one device can
// hold lines older than the last one shown from another (a robot that flushes every 5 s sends
// 5 s of lines at once). Lines are put in their place by time as they come (the newest few
// seconds are where a late line lands, so the search starts from the end), and an id already
// shown is not shown twice.
import type { LogView } from "../../../src/contract/log-view";

/** Lines per (time, id), as GET /logs orders a project's lines. */
const before = (a: LogView, b: LogView) =>
  a.timestamp_us < b.timestamp_us || (a.timestamp_us === b.timestamp_us && a.id < b.id);

/**
 * `shown` (in time order) with `incoming` put in their places by time, the oldest dropped past
 * `keep`. Returns `shown` itself when nothing is new. Cost: a late line is found by a search
 * back from the end, so the usual case (a few seconds late) touches only the tail.
 */
export function mergeByTime(shown: LogView[], incoming: LogView[], keep: number): LogView[] {
  if (incoming.length === 0) return shown;
  const tailIds = new Set(shown.slice(-Math.max(incoming.length * 4, 2000)).map((l) => l.id));
  // A line twice in what came (two reads that overlap) is taken once too.
  const fresh = incoming
    .filter((l) => !tailIds.has(l.id) && (tailIds.add(l.id), true))
    .sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  if (fresh.length === 0) return shown;
  const out = shown.slice();
  for (const line of fresh) {
    let at = out.length;
    while (at > 0 && before(line, out[at - 1]!)) at--;
    out.splice(at, 0, line);
  }
  return out.length > keep ? out.slice(out.length - keep) : out;
}
