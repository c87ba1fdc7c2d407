// Listing the D1 registry with filters and a keyset cursor on the device id (ids sort by
// creation), so paging returns every device exactly once even while devices register.
import { type AnyColumn, type SQL, and, asc, eq, gt, isNull, or, sql } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "../db/client";
import { devices } from "../db/schema";
import { decodeCursor, page } from "../contract/cursor";
import type { ListDevices } from "../contract/fleet";

// A literal, case-insensitive substring test. (D1 caps LIKE patterns at 50 bytes, and LIKE
// would make % and _ in the user's text wildcards.)
const contains = (column: AnyColumn, text: string) => sql`instr(lower(${column}), lower(${text})) > 0`;

export async function listDevices(db: Db, orgId: string, q: z.output<typeof ListDevices>) {
  const after = decodeCursor(q.cursor, z.object({ id: z.string() }));
  const conditions: (SQL | undefined)[] = [
    eq(devices.orgId, orgId),
    q.project_id ? eq(devices.projectId, q.project_id) : undefined,
    q.environment ? eq(devices.environment, q.environment) : undefined,
    q.status ? eq(devices.status, q.status) : undefined,
    q.type ? eq(devices.deviceType, q.type) : undefined,
    q.include_decommissioned === "true" ? undefined : isNull(devices.decommissionedAt),
    after ? gt(devices.id, after.id) : undefined,
  ];
  if (q.q) conditions.push(or(contains(devices.name, q.q), contains(devices.dsn, q.q)));
  const rows = await db
    .select()
    .from(devices)
    .where(and(...conditions))
    .orderBy(asc(devices.id))
    .limit(q.limit + 1);
  return page(rows, q.limit, (d) => ({ id: d.id }));
}
