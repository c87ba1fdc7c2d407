// GET /logs/export: the search, page after page, written as one file. Pull-based, so the next
// page is read only when the client has taken the previous one: any size, constant memory.
import { type ExportFormat, EXPORT_TYPES, attachmentDisposition, exportWriters } from "./export-format";
import { FILE_ANSWER_HEADERS } from "../contract/downloads";
import type { LogSearch } from "../contract/logs";
import { searchLogs } from "./log-search";

const EXPORT_PAGE = 1000;

export function logExport(env: Env, deviceIds: string[], filters: Omit<LogSearch, "limit" | "cursor">, format: ExportFormat): Response {
  const writer = exportWriters[format];
  const encoder = new TextEncoder();
  let cursor: string | undefined;
  let first = true;
  let done = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (writer.head) controller.enqueue(encoder.encode(writer.head));
    },
    async pull(controller) {
      if (done) return;
      const page = await searchLogs(env, deviceIds, { ...filters, limit: EXPORT_PAGE, cursor });
      let chunk = "";
      for (const line of page.logs) {
        chunk += writer.row(line, first);
        first = false;
      }
      cursor = page.next_cursor ?? undefined;
      done = page.next_cursor === null;
      if (done) chunk += writer.tail;
      if (chunk) controller.enqueue(encoder.encode(chunk));
      if (done) controller.close();
    },
  });
  const scope = filters.device_id ?? filters.session_id ?? filters.project_id;
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "");
  return new Response(body, {
    headers: {
      ...FILE_ANSWER_HEADERS,
      "content-type": EXPORT_TYPES[format],
      // The scope may be a session id, which the device chose.
      "content-disposition": attachmentDisposition(`fleetbeat-logs-${scope}-${stamp}.${format}`),
      "cache-control": "no-store",
    },
  });
}
