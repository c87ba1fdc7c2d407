// GET /sessions/:id/bundle: a whole run in one zip, streamed: the session's files under
// `files/` and its logs as `logs.ndjson`. Files are stored, not compressed (recordings and
// images are compressed already), and each is read from R2 only when the zip reaches it, so
// a session of any size streams in the memory of one chunk. client-zip writes Zip64 where
// sizes need it.
import { downloadZip } from "client-zip";
import { artifactPrefix } from "../contract/artifacts";
import type { SessionRecord } from "../db/repos/sessions";
import { attachmentDisposition } from "./export-format";
import { logExport } from "./log-export";

const LIST_PAGE = 1000;

export function sessionBundle(env: Env, session: SessionRecord): Response {
  const prefix = artifactPrefix(session.projectId, session.sessionId);
  async function* entries() {
    let cursor: string | undefined;
    do {
      const page = await env.STORAGE.list({ prefix, cursor, limit: LIST_PAGE });
      for (const listed of page.objects) {
        const object = await env.STORAGE.get(listed.key);
        if (!object) continue; // deleted since the listing
        yield { name: `files/${listed.key.slice(prefix.length)}`, input: object.body, size: object.size, lastModified: object.uploaded };
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    const logs = logExport(env, [session.deviceId], { project_id: session.projectId, session_id: session.sessionId, order: "asc" }, "ndjson");
    yield { name: "logs.ndjson", input: logs.body!, lastModified: new Date() };
  }
  const zip = downloadZip(entries());
  return new Response(zip.body, {
    headers: {
      "content-type": "application/zip",
      // The session id is the device's own text.
      "content-disposition": attachmentDisposition(`fleetbeat-session-${session.sessionId}.zip`),
      "cache-control": "no-store",
    },
  });
}
