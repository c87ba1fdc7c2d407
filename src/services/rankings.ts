// GET /stats/overview: the totals of the last days, the error rate, and the top devices and
// modules by lines and by errors, for one project or an org.
import type { Ranked } from "../contract/tallies";
import type { Db } from "../db/client";
import { deviceNames } from "../db/repos/devices";
import type { StatsScope } from "../db/repos/stats";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { DAY_MS, utcDay } from "../lib/time";
import { projectHub } from "../stubs/project-hub";
import { freshCounts } from "./fresh-counts";
import { add, projectIdsOf, zero } from "./stats-scope";

const TOP = 10;

/** Merges rankings from several projects: sums by key, then the top TOP by `by`. */
function mergeRanked(lists: Ranked[][], by: "lines" | "errors"): Ranked[] {
  const sums = new Map<string, Ranked>();
  for (const r of lists.flat()) {
    const s = sums.get(r.key) ?? { key: r.key, lines: 0, errors: 0 };
    s.lines += r.lines;
    s.errors += r.errors;
    sums.set(r.key, s);
  }
  return [...sums.values()].sort((a, b) => b[by] - a[by] || a.key.localeCompare(b.key)).slice(0, TOP);
}

/**
 * GET /stats/overview: the last `days` UTC days (today included) by day of receipt: totals,
 * error rate, and the top devices and modules by lines and by errors. An org merges each
 * project's top lists (so a module's rank across projects is from their tops).
 */
export async function overview(env: Env, db: Db, scope: StatsScope, orgId: string, days: number, now: number) {
  const to = utcDay(now);
  const from = utcDay(now - (days - 1) * DAY_MS);
  const ids = "projectId" in scope ? [scope.projectId] : await projectIdsOf(db, scope.orgId);
  await freshCounts(env, ids);
  const parts = await mapLimit(ids, FAN_OUT, (id) => projectHub(env, id).overview(from, to, TOP));
  const totals = zero();
  for (const p of parts) add(totals, p.totals);
  const byLines = mergeRanked(
    parts.map((p) => p.devices_by_lines),
    "lines",
  );
  const byErrors = mergeRanked(
    parts.map((p) => p.devices_by_errors),
    "errors",
  );
  const names = await deviceNames(db, orgId, [...new Set([...byLines, ...byErrors].map((d) => d.key))]);
  const device = (d: Ranked) => ({
    device_id: d.key,
    name: names.get(d.key) ?? null,
    lines: d.lines,
    errors: d.errors,
  });
  const module = (m: Ranked) => ({ module: m.key, lines: m.lines, errors: m.errors });
  return {
    ...("projectId" in scope ? { project_id: scope.projectId } : { org_id: scope.orgId }),
    from,
    to,
    totals,
    error_rate: totals.logs === 0 ? 0 : totals.error_lines / totals.logs,
    top_devices: { by_lines: byLines.map(device), by_errors: byErrors.map(device) },
    top_modules: {
      by_lines: mergeRanked(
        parts.map((p) => p.modules_by_lines),
        "lines",
      ).map(module),
      by_errors: mergeRanked(
        parts.map((p) => p.modules_by_errors),
        "errors",
      ).map(module),
    },
  };
}
