import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import { currentSession, fail, option, saved } from "./config.ts";

export async function uploadCommand(args: string[]) {
  const file = args[0] ?? fail("upload needs a file");
  const device = saved();
  const sessionId = currentSession() ?? fail('no session is open: "session start --name <name>" first');
  const target = (option(args, "--path") ?? path.basename(file)).split("/").map(encodeURIComponent).join("/");
  const size = fs.statSync(file).size;
  const res = await fetch(`${device.backend_url}/api/v1/sessions/${encodeURIComponent(sessionId)}/artifacts/${target}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${device.device_key}`, "content-type": option(args, "--type") ?? "application/octet-stream", "content-length": String(size) },
    // Streamed from disk, never read whole.
    body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream<Uint8Array>,
    duplex: "half",
  } as RequestInit);
  const answer = (await res.json()) as { path?: string; size?: number; error?: { message: string } };
  if (res.status !== 201) fail(`upload failed (${res.status}): ${answer.error?.message ?? "unknown error"}`);
  console.log(`uploaded ${answer.path} (${answer.size} bytes) to session ${sessionId}`);
}
