// A 200 MB file through a real server: uploaded in 40 parts of 5 MiB, generated as it is sent
// (the test holds one part at a time), read back as a stream and compared by SHA-256, then
// taken as a session bundle. workerd's RSS is printed, not asserted: locally R2 is
// miniflare's simulation inside the same process, and a plain download of the object grows
// RSS by about the file's size with no code of ours in the path (the route hands R2's stream
// to the Response as it is).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, newTenant, type Server, startServer, workerdRss } from "./support/server.ts";

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const PARTS = 40; // 200 MiB

/** Part `n` of the file: deterministic bytes, made when needed. */
function part(n: number): Uint8Array {
  const out = new Uint8Array(PART);
  let x = n * 2654435761;
  for (let i = 0; i < PART; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x & 0xff;
    out[i + 1] = (x >>> 8) & 0xff;
    out[i + 2] = (x >>> 16) & 0xff;
    out[i + 3] = (x >>> 24) & 0xff;
  }
  return out;
}

/** Reads a response body to the end, hashing it, and keeps the highest workerd RSS seen meanwhile. */
async function drain(res: Response, server: Server) {
  const hash = createHash("sha256");
  let bytes = 0;
  let peak = workerdRss(server).bytes;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hash.update(value);
    bytes += value.byteLength;
    if (bytes % (16 * MiB) < value.byteLength) peak = Math.max(peak, workerdRss(server).bytes);
  }
  return { sha256: hash.digest("hex"), bytes, peak };
}

describe("large session files", () => {
  let server: Server;
  let state: string;
  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-large-"));
    server = await startServer({ state });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(state, { recursive: true, force: true });
  });

  it(
    "takes a 200 MB file in parts, serves it back whole and in a bundle",
    async () => {
      const base = server.api;
      const tenant = await newTenant(server, "Large files org");
      const capsule = await api(base, "POST", "/capsules/generate", {
        token: tenant.adminKey,
        body: { project_id: tenant.projectId, device_type: "drone", environment: "testing" },
      });
      const reg = await api(base, "POST", "/fleet/register", {
        body: { dsn: "DRONE-1", registration_token: capsule.json.capsule.fleet.registration_token },
      });
      const deviceKey = reg.json.device_key as string;
      const auth = (key: string) => ({ authorization: `Bearer ${key}` });
      expect(
        (await api(base, "POST", "/sessions", { token: deviceKey, body: { session_id: "flight-7" } })).status,
      ).toBe(201);

      const file = `${base}/sessions/flight-7/artifacts/video/flight.mp4`;
      const before = workerdRss(server).bytes;
      let peakUpload = before;
      const started = performance.now();
      const start = await fetch(`${file}?uploads`, {
        method: "POST",
        headers: { ...auth(deviceKey), "content-type": "video/mp4" },
      });
      expect(start.status).toBe(201);
      const { upload_id } = (await start.json()) as { upload_id: string };
      const expected = createHash("sha256");
      const parts: { part_number: number; etag: string }[] = [];
      for (let n = 1; n <= PARTS; n++) {
        const body = part(n);
        expected.update(body);
        const res = await fetch(`${file}?upload_id=${encodeURIComponent(upload_id)}&part_number=${n}`, {
          method: "PUT",
          headers: auth(deviceKey),
          body,
        });
        expect(res.status, await res.clone().text()).toBe(200);
        parts.push(((await res.json()) as { part: { part_number: number; etag: string } }).part);
        peakUpload = Math.max(peakUpload, workerdRss(server).bytes);
      }
      const done = await fetch(`${file}?upload_id=${encodeURIComponent(upload_id)}&complete`, {
        method: "POST",
        headers: { ...auth(deviceKey), "content-type": "application/json" },
        body: JSON.stringify({ parts }),
      });
      expect(done.status).toBe(201);
      const uploadS = (performance.now() - started) / 1000;
      const total = PARTS * PART;
      expect(await done.json()).toMatchObject({ path: "video/flight.mp4", size: total });

      const download = await fetch(`${base}/sessions/flight-7/files/download?path=video/flight.mp4`, {
        headers: auth(tenant.viewerKey),
      });
      expect(download.status).toBe(200);
      expect(download.headers.get("content-length")).toBe(String(total));
      const whole = await drain(download, server);
      expect(whole.bytes).toBe(total);
      expect(whole.sha256).toBe(expected.digest("hex"));

      const bundle = await fetch(`${base}/sessions/flight-7/bundle`, { headers: auth(tenant.viewerKey) });
      expect(bundle.status).toBe(200);
      const zipped = await drain(bundle, server);
      // Stored, not compressed: the file, its headers, logs.ndjson and the central directory.
      expect(zipped.bytes).toBeGreaterThan(total);
      expect(zipped.bytes).toBeLessThan(total + 64 * 1024);

      const usage = await api(base, "GET", `/stats/usage?project_id=${tenant.projectId}`, { token: tenant.viewerKey });
      expect(usage.json).toMatchObject({ artifact_bytes: total, storage_bytes: total });

      const grew = (peak: number) => ((peak - before) / MiB).toFixed(0);
      console.log(
        `[large-files] ${total / MiB} MiB in ${PARTS} parts uploaded in ${uploadS.toFixed(1)} s (${(total / MiB / uploadS).toFixed(0)} MiB/s); ` +
          `workerd RSS ${(before / MiB).toFixed(0)} MiB before, +${grew(peakUpload)} MiB at most while uploading, ` +
          `+${grew(whole.peak)} MiB while downloading, +${grew(zipped.peak)} MiB while zipping (${(zipped.bytes / MiB).toFixed(1)} MiB zip)`,
      );
    },
    5 * 60_000,
  );
});
