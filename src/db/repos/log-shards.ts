// The log shards each project uses (see schema.ts log_shards): written once per shard, read by
// every project-wide search.
import { asc, eq } from "drizzle-orm";
import type { Db } from "../client";
import { logShards } from "../schema";

export async function noteShardInUse(db: Db, projectId: string, shard: number): Promise<void> {
  await db.insert(logShards).values({ projectId, shard }).onConflictDoNothing();
}

export async function shardsInUse(db: Db, projectId: string): Promise<number[]> {
  const rows = await db
    .select({ shard: logShards.shard })
    .from(logShards)
    .where(eq(logShards.projectId, projectId))
    .orderBy(asc(logShards.shard));
  return rows.map((r) => r.shard);
}
