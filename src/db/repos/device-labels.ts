// What the Loki read API labels a device's streams with (dsn, device type, environment), and
// the project's session ids, read from the registry in a few bounded queries.
import { and, asc, desc, eq, gt, gte, inArray, isNull, lt, or } from "drizzle-orm";
import type { Db } from "../client";
import { devices, sessions } from "../schema";

export interface DeviceLabelRow {
  id: string;
  dsn: string;
  deviceType: string;
  environment: string;
}

const COLUMNS = { id: devices.id, dsn: devices.dsn, deviceType: devices.deviceType, environment: devices.environment };
/** D1 binds at most 100 parameters a statement. */
const IDS_PER_QUERY = 90;

/** The registry labels of these devices of the project (ids of other projects are not found). */
export async function deviceLabelsOf(db: Db, projectId: string, ids: readonly string[]): Promise<DeviceLabelRow[]> {
  const out: DeviceLabelRow[] = [];
  for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
    const chunk = ids.slice(i, i + IDS_PER_QUERY);
    out.push(...(await db.select(COLUMNS).from(devices).where(and(eq(devices.projectId, projectId), inArray(devices.id, chunk)))));
  }
  return out;
}

/** Every device of the project (decommissioned ones too: their lines remain), at most `max`, by id. */
export async function projectDeviceLabels(db: Db, projectId: string, max: number): Promise<DeviceLabelRow[]> {
  const out: DeviceLabelRow[] = [];
  const page = 1000;
  while (out.length < max) {
    const after = out[out.length - 1]?.id;
    const rows = await db
      .select(COLUMNS)
      .from(devices)
      .where(and(eq(devices.projectId, projectId), after ? gt(devices.id, after) : undefined))
      .orderBy(asc(devices.id))
      .limit(Math.min(page, max - out.length));
    out.push(...rows);
    if (rows.length < page) break;
  }
  return out;
}

/** Session ids of the project that ran during [from, to) (ms): started before `to`, not ended before `from`; newest first. */
export async function projectSessionIds(db: Db, projectId: string, range: { from?: number; to?: number }, max: number): Promise<string[]> {
  const rows = await db
    .select({ id: sessions.sessionId })
    .from(sessions)
    .where(
      and(
        eq(sessions.projectId, projectId),
        range.from !== undefined ? or(isNull(sessions.completedAt), gte(sessions.completedAt, range.from)) : undefined,
        range.to !== undefined ? lt(sessions.startedAt, range.to) : undefined,
      ),
    )
    .orderBy(desc(sessions.startedAt))
    .limit(max);
  return rows.map((r) => r.id);
}
