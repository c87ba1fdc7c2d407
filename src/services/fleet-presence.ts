// The fleet's live presence for the reads that show many devices (GET /fleet/devices, the
// Prometheus scrape, active devices in /stats/usage). D1 holds who the devices are and, in one
// row per project, their statuses as the project last wrote them (at most a minute behind); each project's
// object holds their live presence: the status as of the last transition, last seen and metrics
// as of the device's last delivery (every DELIVERY.everyMs at most; docs/presence.md). A read
// asks each project on the page once, whatever the number of devices.
import { z } from "zod";
import type { ListDevices } from "../contract/fleet";
import type { PresenceReport } from "../contract/presence";
import { decodeCursor, page } from "../contract/cursor";
import type { Db } from "../db/client";
import { type Device, listDevices } from "../db/repos/devices";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { projectHub } from "../stubs/project-hub";
import { presentDevice } from "./presenters";

const IdCursor = z.object({ id: z.string() });

/** The live presence of `ids`, all of one project, and how many of its devices are not offline: one call to its object. */
export async function projectPresence(env: Env, projectId: string, ids: string[]): Promise<{ devices: Record<string, PresenceReport>; active: number }> {
  return projectHub(env, projectId).livePresence(ids);
}

/** The live presence of a page of devices, of any projects: one call per project on the page. */
async function pagePresence(env: Env, rows: readonly Pick<Device, "id" | "projectId">[]): Promise<Map<string, PresenceReport>> {
  const byProject = new Map<string, string[]>();
  for (const d of rows) byProject.set(d.projectId, [...(byProject.get(d.projectId) ?? []), d.id]);
  const live = new Map<string, PresenceReport>();
  await mapLimit([...byProject], FAN_OUT, async ([projectId, ids]) => {
    for (const [id, r] of Object.entries((await projectPresence(env, projectId, ids)).devices)) live.set(id, r);
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
  const devices = items.map((d) => presentDevice(d, live.get(d.id)));
  return { devices: q.status ? devices.filter((d) => d.status === q.status) : devices, next_cursor };
}
