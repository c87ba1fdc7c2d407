import type { LogShard } from "../../durable-objects/log-shard/shard";
import { shardName, shardOf } from "../contract/log-shards";

/** A project's `index`-th log shard (src/contract/log-shards.ts). */
export function logShard(env: Env, projectId: string, index: number): DurableObjectStub<LogShard> {
  return shardByName(env, shardName(projectId, index));
}

/** The shard that keeps a device's lines. */
export function shardOfDevice(env: Env, projectId: string, deviceId: string): DurableObjectStub<LogShard> {
  return logShard(env, projectId, shardOf(deviceId));
}

/** A shard by its name (how it signs its deliveries). */
export function shardByName(env: Env, name: string): DurableObjectStub<LogShard> {
  const ns = env.LOG_SHARD as DurableObjectNamespace<LogShard>;
  return ns.get(ns.idFromName(name));
}
