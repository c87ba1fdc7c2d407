// What a device's log shard holds of its lines in the hot store, read in the shard's object: the
// ids of its lines, oldest first. Lines are kept in chunks (durable-objects/log-shard/chunks.ts),
// one JSON line each, whose first field is the line's id.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { shardOfDevice } from "../../src/stubs/log-shard";

/** The shard that holds a device's lines (its project read from D1). */
export async function shardOf(deviceId: string) {
  const row = await env.DB.prepare("SELECT project_id FROM devices WHERE id = ?")
    .bind(deviceId)
    .first<{ project_id: string }>();
  if (!row) throw new Error(`no device ${deviceId}`);
  return shardOfDevice(env, row.project_id, deviceId);
}

export async function hotLineIds(deviceId: string): Promise<number[]> {
  return runInDurableObject(await shardOf(deviceId), (_shard, state) =>
    state.storage.sql
      .exec<{ data: string }>("SELECT data FROM chunks WHERE device_id = ?", deviceId)
      .toArray()
      .flatMap((r) =>
        r.data
          .split("\n")
          .filter(Boolean)
          .map((line) => (JSON.parse(line) as [number])[0]),
      )
      .sort((a, b) => a - b),
  );
}
