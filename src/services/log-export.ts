// GET /logs/export: the search, page after page, written as one file. Pull-based, so the next
// page is read only when the client has taken the previous one: any size, constant memory.
// One merge serves the whole file: each shard is asked again only when its rows run out, not
// once per page (services/page-merge.ts).

import { FILE_ANSWER_HEADERS } from "../contract/downloads";
import type { LogSearch } from "../contract/logs";
import { attachmentDisposition, EXPORT_TYPES, type ExportFormat, exportWriters } from "./export-format";
import { type Source, searchStream } from "./log-search";

const EXPORT_PAGE = 1000;

export function logExport(
  env: Env,
  sources: Source[],
  filters: Omit<LogSearch, "limit" | "cursor">,
  format: ExportFormat,
): Response {
  const writer = exportWriters[format];
  const encoder = new TextEncoder();
  const stream = searchStream(env, sources, filters, undefined, EXPORT_PAGE);
  let first = true;
  let done = stream === null;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (writer.head) controller.enqueue(encoder.encode(writer.head));
      if (done) {
        controller.enqueue(encoder.encode(writer.tail));
        controller.close();
      }
    },
    async pull(controller) {
      if (done || !stream) return;
      const page = await stream.next(EXPORT_PAGE);
      let chunk = "";
      for (const line of page.rows) {
        chunk += writer.row(line, first);
        first = false;
      }
      // A page cut short where a shard stopped its archive scan goes on from there; else a short page is the end.
      done = page.rows.length < EXPORT_PAGE && !page.stop;
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
