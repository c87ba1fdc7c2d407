// A stored log row as GET /logs, the export and the live tail show it.
import { isoMicros } from "../lib/time";
import { levelName } from "./levels";
import type { LogRecord } from "./log-line";

export interface LogView {
  id: string;
  device_id: string;
  session_id: string | null;
  timestamp: string;
  timestamp_us: number;
  level: string;
  module: string;
  logger: string | null;
  message: string;
  thread_id: string | null;
  process_id: string | null;
  context: Record<string, string | number | boolean> | null;
}

/** Log ids are `<device id>:<row id>`: unique across the project, ordered within a device. */
const logId = (deviceId: string, rowId: number) => `${deviceId}:${rowId}`;

export function presentLog(deviceId: string, row: LogRecord): LogView {
  return {
    id: logId(deviceId, row.id),
    device_id: deviceId,
    session_id: row.session_id,
    timestamp: isoMicros(row.ts),
    timestamp_us: row.ts,
    level: levelName(row.level),
    module: row.module,
    logger: row.logger,
    message: row.message,
    thread_id: row.thread_id,
    process_id: row.process_id,
    context: row.context === null ? null : JSON.parse(row.context),
  };
}
