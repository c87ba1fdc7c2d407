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

/** What makes a spreadsheet read a cell as a formula (OWASP, CSV Injection). */
const FORMULA_START = /^[=+\-@\t\r]/;
/** RFC 4180 quotes a comma, quote, CR or LF; ";" and tab too, since spreadsheets in some locales split on them. */
const NEEDS_QUOTES = /[",;\t\r\n]/;

/**
 * One cell: a leading `'` before a formula character, so spreadsheets show the text instead of running it,
 * then RFC 4180 quoting.
 */
export function csvCell(value: string | null): string {
  if (value === null) return "";
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
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
  return `${CSV_COLUMNS.map((c) => csvCell(values[c])).join(",")}\r\n`;
}

export const EXPORT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  ndjson: "application/x-ndjson",
  json: "application/json",
};

/** Text before the first row, for each row (knowing whether it is the first), and after the last. */
export const exportWriters: Record<
  ExportFormat,
  { head: string; row: (l: LogView, first: boolean) => string; tail: string }
> = {
  csv: { head: `${CSV_COLUMNS.join(",")}\r\n`, row: (l) => csvRow(l), tail: "" },
  ndjson: { head: "", row: (l) => `${JSON.stringify(l)}\n`, tail: "" },
  json: { head: "[", row: (l, first) => `${first ? "" : ","}\n${JSON.stringify(l)}`, tail: "\n]\n" },
};

/** What no common file system takes in a name (Windows is the strictest), control and bidi-override
 *  characters (which can disguise an extension), and lone surrogates (which UTF-8 cannot encode). */
const NOT_IN_FILE_NAMES = /[\\/:*?"<>|\p{Cc}\p{Cs}\p{Zl}\p{Zp}\u202A-\u202E\u2066-\u2069]/gu;
/** The ASCII fallback keeps only these; every other character becomes "_". */
const NOT_IN_FALLBACK = /[^A-Za-z0-9._-]/gu;

/**
 * `Content-Disposition` for a name that may hold device-chosen text (RFC 6266, appendix D):
 * `filename` alone when the name is plain ASCII; otherwise an ASCII fallback first, for old
 * clients, then `filename*` with the name in UTF-8 (RFC 8187).
 */
export function attachmentDisposition(fileName: string, kind: "attachment" | "inline" = "attachment"): string {
  const name = fileName.replace(NOT_IN_FILE_NAMES, "_");
  const fallback = name.replace(NOT_IN_FALLBACK, "_");
  if (fallback === name) return `${kind}; filename="${name}"`;
  // encodeURIComponent leaves ' ( ) * as they are; RFC 8187 wants them encoded.
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
