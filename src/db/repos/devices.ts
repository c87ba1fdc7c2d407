// The device registry: who the devices are (written at registration and by operators) and
// their presence (written by each device's DeviceHub).
import { type AnyColumn, type SQL, and, asc, count, eq, gt, inArray, isNull, lt, or, sql } from "drizzle-orm";
import type { z } from "zod";
import type { Environment } from "../../contract/common";
import type { Db } from "../client";
import { devices } from "../schema";
import { newId } from "../../lib/crypto";
import type { DeviceStatus, ListDevices } from "../../contract/fleet";

export type Device = typeof devices.$inferSelect;

/** What a registration says about the device; without a name or deviceInfo, a re-registration keeps the stored ones. */
export interface Registration {
  orgId: string;
  projectId: string;
  dsn: string;
  deviceType: string;
  environment: Environment;
  heartbeatIntervalMs: number;
  name?: string;
  deviceInfo?: Record<string, unknown>;
}

/**
 * Adds the device, or, when its DSN is already registered in the project, re-registers that
 * device: it keeps its id and history, and is no longer decommissioned.
 */
export async function upsertRegisteredDevice(db: Db, r: Registration): Promise<Device> {
  const now = Date.now();
  const { orgId, projectId, dsn, name, deviceInfo, ...registered } = r;
  const renewed = { ...registered, decommissionedAt: null };
  // A name or device_info given now replaces the old one; otherwise an operator's rename stays.
  const given = { ...(name ? { name } : {}), ...(deviceInfo ? { deviceInfo } : {}) };
  const [device] = await db
    .insert(devices)
    .values({
      id: newId("dev", now),
      orgId,
      projectId,
      dsn,
      status: "offline",
      registeredAt: now,
      name: name ?? dsn,
      deviceInfo: deviceInfo ?? null,
      ...renewed,
    })
    .onConflictDoUpdate({ target: [devices.projectId, devices.dsn], set: { ...renewed, ...given } })
    .returning();
  return device!;
}

/** A device of the org; a device of another org is not found, like a missing one. */
export async function findDeviceOfOrg(db: Db, orgId: string, deviceId: string): Promise<Device | undefined> {
  return db.query.devices.findFirst({ where: and(eq(devices.id, deviceId), eq(devices.orgId, orgId)) });
}

export type DeviceFilter = Pick<z.output<typeof ListDevices>, "project_id" | "environment" | "status" | "type" | "q" | "include_decommissioned">;

// A literal, case-insensitive substring test. (D1 caps LIKE patterns at 50 bytes, and LIKE
// would make % and _ in the user's text wildcards.)
const contains = (column: AnyColumn, text: string) => sql`instr(lower(${column}), lower(${text})) > 0`;

/**
 * At most `limit` of the org's devices after `afterId`, by id. Ids sort by creation, so
 * paging returns every device exactly once even while devices register.
 */
export async function listDevices(db: Db, orgId: string, f: DeviceFilter, page: { afterId?: string; limit: number }): Promise<Device[]> {
  return db
    .select()
    .from(devices)
    .where(deviceConditions(orgId, f, page.afterId))
    .orderBy(asc(devices.id))
    .limit(page.limit);
}

function deviceConditions(orgId: string, f: Partial<DeviceFilter>, afterId: string | undefined): SQL | undefined {
  const conditions: (SQL | undefined)[] = [
    eq(devices.orgId, orgId),
    f.project_id ? eq(devices.projectId, f.project_id) : undefined,
    f.environment ? eq(devices.environment, f.environment) : undefined,
    f.status ? eq(devices.status, f.status) : undefined,
    f.type ? eq(devices.deviceType, f.type) : undefined,
    f.include_decommissioned === "true" ? undefined : isNull(devices.decommissionedAt),
    afterId ? gt(devices.id, afterId) : undefined,
    f.q ? or(contains(devices.name, f.q), contains(devices.dsn, f.q)) : undefined,
  ];
  return and(...conditions);
}

/**
 * The registry's presence of a page of devices, as listDevices filters and orders them, with
 * only the columns a metrics scrape reads (not device_info, which may be kilobytes each).
 */
export async function listDevicePresence(db: Db, orgId: string, f: Partial<DeviceFilter>, page: { afterId?: string; limit: number }) {
  return db
    .select({
      id: devices.id,
      dsn: devices.dsn,
      deviceType: devices.deviceType,
      environment: devices.environment,
      status: devices.status,
      lastSeenAt: devices.lastSeenAt,
      lastHeartbeatAt: devices.lastHeartbeatAt,
      metrics: devices.metrics,
    })
    .from(devices)
    .where(deviceConditions(orgId, f, page.afterId))
    .orderBy(asc(devices.id))
    .limit(page.limit);
}

/** At most `limit` ids of the project's devices after `afterId`, decommissioned ones included. */
export async function listDeviceIdsOfProject(db: Db, projectId: string, page: { afterId?: string; limit: number }): Promise<string[]> {
  const rows = await db
    .select({ id: devices.id })
    .from(devices)
    .where(and(eq(devices.projectId, projectId), page.afterId ? gt(devices.id, page.afterId) : undefined))
    .orderBy(asc(devices.id))
    .limit(page.limit);
  return rows.map((r) => r.id);
}

/** Devices of the project that are not decommissioned. */
export async function countLiveDevices(db: Db, projectId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(devices)
    .where(and(eq(devices.projectId, projectId), isNull(devices.decommissionedAt)));
  return row!.n;
}

/** Devices of the org that are not decommissioned, as the tier's devices limit counts them. */
export async function countLiveDevicesOfOrg(db: Db, orgId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(devices)
    .where(and(eq(devices.orgId, orgId), isNull(devices.decommissionedAt)));
  return row!.n;
}

/** Whether a DSN names a live device of the project, a decommissioned one, or none yet. */
export async function dsnState(db: Db, projectId: string, dsn: string): Promise<"live" | "decommissioned" | "absent"> {
  const [row] = await db
    .select({ decommissionedAt: devices.decommissionedAt })
    .from(devices)
    .where(and(eq(devices.projectId, projectId), eq(devices.dsn, dsn)))
    .limit(1);
  return !row ? "absent" : row.decommissionedAt === null ? "live" : "decommissioned";
}

/** Removes a registry row outright: only for a device just added and never provisioned. */
export async function deleteDeviceRow(db: Db, deviceId: string): Promise<void> {
  await db.delete(devices).where(eq(devices.id, deviceId));
}

/** An operator's rename or move; undefined fields stay as they are. */
export async function updateDeviceLabels(db: Db, deviceId: string, labels: { name?: string; environment?: Environment }): Promise<void> {
  if (labels.name === undefined && labels.environment === undefined) return;
  await db.update(devices).set(labels).where(eq(devices.id, deviceId));
}

export async function markDecommissioned(db: Db, deviceId: string, at: number): Promise<void> {
  await db.update(devices).set({ decommissionedAt: at, status: "offline" }).where(eq(devices.id, deviceId));
}

/** A device's presence as its DeviceHub last knew it; `version` only ever grows. */
export interface PresenceUpdate {
  deviceId: string;
  status: z.output<typeof DeviceStatus>;
  lastSeenAt: number | null;
  lastHeartbeatAt: number | null;
  metrics: Record<string, number> | null;
  currentSessionId: string | null;
  lastLogAt: number | null;
  version: number;
}

/** Writes the presence row unless D1 already holds a newer version: a late write never undoes a newer one. */
export async function writePresence(db: Db, p: PresenceUpdate): Promise<void> {
  await db
    .update(devices)
    .set({
      status: p.status,
      lastSeenAt: p.lastSeenAt,
      lastHeartbeatAt: p.lastHeartbeatAt,
      metrics: p.metrics,
      currentSessionId: p.currentSessionId,
      lastLogAt: p.lastLogAt,
      presenceVersion: p.version,
    })
    .where(and(eq(devices.id, p.deviceId), lt(devices.presenceVersion, p.version)));
}

/** Names of the given devices of the org, by id (for rankings). */
export async function deviceNames(db: Db, orgId: string, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select({ id: devices.id, name: devices.name })
    .from(devices)
    .where(and(eq(devices.orgId, orgId), inArray(devices.id, ids)));
  return new Map(rows.map((r) => [r.id, r.name]));
}

/** The project's live devices, and how many of them sent a heartbeat since `since` (ms), in one query. */
export async function deviceCounts(db: Db, projectId: string, since: number): Promise<{ live: number; active: number }> {
  const [row] = await db
    .select({ live: count(), active: sql<number>`coalesce(sum(${devices.lastHeartbeatAt} >= ${since}), 0)`.mapWith(Number) })
    .from(devices)
    .where(and(eq(devices.projectId, projectId), isNull(devices.decommissionedAt)));
  return row!;
}

/**
 * Devices D1 still shows online (or in error) well past their offline deadline: three missed
 * intervals plus `graceMs`. Their objects' alarms should have marked them offline already.
 */
export async function overdueDevices(db: Db, now: number, graceMs: number, limit: number): Promise<string[]> {
  const rows = await db
    .select({ id: devices.id })
    .from(devices)
    .where(
      and(
        or(eq(devices.status, "online"), eq(devices.status, "error")),
        isNull(devices.decommissionedAt),
        sql`${devices.lastHeartbeatAt} + 3 * ${devices.heartbeatIntervalMs} + ${graceMs} < ${now}`,
      ),
    )
    .limit(limit);
  return rows.map((r) => r.id);
}

// What the Loki read API labels a device's streams with (dsn, device type, environment).
export interface DeviceLabelRow {
  id: string;
  dsn: string;
  deviceType: string;
  environment: string;
}

const COLUMNS = { id: devices.id, dsn: devices.dsn, deviceType: devices.deviceType, environment: devices.environment };
/** D1 binds at most 100 parameters a statement. */
const LABEL_IDS_PER_QUERY = 90;

/** The registry labels of these devices of the project (ids of other projects are not found). */
export async function deviceLabelsOf(db: Db, projectId: string, ids: readonly string[]): Promise<DeviceLabelRow[]> {
  const out: DeviceLabelRow[] = [];
  for (let i = 0; i < ids.length; i += LABEL_IDS_PER_QUERY) {
    const chunk = ids.slice(i, i + LABEL_IDS_PER_QUERY);
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
