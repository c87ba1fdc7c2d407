// A session's file, sent as a device sends one: one PUT with the device key, its length
// declared up front (docs/files.md).

export interface Artifact {
  path: string;
  contentType: string;
  bytes: Uint8Array;
}

/** Uploads `file` to the device's session `sessionId`; throws with the server's reason when it is refused. */
export async function putArtifact(backendUrl: string, deviceKey: string, sessionId: string, file: Artifact): Promise<void> {
  const target = file.path.split("/").map(encodeURIComponent).join("/");
  const res = await fetch(`${backendUrl}/api/v1/sessions/${encodeURIComponent(sessionId)}/artifacts/${target}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${deviceKey}`, "content-type": file.contentType, "content-length": String(file.bytes.byteLength) },
    body: file.bytes,
  });
  if (res.status !== 201) {
    const answer = (await res.json().catch(() => null)) as { error?: { message: string } } | null;
    throw new Error(`uploading ${file.path} failed (${res.status}): ${answer?.error?.message ?? "unknown error"}`);
  }
}
