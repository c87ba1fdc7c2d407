// A session's file, sent as a device sends one: one PUT with the device key, its length
// declared up front (docs/files.md), as `upload` sends one.
import { artifactUrl, deviceCall } from "../cli/upload.ts";

export interface Artifact {
  path: string;
  contentType: string;
  bytes: Uint8Array;
}

/** Uploads `file` to the device's session `sessionId`; throws with the server's reason when it is refused. */
export async function putArtifact(
  backendUrl: string,
  deviceKey: string,
  sessionId: string,
  file: Artifact,
): Promise<void> {
  await deviceCall(deviceKey, "PUT", artifactUrl(backendUrl, sessionId, file.path), {
    headers: { "content-type": file.contentType, "content-length": String(file.bytes.byteLength) },
    body: file.bytes as Uint8Array<ArrayBuffer>,
  });
}
