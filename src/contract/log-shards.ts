// Log shards (docs/scale.md): a project's lines are kept in a fixed number of shard objects,
// each holding the lines of the devices a hash of their id assigns to it. A device's object
// authenticates and forwards each batch to its shard, which stores, remembers and counts it
// in one transaction; a project-wide search, export or Loki page asks the shards, never the
// devices, so it makes at most LOG_SHARDS.count object calls whatever the fleet's size.
import { slotOf } from "../lib/hash";

/**
 * Shards per project. Fixed, so a device's shard never changes and no line has to move;
 * a shard that no device of the project has used is never called (D1 lists the shards in use).
 * At 10,000 devices a shard holds ~160 devices. (An object, so tests can run with fewer.)
 */
export const LOG_SHARDS = { count: 64 };

/**
 * Shard objects are named `<project id>/shard/<index>`, which is also how they sign their deliveries to the
 * project.
 */
export const SHARD_SENDER = "/shard/";

/** Which shard keeps a device's lines. */
export const shardOf = (deviceId: string): number => slotOf(deviceId, LOG_SHARDS.count);

export const shardName = (projectId: string, index: number): string => `${projectId}${SHARD_SENDER}${index}`;

/** Whether a delivery's sender is a shard (its deliveries bring many devices' line counts). */
export const isShard = (sender: string): boolean => sender.includes(SHARD_SENDER);
