// `upload <file>`: a file of the current session, streamed from disk. Up to one part's size
// it goes in one PUT; larger files go multipart, part by part, each part retried on its own,
// and the upload is given up (aborted) if a part cannot be sent.
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import { currentSession, fail, option, type Saved, saved } from "./config.ts";

/** Files up to this size go in one PUT; larger ones in parts of this size (R2 wants ≥ 5 MiB but the last). */
const PART_BYTES = 64 * 1024 * 1024;
const MIN_PART_BYTES = 5 * 1024 * 1024;
const PART_ATTEMPTS = 4;

export interface Uploaded {
  path: string;
  size: number;
  parts: number;
}

/** A device's call and the server's answer, or an Error carrying its status and message. */
export async function deviceCall(
  deviceKey: string,
  method: string,
  url: string,
  init: RequestInit & { duplex?: "half" } = {},
): Promise<any> {
  const res = await fetch(url, {
    ...init,
    method,
    headers: { authorization: `Bearer ${deviceKey}`, ...(init.headers as Record<string, string>) },
  });
  const body: any = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok)
    throw Object.assign(
      new Error(
        `${method} ${new URL(url).pathname} answered ${res.status}: ${body?.error?.message ?? "unknown error"}`,
      ),
      { status: res.status },
    );
  return body;
}

/** Bytes [start, end) of a file, streamed from disk. */
const slice = (file: string, start: number, end: number) =>
  Readable.toWeb(fs.createReadStream(file, { start, end: end - 1 })) as ReadableStream<Uint8Array>;

/** Where a session's file is PUT: each path segment escaped on its own, so "/" stays a separator. */
export const artifactUrl = (backendUrl: string, sessionId: string, path: string) =>
  `${backendUrl}/api/v1/sessions/${encodeURIComponent(sessionId)}/artifacts/${path.split("/").map(encodeURIComponent).join("/")}`;

export async function uploadFile(
  device: Saved,
  sessionId: string,
  file: string,
  target: string,
  type: string,
  partBytes = PART_BYTES,
): Promise<Uploaded> {
  const url = artifactUrl(device.backend_url, sessionId, target);
  const size = fs.statSync(file).size;
  if (size <= partBytes) {
    const answer = await deviceCall(device.device_key, "PUT", url, {
      headers: { "content-type": type, "content-length": String(size) },
      body: size === 0 ? "" : slice(file, 0, size),
      duplex: "half",
    });
    return { path: answer.path, size: answer.size, parts: 1 };
  }
  const { upload_id } = await deviceCall(device.device_key, "POST", `${url}?uploads`, {
    headers: { "content-type": type },
  });
  const parts: { part_number: number; etag: string }[] = [];
  try {
    for (let start = 0, n = 1; start < size; start += partBytes, n++) {
      const end = Math.min(size, start + partBytes);
      for (let attempt = 1; ; attempt++) {
        try {
          const { part } = await deviceCall(
            device.device_key,
            "PUT",
            `${url}?upload_id=${encodeURIComponent(upload_id)}&part_number=${n}`,
            {
              headers: { "content-length": String(end - start) },
              body: slice(file, start, end),
              duplex: "half",
            },
          );
          parts.push(part);
          break;
        } catch (err) {
          const status = (err as { status?: number }).status;
          // A refusal (4xx but 429) will not change; anything else may pass on another try.
          if (attempt >= PART_ATTEMPTS || (status && status < 500 && status !== 429)) throw err;
          await new Promise((w) => setTimeout(w, 1000 * 2 ** attempt));
        }
      }
    }
    const answer = await deviceCall(
      device.device_key,
      "POST",
      `${url}?upload_id=${encodeURIComponent(upload_id)}&complete`,
      {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ parts }),
      },
    );
    return { path: answer.path, size: answer.size, parts: parts.length };
  } catch (err) {
    await deviceCall(device.device_key, "DELETE", `${url}?upload_id=${encodeURIComponent(upload_id)}`).catch(
      () => undefined,
    );
    throw err;
  }
}

export async function uploadCommand(args: string[]) {
  const file = args[0] ?? fail("upload needs a file");
  const device = saved();
  const sessionId = currentSession() ?? fail('no session is open: "session start --name <name>" first');
  const partMb = option(args, "--part-mb");
  const partBytes = partMb ? Number(partMb) * 1024 * 1024 : PART_BYTES;
  if (!(partBytes >= MIN_PART_BYTES)) fail("--part-mb is at least 5 (R2's smallest part)");
  try {
    const up = await uploadFile(
      device,
      sessionId,
      file,
      option(args, "--path") ?? path.basename(file),
      option(args, "--type") ?? "application/octet-stream",
      partBytes,
    );
    console.log(
      `uploaded ${up.path} (${up.size} bytes${up.parts > 1 ? ` in ${up.parts} parts` : ""}) to session ${sessionId}`,
    );
  } catch (err) {
    fail(`upload failed: ${(err as Error).message}`);
  }
}
