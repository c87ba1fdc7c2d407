// GET /sessions/:id/bundle: a whole run in one zip, streamed: the session's files under
// `files/`, its logs as `logs.ndjson`, and `manifest.json`, which maps each file's stored path
// to its name in the zip (renamed where it would not extract everywhere; see bundle-names.ts)
// with its size and ETag. Files are stored, not compressed (recordings and images are
// compressed already), and each is read from R2 only when the zip reaches it, so a session of
// any size streams in the memory of one chunk, beside its list of paths and names. client-zip
// writes Zip64 where sizes need it.

import { downloadZip } from "client-zip";
import { artifactPrefix } from "../contract/artifacts";
import { FILE_ANSWER_HEADERS } from "../contract/downloads";
import { bundleNames } from "./bundle-names";
import { attachmentDisposition } from "./export-format";
import { logExport } from "./log-export";
import { sourcesOf } from "./log-search";
import type { SessionRecord } from "./session-records";

const LIST_PAGE = 1000;

/** One file as manifest.json lists it. */
interface ManifestEntry {
  path: string;
  name: string;
  size: number;
  etag: string;
}

/** The session's files as R2 lists them (by key): stored path and key. */
async function listFiles(env: Env, prefix: string): Promise<{ path: string; key: string }[]> {
  const files: { path: string; key: string }[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.STORAGE.list({ prefix, cursor, limit: LIST_PAGE });
    for (const o of page.objects) files.push({ path: o.key.slice(prefix.length), key: o.key });
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return files;
}

export function sessionBundle(env: Env, session: SessionRecord): Response {
  const prefix = artifactPrefix(session.projectId, session.sessionId);
  async function* entries() {
    // Every path is listed before the first file: a name depends on all the others.
    const files = await listFiles(env, prefix);
    const names = bundleNames(files.map((f) => f.path));
    const manifest: ManifestEntry[] = [];
    for (const { path, key } of files) {
      const object = await env.STORAGE.get(key);
      if (!object) continue; // deleted since the listing
      const name = `files/${names.get(path)!}`;
      manifest.push({ path, name, size: object.size, etag: object.etag });
      yield { name, input: object.body, size: object.size, lastModified: object.uploaded };
    }
    const logs = logExport(
      env,
      sourcesOf([{ projectId: session.projectId, deviceId: session.deviceId }]),
      { project_id: session.projectId, session_id: session.sessionId, order: "asc" },
      "ndjson",
    );
    yield { name: "logs.ndjson", input: logs.body!, lastModified: new Date() };
    yield {
      name: "manifest.json",
      input: `${JSON.stringify({ session_id: session.sessionId, files: manifest }, null, 2)}\n`,
      lastModified: new Date(),
    };
  }
  const zip = downloadZip(entries());
  return new Response(zip.body, {
    headers: {
      ...FILE_ANSWER_HEADERS,
      "content-type": "application/zip",
      // The session id is the device's own text.
      "content-disposition": attachmentDisposition(`fleetbeat-session-${session.sessionId}.zip`),
      "cache-control": "no-store",
    },
  });
}
