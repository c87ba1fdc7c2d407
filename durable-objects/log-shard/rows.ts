// A stored log line as a shard hands it around: the contract's record, with its device.
import type { LogRecord } from "../../src/contract/log-line";

export type ShardRow = LogRecord & { device_id: string } & Record<string, SqlStorageValue>;
