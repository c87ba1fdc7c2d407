// A stored log line as a shard hands it around: the contract's record, with its device.
import type { LogRecord } from "../../src/contract/log-line";

export type ShardRow = LogRecord & { device_id: string } & Record<string, SqlStorageValue>;

/**
 * A line as a chunk stores it, one JSON array a line (the device's older chunks and the shard's):
 * [id, ts, level, module, logger, message, thread_id, process_id, session_id, context].
 */
export type Tuple = [
  number,
  number,
  number,
  string,
  string | null,
  string,
  string | null,
  string | null,
  string | null,
  string | null,
];

/** A chunk's line as a shard row of `deviceId`. */
export const rowOf = (deviceId: string, t: Tuple): ShardRow =>
  ({
    device_id: deviceId,
    id: t[0],
    ts: t[1],
    level: t[2],
    module: t[3],
    logger: t[4],
    message: t[5],
    thread_id: t[6],
    process_id: t[7],
    session_id: t[8],
    context: t[9],
  }) as ShardRow;
