// The device registry: who the devices are (written at registration and by operators), and each
// project's statuses row (written by its ProjectHub at most once a minute, which keeps the live
// presence; durable-objects/project-hub/presence.ts). A device's own row is not written by its
// traffic: its status, last seen and metrics there are as registered (or decommissioned).
import { type AnyColumn, and, asc, count, eq, exists, gt, inArray, isNull, or, type SQL, sql } from "drizzle-orm";
import type { z } from "zod";
import type { Environment } from "../../contract/common";
import type { ListDevices } from "../../contract/fleet";
import type { DeviceStatus } from "../../contract/presence";
import { newId } from "../../lib/crypto";
import type { Db } from "../client";
import { devices, projectStatuses, registrationTokens } from "../schema";
import { constantRow } from "./projects";

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
 * The row a registration adds, and what it changes on the device its DSN already names in the
 * project: that device keeps its id and history, and is no longer decommissioned.
 */
function registered(r: Registration, now: number) {
  const { orgId, projectId, dsn, name, deviceInfo, ...given } = r;
  // Registering is being seen (the device's object records the same moment when it is provisioned).
  const renewed = { ...given, decommissionedAt: null, lastSeenAt: now };
  const row: Device = {
    id: newId("dev", now),
    orgId,
    projectId,
    dsn,
    name: name ?? dsn,
    status: "offline",
    deviceInfo: deviceInfo ?? null,
    metrics: null,
    currentSessionId: null,
    registeredAt: now,
    lastHeartbeatAt: null,
    lastLogAt: null,
    statusChangedAt: null,
    presenceVersion: 0,
    changedBy: null,
    ...renewed,
  };
  // A name or device_info given now replaces the old one; otherwise an operator's rename stays.
  const renew = { ...renewed, ...(name ? { name } : {}), ...(deviceInfo ? { deviceInfo } : {}) };
  return { row, renew };
}

/** Adds the device, or re-registers the one its DSN already names in the project. */
export async function upsertRegisteredDevice(db: Db, r: Registration): Promise<Device> {
  const { row, renew } = registered(r, Date.now());
  const [device] = await db
    .insert(devices)
    .values(row)
    .onConflictDoUpdate({ target: [devices.projectId, devices.dsn], set: renew })
    .returning();
  return device!;
}

/** What a registration with a one-time token came to; `used` is the org's live devices after it. */
export interface TokenRegistration {
  created: Device | undefined;
  used: number;
  /** Refused because another registration had used the token (or it is gone). */
  tokenTaken: boolean;
}

/**
 * Registers (or re-registers) the device with a one-time token, in one batch, which D1 runs
 * as one transaction: the token is taken only while it is unused and the device has a place
 * (its DSN is a live device of the project already, or the org holds fewer than `max` live
 * devices), and the device is written only if this call took the token. A refused
 * registration leaves the token as it was, so the device can retry with it.
 */
export async function registerWithToken(
  db: Db,
  tokenId: string,
  r: Registration,
  max: number,
): Promise<TokenRegistration> {
  const now = Date.now();
  const { row, renew } = registered(r, now);
  const sameDsn = and(eq(devices.projectId, r.projectId), eq(devices.dsn, r.dsn));
  const held = db
    .select({ n: count() })
    .from(devices)
    .where(and(eq(devices.orgId, r.orgId), isNull(devices.decommissionedAt)));
  const alreadyLive = db
    .select({ id: devices.id })
    .from(devices)
    .where(and(sameDsn, isNull(devices.decommissionedAt)));
  // The new row's id marks the token as taken by this call until it names the stored device.
  const takenHere = and(eq(registrationTokens.id, tokenId), eq(registrationTokens.deviceId, row.id));
  const [, stored, , [token], [after]] = await db.batch([
    db
      .update(registrationTokens)
      .set({ usedAt: now, deviceId: row.id })
      .where(
        and(
          eq(registrationTokens.id, tokenId),
          isNull(registrationTokens.usedAt),
          or(exists(alreadyLive), sql`(${held}) < ${max}`),
        ),
      ),
    db
      .insert(devices)
      .select((qb) => qb.select(constantRow(devices, row)).from(registrationTokens).where(takenHere))
      .onConflictDoUpdate({ target: [devices.projectId, devices.dsn], set: renew })
      .returning(),
    // A re-registered device keeps its id: the token names that one.
    db
      .update(registrationTokens)
      .set({ deviceId: sql`(${db.select({ id: devices.id }).from(devices).where(sameDsn)})` })
      .where(takenHere),
    db.select({ usedAt: registrationTokens.usedAt }).from(registrationTokens).where(eq(registrationTokens.id, tokenId)),
    held,
  ]);
  const created = stored[0];
  return { created, used: after!.n, tokenTaken: !created && (token === undefined || token.usedAt !== null) };
}

/** The org a device belongs to (undefined: no such device). */
export async function orgOfDevice(db: Db, deviceId: string): Promise<string | undefined> {
  return (await db.query.devices.findFirst({ columns: { orgId: true }, where: eq(devices.id, deviceId) }))?.orgId;
}

/** A device of the org; a device of another org is not found, like a missing one. */
export async function findDeviceOfOrg(db: Db, orgId: string, deviceId: string): Promise<Device | undefined> {
  return db.query.devices.findFirst({ where: and(eq(devices.id, deviceId), eq(devices.orgId, orgId)) });
}

export type DeviceFilter = Pick<
  z.output<typeof ListDevices>,
  "project_id" | "environment" | "status" | "type" | "q" | "include_decommissioned"
>;

// A literal, case-insensitive substring test. (D1 caps LIKE patterns at 50 bytes, and LIKE
// would make % and _ in the user's text wildcards.)
const contains = (column: AnyColumn, text: string) => sql`instr(lower(${column}), lower(${text})) > 0`;

/**
 * At most `limit` of the org's devices after `afterId`, by id. Ids sort by creation, so
 * paging returns every device exactly once even while devices register.
 */
export async function listDevices(
  db: Db,
  orgId: string,
  f: DeviceFilter,
  page: { afterId?: string; limit: number },
): Promise<Device[]> {
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
    f.status ? statusIs(f.status, orgId, f.project_id) : undefined,
    f.type ? eq(devices.deviceType, f.type) : undefined,
    f.include_decommissioned === "true" ? undefined : isNull(devices.decommissionedAt),
    afterId ? gt(devices.id, afterId) : undefined,
    f.q ? or(contains(devices.name, f.q), contains(devices.dsn, f.q)) : undefined,
  ];
  return and(...conditions);
}

/**
 * Devices with `status` as their projects last wrote it (writeProjectStatuses): listed with it in their
 * project's row, or, for offline, also not listed (registered offline, never heard). Each project's row is
 * read once per query, not once per device (the subquery names the projects, not the device's row).
 */
function statusIs(status: DeviceStatus, orgId: string, projectId: string | undefined): SQL {
  const rows = projectId
    ? sql`p.project_id = ${projectId}`
    : sql`p.project_id IN (SELECT id FROM projects WHERE org_id = ${orgId})`;
  const listed = sql`SELECT j.key FROM ${projectStatuses} p, json_each(p.statuses) j WHERE ${rows}`;
  return status === "offline"
    ? sql`${devices.id} NOT IN (${listed} AND json_extract(j.value, '$[0]') != 'offline')`
    : sql`${devices.id} IN (${listed} AND json_extract(j.value, '$[0]') = ${status})`;
}

/**
 * The registry's presence of a page of devices, as listDevices filters and orders them, with
 * only the columns a metrics scrape reads (not device_info, which may be kilobytes each).
 */
export async function listDevicePresence(
  db: Db,
  orgId: string,
  f: Partial<DeviceFilter>,
  page: { afterId?: string; limit: number },
) {
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
export async function listDeviceIdsOfProject(
  db: Db,
  projectId: string,
  page: { afterId?: string; limit: number },
): Promise<string[]> {
  const rows = await db
    .select({ id: devices.id })
    .from(devices)
    .where(and(eq(devices.projectId, projectId), page.afterId ? gt(devices.id, page.afterId) : undefined))
    .orderBy(asc(devices.id))
    .limit(page.limit);
  return rows.map((r) => r.id);
}

/** Devices that are not decommissioned, of each of the projects that has any, in one query. */
export async function liveDeviceCounts(db: Db, projectIds: string[]): Promise<Map<string, number>> {
  if (projectIds.length === 0) return new Map();
  const rows = await db
    .select({ projectId: devices.projectId, n: count() })
    .from(devices)
    .where(and(inArray(devices.projectId, projectIds), isNull(devices.decommissionedAt)))
    .groupBy(devices.projectId);
  return new Map(rows.map((r) => [r.projectId, r.n]));
}

/**
 * At most `limit` of the project's devices that are not decommissioned after `afterId`, by id,
 * with only what GET /fleet/summary groups and falls back on: environment and registered status.
 */
export async function listDeviceEnvironments(db: Db, projectId: string, page: { afterId?: string; limit: number }) {
  return db
    .select({ id: devices.id, environment: devices.environment, status: devices.status })
    .from(devices)
    .where(
      and(
        eq(devices.projectId, projectId),
        isNull(devices.decommissionedAt),
        page.afterId ? gt(devices.id, page.afterId) : undefined,
      ),
    )
    .orderBy(asc(devices.id))
    .limit(page.limit);
}

/** Devices of the project that are not decommissioned. */
export async function countLiveDevices(db: Db, projectId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(devices)
    .where(and(eq(devices.projectId, projectId), isNull(devices.decommissionedAt)));
  return row!.n;
}

/** An operator's rename or move; undefined fields stay as they are. */
/** Who changed a device, and when (shown with it). */
export type ChangedBy = NonNullable<Device["changedBy"]>;

/**
 * A person's or key's change of a device's labels (or of its status alone, kept in its object): who made it,
 * with it.
 */
export async function updateDeviceLabels(
  db: Db,
  deviceId: string,
  labels: { name?: string; environment?: Environment },
  changedBy: ChangedBy,
): Promise<void> {
  await db
    .update(devices)
    .set({ ...labels, changedBy })
    .where(eq(devices.id, deviceId));
}

export async function markDecommissioned(db: Db, deviceId: string, at: number, changedBy: ChangedBy): Promise<void> {
  await db.update(devices).set({ decommissionedAt: at, status: "offline", changedBy }).where(eq(devices.id, deviceId));
}

/** A device's status in its project's row, and when it changed (ms; null: not known). */
export type StatusEntry = [status: DeviceStatus, changedAt: number | null];

/**
 * Rewrites the project's statuses row (each device that has reported, by id): one D1 row
 * however many devices changed. A deleted project's row is not written again.
 */
export async function writeProjectStatuses(
  db: Db,
  projectId: string,
  statuses: Record<string, StatusEntry>,
  at: number,
): Promise<void> {
  await db.run(sql`
    INSERT INTO ${projectStatuses} (project_id, statuses, written_at)
    SELECT ${projectId}, ${JSON.stringify(statuses)}, ${at} WHERE EXISTS (SELECT 1 FROM projects WHERE id = ${projectId})
    ON CONFLICT (project_id) DO UPDATE SET statuses = excluded.statuses, written_at = excluded.written_at`);
}

/**
 * Names of the given devices of the org, by id (rankings, log facets): one query however many ids (they go as
 * one JSON parameter).
 */
export async function deviceNames(db: Db, orgId: string, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select({ id: devices.id, name: devices.name })
    .from(devices)
    .where(and(eq(devices.orgId, orgId), sql`${devices.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`));
  return new Map(rows.map((r) => [r.id, r.name]));
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
    out.push(
      ...(await db
        .select(COLUMNS)
        .from(devices)
        .where(and(eq(devices.projectId, projectId), inArray(devices.id, chunk)))),
    );
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
