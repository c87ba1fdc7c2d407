// The fleet's live presence for the reads that show many devices (GET /fleet/devices, the
// Prometheus scrape, active devices in /stats/usage). D1 holds who the devices are and, in one
// row per project, their statuses as the project last wrote them (at most a minute behind); each project's
// object holds their live presence: the status as of the last transition, last seen and metrics
// as of the device's last delivery (every DELIVERY.everyMs at most; docs/presence.md). A read
// asks each project on the page once, whatever the number of devices.
import { z } from "zod";
import { ENVIRONMENTS, type Environment } from "../contract/common";
import { decodeCursor, page } from "../contract/cursor";
import type { FleetSummary, ListDevices } from "../contract/fleet";
import type { DeviceStatus, PresenceReport, StatusCounts } from "../contract/presence";
import type { Db } from "../db/client";
import { type Device, listDeviceEnvironments, listDevices } from "../db/repos/devices";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { projectHub } from "../stubs/project-hub";
import { presentDevice } from "./presenters";

const IdCursor = z.object({ id: z.string() });

/**
 * The live presence of `ids`, all of one project, and how many of its devices are not offline: one call to
 * its object.
 */
export async function projectPresence(
  env: Env,
  projectId: string,
  ids: string[],
  opts: { sparklines?: boolean } = {},
): Promise<{ devices: Record<string, PresenceReport>; active: number }> {
  return projectHub(env, projectId).livePresence(ids, opts);
}

/** The live presence of a page of devices, of any projects: one call per project on the page. */
async function pagePresence(
  env: Env,
  rows: readonly Pick<Device, "id" | "projectId">[],
): Promise<Map<string, PresenceReport>> {
  const byProject = new Map<string, string[]>();
  for (const d of rows) byProject.set(d.projectId, [...(byProject.get(d.projectId) ?? []), d.id]);
  const live = new Map<string, PresenceReport>();
  await mapLimit([...byProject], FAN_OUT, async ([projectId, ids]) => {
    for (const [id, r] of Object.entries((await projectPresence(env, projectId, ids, { sparklines: true })).devices))
      live.set(id, r);
  });
  return live;
}

/**
 * A page of GET /fleet/devices: the registry's rows (filters and order from D1) with their live
 * presence laid over them. A status filter reads D1's status, which follows transitions within
 * the project's next batch; a device whose live status no longer matches is left out of the page
 * (which may then hold fewer than `limit`, with a cursor to go on).
 */
export async function listFleet(env: Env, db: Db, orgId: string, q: z.output<typeof ListDevices>) {
  const afterId = decodeCursor(q.cursor, IdCursor)?.id;
  const rows = await listDevices(db, orgId, q, { afterId, limit: q.limit + 1 });
  const { items, next_cursor } = page(rows, q.limit, (d) => ({ id: d.id }));
  const live = await pagePresence(env, items);
  // Each device's sparklines came with its report (src/contract/presence.ts SPARKLINES): no call of their own.
  const devices = items.map((d) => ({
    ...presentDevice(d, live.get(d.id)),
    sparklines: live.get(d.id)?.sparklines ?? {},
  }));
  return { devices: q.status ? devices.filter((d) => d.status === q.status) : devices, next_cursor };
}

/** Devices GET /fleet/summary reads from D1 at once (a project of 10,000 devices: two reads). */
const SUMMARY_PAGE = 5_000;

/**
 * GET /fleet/summary: the project's devices that are not decommissioned, grouped by environment
 * (D1, a page of ids at a time), counted by the project's object in one call from the same live
 * picture GET /fleet/devices shows (a device it never heard from counts as registered: offline),
 * with those that have a firing alert counted beside their status. `counts` is one environment's
 * when `environment` is named, else the project's.
 */
export async function fleetSummary(
  env: Env,
  db: Db,
  projectId: string,
  environment?: Environment,
): Promise<z.output<typeof FleetSummary>> {
  const groups: Record<Environment, string[]> = { production: [], testing: [], development: [] };
  const registered: Record<string, DeviceStatus> = {};
  for (let afterId: string | undefined; ; ) {
    const rows = await listDeviceEnvironments(db, projectId, { afterId, limit: SUMMARY_PAGE });
    for (const r of rows) {
      groups[r.environment].push(r.id);
      if (r.status !== "offline") registered[r.id] = r.status;
    }
    if (rows.length < SUMMARY_PAGE) break;
    afterId = rows[rows.length - 1]!.id;
  }
  const counted = await projectHub(env, projectId).fleetCounts(groups, registered);
  const zero = (): StatusCounts => ({ online: 0, offline: 0, maintenance: 0, error: 0, alerting: 0 });
  const by = Object.fromEntries(ENVIRONMENTS.map((e) => [e, counted[e] ?? zero()])) as Record<
    Environment,
    StatusCounts
  >;
  const counts = environment ? by[environment] : ENVIRONMENTS.reduce((sum, e) => addCounts(sum, by[e]), zero());
  return { counts, by_environment: by };
}

const addCounts = (a: StatusCounts, b: StatusCounts): StatusCounts => ({
  online: a.online + b.online,
  offline: a.offline + b.offline,
  maintenance: a.maintenance + b.maintenance,
  error: a.error + b.error,
  alerting: a.alerting + b.alerting,
});
