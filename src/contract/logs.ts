// Logs: the ingest envelope, search and export queries, the live tail, and the query a
// device's object answers for a search.
import { z } from "zod";
import { cursor, deviceId, limit, projectId, sessionId, timeParamUs } from "./common";
import { levelSet } from "./tail-filter";

export const LogSearch = z.object({
  project_id: projectId.optional(),
  device_id: deviceId.optional(),
  session_id: sessionId.optional(),
  module: z.string().min(1).max(128).optional(),
  level: levelSet.optional(),
  from: timeParamUs("start").optional(),
  // Lines before to (LogFilter): a date takes its whole day in.
  to: timeParamUs("next").optional(),
  q: z.string().max(512).optional(),
  order: z.enum(["asc", "desc"]).default("desc"),
  limit: limit(1000, 100),
  cursor,
});
export type LogSearch = z.output<typeof LogSearch>;

export const LogExport = LogSearch.omit({ limit: true, cursor: true }).extend({
  format: z.enum(["csv", "ndjson", "json"]).default("ndjson"),
});

export const TicketRequest = z.object({ project_id: projectId });

export const StreamQuery = z.object({
  ticket: z.string().min(1).max(256),
  project_id: projectId.optional(),
  device_id: deviceId.optional(),
  session_id: sessionId.optional(),
  module: z.string().min(1).max(128).optional(),
  level: levelSet.optional(),
  q: z.string().max(256).optional(),
  window: z.coerce.number().int().min(1).max(10_000).optional(),
});

/** POST /logs/ingest and the device socket's logs frame. Lines are validated one by one later. */
export const IngestEnvelope = z.object({
  session_id: sessionId.optional(),
  batch_id: z.string().min(1).max(128).optional(),
  logs: z.array(z.unknown()),
});
export type IngestEnvelope = z.output<typeof IngestEnvelope>;

/** Position of the last row a page returned, in the project-wide order (ts, device_id, id). */
export interface LogCursor {
  ts: number;
  device_id: string;
  id: number;
}

/** What a log shard is asked for one search page. Times in µs. */
export interface LogFilter {
  /** Only these devices' lines (all the shard's when absent). */
  devices?: string[];
  from?: number; // inclusive
  to?: number; // exclusive
  levels?: number[];
  module?: string;
  session_id?: string;
  /** An FTS5 expression built by src/contract/fts-query.ts, never raw user text. */
  match?: string;
  /** The same search as words, for archived lines (src/contract/fts-query.ts searchTerms). */
  terms?: { words: string[]; prefix: boolean };
  order: "asc" | "desc";
  after?: LogCursor;
  limit: number;
}
