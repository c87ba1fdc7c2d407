// The three export formats, each written line by line so an export of any size streams.
import type { LogView } from "../contract/log-view";

export type ExportFormat = "csv" | "ndjson" | "json";

export const CSV_COLUMNS = [
  "id",
  "timestamp",
  "device_id",
  "session_id",
  "level",
  "module",
  "logger",
  "message",
  "thread_id",
  "process_id",
  "context",
] as const;

/** RFC 4180: a field with a comma, quote, CR or LF is quoted, and its quotes doubled. */
function csvField(value: string | null): string {
  if (value === null) return "";
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function csvRow(l: LogView): string {
  const values: Record<(typeof CSV_COLUMNS)[number], string | null> = {
    id: l.id,
    timestamp: l.timestamp,
    device_id: l.device_id,
    session_id: l.session_id,
    level: l.level,
    module: l.module,
    logger: l.logger,
    message: l.message,
    thread_id: l.thread_id,
    process_id: l.process_id,
    context: l.context === null ? null : JSON.stringify(l.context),
  };
  return `${CSV_COLUMNS.map((c) => csvField(values[c])).join(",")}\r\n`;
}

export const EXPORT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  ndjson: "application/x-ndjson",
  json: "application/json",
};

/** Text before the first row, for each row (knowing whether it is the first), and after the last. */
export const exportWriters: Record<ExportFormat, { head: string; row: (l: LogView, first: boolean) => string; tail: string }> = {
  csv: { head: `${CSV_COLUMNS.join(",")}\r\n`, row: (l) => csvRow(l), tail: "" },
  ndjson: { head: "", row: (l) => `${JSON.stringify(l)}\n`, tail: "" },
  json: { head: "[", row: (l, first) => `${first ? "" : ","}\n${JSON.stringify(l)}`, tail: "\n]\n" },
};
