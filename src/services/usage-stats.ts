// GET /stats/usage, /stats/daily and /stats/monthly: live usage from the ProjectHubs, and the
// days and months the jobs wrote to D1, for one project or summed over an org.
import type { Tier } from "../contract/tiers";
import { usageLimits } from "../contract/tiers";
import type { Db } from "../db/client";
import { countLiveDevices } from "../db/repos/devices";
import type { MonthlyRow, StatsScope } from "../db/repos/stats";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { utcDay } from "../lib/time";
import { orgHub, projectHub } from "../stubs/project-hub";
import { projectPresence } from "./fleet-presence";
import { freshCounts } from "./fresh-counts";
import { DAY_COUNTERS } from "./month-close";
import { add, projectIdsOf, zero } from "./stats-scope";

/** GET /stats/usage: this month's counters, today's and lifetime, with the tier's limit beside each. */
export async function liveUsage(env: Env, db: Db, scope: StatsScope, tier: Tier, now: number) {
  const day = utcDay(now);
  const month = day.slice(0, 7);
  const projectIds = "projectId" in scope ? [scope.projectId] : await projectIdsOf(db, scope.orgId);
  await freshCounts(env, projectIds);
  const parts = await mapLimit(projectIds, FAN_OUT, async (id) => {
    // Active: not offline, as the project's live picture has it (a transition reaches it at once).
    const [usage, devices, live] = await Promise.all([
      projectHub(env, id).usage(month, day),
      countLiveDevices(db, id),
      projectPresence(env, id, []),
    ]);
    return { ...usage, devices, active_devices: live.active };
  });
  const sum = { month: zero(), today: zero(), lifetime: zero(), devices: 0, active_devices: 0, storage_bytes: 0 };
  if ("orgId" in scope) {
    // Calls that touched no project (GET /projects, /keys, /me) are the org's own.
    const own = await orgHub(env, scope.orgId).usage(month, day);
    add(sum.month, own.month);
    add(sum.today, own.today);
    add(sum.lifetime, own.lifetime);
  }
  for (const p of parts) {
    add(sum.month, p.month);
    add(sum.today, p.today);
    add(sum.lifetime, p.lifetime);
    sum.devices += p.devices;
    sum.active_devices += p.active_devices;
    sum.storage_bytes += p.storage_bytes;
  }
  const at = new Date(now);
  return {
    ...("projectId" in scope ? { project_id: scope.projectId } : { org_id: scope.orgId }),
    month,
    tier,
    resets_at: new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)).toISOString(),
    ...sum.month,
    // As the hourly job last counted it in R2 (artifacts and archived logs).
    storage_bytes: sum.storage_bytes,
    devices: sum.devices,
    active_devices: sum.active_devices,
    limits: usageLimits(tier),
    today: { day, ...sum.today },
    lifetime: sum.lifetime,
  };
}

/** A daily_stats row (or an org's sum of one day) as the contract names it. */
export function presentDay(d: {
  date: string;
  projectId?: string;
  logs: number;
  logBytes: number;
  sessions: number;
  heartbeats: number;
  deviceMessagesIn: number;
  deviceMessagesOut: number;
  apiCalls: number;
  commands: number;
  artifactBytes: number;
  storageBytes: number;
  devices: number;
  activeDevices: number;
  errorLines: number;
}) {
  return {
    date: d.date,
    ...(d.projectId ? { project_id: d.projectId } : {}),
    logs: d.logs,
    log_bytes: d.logBytes,
    sessions: d.sessions,
    heartbeats: d.heartbeats,
    device_messages_in: d.deviceMessagesIn,
    device_messages_out: d.deviceMessagesOut,
    api_calls: d.apiCalls,
    commands: d.commands,
    artifact_bytes: d.artifactBytes,
    storage_bytes: d.storageBytes,
    devices: d.devices,
    active_devices: d.activeDevices,
    error_lines: d.errorLines,
    error_rate: d.logs === 0 ? 0 : d.errorLines / d.logs,
  };
}

const presentMonthRow = (m: Omit<MonthlyRow, "orgId" | "createdAt" | "projectId"> & { projectId?: string }) => ({
  month: m.month,
  ...(m.projectId ? { project_id: m.projectId } : {}),
  logs: m.logs,
  log_bytes: m.logBytes,
  sessions: m.sessions,
  heartbeats: m.heartbeats,
  device_messages_in: m.deviceMessagesIn,
  device_messages_out: m.deviceMessagesOut,
  api_calls: m.apiCalls,
  commands: m.commands,
  artifact_bytes: m.artifactBytes,
  error_lines: m.errorLines,
  peak_storage_bytes: m.peakStorageBytes,
  tier: m.tier,
  exceeded_limits: m.exceededLimits,
  overage_charge: { currency: "USD", cents: m.overageCents },
});

/** Monthly rows as the contract names them; for an org, one row per month summed over its projects. */
export function presentMonths(rows: MonthlyRow[], scope: StatsScope) {
  if ("projectId" in scope) return rows.map(presentMonthRow);
  const byMonth = new Map<string, MonthlyRow>();
  for (const r of rows) {
    const m = byMonth.get(r.month);
    if (!m) {
      byMonth.set(r.month, { ...r, exceededLimits: [...r.exceededLimits] });
      continue;
    }
    for (const k of [...DAY_COUNTERS, "peakStorageBytes", "overageCents"] as const) m[k] += r[k];
    m.exceededLimits = [...new Set([...m.exceededLimits, ...r.exceededLimits])];
  }
  return [...byMonth.values()].map(({ projectId: _p, ...m }) => presentMonthRow(m));
}
