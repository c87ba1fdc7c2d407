// Session files in R2: uploads from the session's own device (one PUT or multipart), listing,
// ranged and conditional downloads, deletes, hostile paths, the upload rules, storage counted
// at once and its quota, and the session as one zip.
import { env, exports } from "cloudflare:workers";
import { unzipSync } from "fflate";
import { afterEach, describe, expect, it } from "vitest";
import { TIERS } from "../../src/contract/tiers";
import { CRON } from "../../src/jobs/schedule";
import { runJobs } from "../support/jobs";
import { settle } from "../support/settle";
import { call, ingest, line, newDevice, tenant } from "./helpers";

const BASE = "http://fleetbeat.test/api/v1";
const saved = structuredClone(TIERS);
afterEach(() => {
  for (const t of ["free", "pro", "enterprise"] as const) Object.assign(TIERS[t], structuredClone(saved[t]));
});

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** A raw request, as a device or a browser sends it. */
function send(
  method: string,
  path: string,
  opts: { token?: string; body?: Uint8Array; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body && headers["content-length"] === undefined) headers["content-length"] = String(opts.body.byteLength);
  return exports.default.fetch(`${BASE}${path}`, { method, headers, body: opts.body });
}

async function openSession(deviceKey: string, sessionId: string, extra: Record<string, unknown> = {}) {
  const res = await call("POST", "/sessions", { token: deviceKey, body: { session_id: sessionId, ...extra } });
  expect(res.status).toBeLessThan(300);
}

async function usage(t: { viewerKey: string; projectId: string; deviceId: string }) {
  await settle(t.deviceId);
  return (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
}

describe("session files", () => {
  it("upload, list, download whole, in a range and conditionally, replace and delete, with storage counted at once", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "run-1");
    const png = bytes(5000);
    const put = await send("PUT", "/sessions/run-1/artifacts/camera/frame%2001.png", {
      token: t.deviceKey,
      body: png,
      headers: { "content-type": "image/png" },
    });
    expect(put.status).toBe(201);
    const stored = await put.json<any>();
    expect(stored).toMatchObject({ path: "camera/frame 01.png", size: 5000, etag: expect.any(String) });
    const csv = new TextEncoder().encode("t,x\n1,2\n");
    expect(
      (
        await send("PUT", "/sessions/run-1/artifacts/telemetry.csv", {
          token: t.deviceKey,
          body: csv,
          headers: { "content-type": "text/csv" },
        })
      ).status,
    ).toBe(201);

    const list = await call("GET", "/sessions/run-1/files", { token: t.viewerKey });
    expect(list.status).toBe(200);
    expect(list.json.files).toEqual([
      {
        path: "camera/frame 01.png",
        size: 5000,
        content_type: "image/png",
        etag: stored.etag,
        uploaded_at: expect.any(String),
      },
      {
        path: "telemetry.csv",
        size: csv.byteLength,
        content_type: "text/csv",
        etag: expect.any(String),
        uploaded_at: expect.any(String),
      },
    ]);
    expect(list.json.next_cursor).toBeNull();
    const paged = await call("GET", "/sessions/run-1/files?limit=1", { token: t.viewerKey });
    expect(paged.json.files).toHaveLength(1);
    const rest = await call(
      "GET",
      `/sessions/run-1/files?limit=1&cursor=${encodeURIComponent(paged.json.next_cursor)}`,
      { token: t.viewerKey },
    );
    expect(rest.json.files.map((f: any) => f.path)).toEqual(["telemetry.csv"]);

    const path = encodeURIComponent("camera/frame 01.png");
    const whole = await send("GET", `/sessions/run-1/files/download?path=${path}`, { token: t.viewerKey });
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-type")).toBe("image/png");
    expect(whole.headers.get("x-content-type-options")).toBe("nosniff");
    expect(whole.headers.get("content-disposition")).toBe(
      `inline; filename="frame_01.png"; filename*=UTF-8''frame%2001.png`,
    );
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(png);
    const etag = whole.headers.get("etag")!;

    const part = await send("GET", `/sessions/run-1/files/download?path=${path}`, {
      token: t.viewerKey,
      headers: { range: "bytes=100-199" },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 100-199/5000");
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(png.slice(100, 200));
    const beyond = await send("GET", `/sessions/run-1/files/download?path=${path}`, {
      token: t.viewerKey,
      headers: { range: "bytes=9000-" },
    });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe("bytes */5000");
    await beyond.arrayBuffer();
    const same = await send("GET", `/sessions/run-1/files/download?path=${path}`, {
      token: t.viewerKey,
      headers: { "if-none-match": etag },
    });
    expect(same.status).toBe(304);
    await same.arrayBuffer();

    let u = await usage(t);
    expect(u.artifact_bytes).toBe(5000 + csv.byteLength);
    expect(u.storage_bytes).toBe(5000 + csv.byteLength);
    // The same path again replaces the file: storage follows the new size, the upload counts again.
    expect(
      (await send("PUT", "/sessions/run-1/artifacts/camera/frame%2001.png", { token: t.deviceKey, body: bytes(2000) }))
        .status,
    ).toBe(201);
    u = await usage(t);
    expect(u.storage_bytes).toBe(2000 + csv.byteLength);
    expect(u.artifact_bytes).toBe(7000 + csv.byteLength);

    // Deleting takes an admin key.
    expect((await send("DELETE", `/sessions/run-1/files?path=${path}`, { token: t.viewerKey })).status).toBe(403);
    expect((await send("DELETE", `/sessions/run-1/files?path=${path}`, { token: t.adminKey })).status).toBe(204);
    expect((await send("DELETE", `/sessions/run-1/files?path=${path}`, { token: t.adminKey })).status).toBe(404);
    expect((await send("GET", `/sessions/run-1/files/download?path=${path}`, { token: t.viewerKey })).status).toBe(404);
    expect((await usage(t)).storage_bytes).toBe(csv.byteLength);

    // Another org sees none of it.
    const stranger = await tenant();
    expect((await call("GET", "/sessions/run-1/files", { token: stranger.viewerKey })).status).toBe(404);
    expect(
      (await send("GET", `/sessions/run-1/files/download?path=telemetry.csv`, { token: stranger.viewerKey })).status,
    ).toBe(404);
  });

  it("sends types a browser would run only as attachments", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "run-x");
    const active: [string, string][] = [
      ["page.html", "text/html"],
      ["logo.svg", "image/svg+xml"],
      ["app.js", "application/javascript"],
    ];
    for (const [name, type] of active) {
      await send("PUT", `/sessions/run-x/artifacts/${name}`, {
        token: t.deviceKey,
        body: bytes(10),
        headers: { "content-type": type },
      });
      const res = await send("GET", `/sessions/run-x/files/download?path=${name}`, { token: t.viewerKey });
      expect(res.headers.get("content-type")).toBe(type);
      expect(res.headers.get("content-disposition")).toBe(`attachment; filename="${name}"`);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      await res.arrayBuffer();
    }
  });

  it("shows inline only raster images and plain text, judged and served by the parsed type", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "run-t");
    // [stored type, served type, disposition]
    const cases: [string, string, "inline" | "attachment"][] = [
      ["image/png", "image/png", "inline"],
      ["IMAGE/JPEG", "image/jpeg", "inline"],
      ["image/webp", "image/webp", "inline"],
      ["text/plain; charset=UTF-8", "text/plain; charset=utf-8", "inline"],
      // Browsers take the last type of a comma list: a list is served as bytes, whatever it starts with.
      ["image/png, text/html", "application/octet-stream", "attachment"],
      ["text/plain, text/html", "application/octet-stream", "attachment"],
      ["text/xsl", "text/xsl", "attachment"],
      ["TEXT/HTML;charset=utf-8", "text/html; charset=utf-8", "attachment"],
      ["application/xhtml+xml", "application/xhtml+xml", "attachment"],
      ["image/svg+xml", "image/svg+xml", "attachment"],
      ["application/pdf", "application/pdf", "attachment"],
      ["text/csv", "text/csv", "attachment"],
      ["not a type", "application/octet-stream", "attachment"],
      ['image/png; name="a,b"', "application/octet-stream", "attachment"],
    ];
    for (const [i, [stored, served, disposition]] of cases.entries()) {
      const name = `f${i}.bin`;
      const put = await send("PUT", `/sessions/run-t/artifacts/${name}`, {
        token: t.deviceKey,
        body: bytes(10),
        headers: { "content-type": stored },
      });
      expect(put.status, stored).toBe(201);
      const res = await send("GET", `/sessions/run-t/files/download?path=${name}`, { token: t.viewerKey });
      expect(res.headers.get("content-type"), stored).toBe(served);
      expect(res.headers.get("content-disposition"), stored).toBe(`${disposition}; filename="${name}"`);
      expect(res.headers.get("x-content-type-options"), stored).toBe("nosniff");
      expect(res.headers.get("content-security-policy"), stored).toBe("sandbox");
      await res.arrayBuffer();
    }
    // Partial and conditional answers carry the same guard.
    const part = await send("GET", "/sessions/run-t/files/download?path=f4.bin", {
      token: t.viewerKey,
      headers: { range: "bytes=0-1" },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-security-policy")).toBe("sandbox");
    expect(part.headers.get("content-type")).toBe("application/octet-stream");
    await part.arrayBuffer();
    const same = await send("GET", "/sessions/run-t/files/download?path=f4.bin", {
      token: t.viewerKey,
      headers: { "if-none-match": part.headers.get("etag")! },
    });
    expect(same.status).toBe(304);
    expect(same.headers.get("content-security-policy")).toBe("sandbox");
    await same.arrayBuffer();
    // The listing still says what the device sent.
    const listed = (await call("GET", "/sessions/run-t/files?limit=100", { token: t.viewerKey })).json.files;
    expect(listed.find((f: any) => f.path === "f4.bin").content_type).toBe("image/png, text/html");
  });

  it("refuses hostile paths with 400 naming the path, and stores nothing", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "run-h");
    const hostile = [
      "a%2F..%2Fb", // an escaped slash around ..
      "a/%2e%2e%2fkeys", // escaped dots and slash (the URL parser leaves %2f alone)
      "a%00b", // NUL
      "a%0Ab", // a line break
      "a%E2%80%AEgnp.exe", // a right-to-left override
      "a%252e%252e/b", // double encoding
      "a//b", // an empty segment
      "a/b/", // a trailing slash
      "a%5Cb", // a backslash
      "x".repeat(1025),
    ];
    for (const p of hostile) {
      const res = await send("PUT", `/sessions/run-h/artifacts/${p}`, { token: t.deviceKey, body: bytes(3) });
      expect(res.status, p).toBe(400);
      const body = await res.json<any>();
      expect(body.error.code, p).toBe("validation_failed");
      expect(body.error.details[0]).toMatchObject({ location: "path", path: "path" });
    }
    for (const p of ["../x", "/etc/passwd", "a/./b", "%2e%2e/x"]) {
      const res = await send("GET", `/sessions/run-h/files/download?path=${encodeURIComponent(p)}`, {
        token: t.viewerKey,
      });
      expect(res.status, p).toBe(400);
      expect((await res.json<any>()).error.details[0]).toMatchObject({ location: "query", path: "path" });
    }
    expect((await call("GET", "/sessions/run-h/files", { token: t.viewerKey })).json.files).toEqual([]);
  });

  it("keeps the upload rules: own sessions only, 24 hours after the end, a Content-Length, the tier's size", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    await openSession(t.deviceKey, "mine");
    expect(
      (await send("PUT", "/sessions/mine/artifacts/a.bin", { token: other.deviceKey, body: bytes(3) })).status,
    ).toBe(409);
    expect((await send("PUT", "/sessions/nobody/artifacts/a.bin", { token: t.deviceKey, body: bytes(3) })).status).toBe(
      404,
    );
    // No Content-Length: a stream of unknown size belongs in a multipart upload.
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(bytes(10));
        c.close();
      },
    });
    const chunked = await exports.default.fetch(`${BASE}/sessions/mine/artifacts/a.bin`, {
      method: "PUT",
      headers: { authorization: `Bearer ${t.deviceKey}` },
      body: stream,
    });
    expect(chunked.status).toBe(411);
    expect((await chunked.json<any>()).error.code).toBe("length_required");

    // A session that ended 25 hours ago takes no more files; one that ended an hour ago does.
    const now = Date.now();
    await openSession(t.deviceKey, "old", { started_at: new Date(now - 48 * 3_600_000).toISOString() });
    await call("PATCH", "/sessions/old", {
      token: t.deviceKey,
      body: { status: "completed", completed_at: new Date(now - 25 * 3_600_000).toISOString() },
    });
    expect((await send("PUT", "/sessions/old/artifacts/a.bin", { token: t.deviceKey, body: bytes(3) })).status).toBe(
      409,
    );
    await openSession(t.deviceKey, "recent", { started_at: new Date(now - 2 * 3_600_000).toISOString() });
    await call("PATCH", "/sessions/recent", {
      token: t.deviceKey,
      body: { status: "completed", completed_at: new Date(now - 3_600_000).toISOString() },
    });
    expect((await send("PUT", "/sessions/recent/artifacts/a.bin", { token: t.deviceKey, body: bytes(3) })).status).toBe(
      201,
    );

    TIERS.pro.single_upload_bytes = 100;
    const big = await send("PUT", "/sessions/mine/artifacts/big.bin", { token: t.deviceKey, body: bytes(101) });
    expect(big.status).toBe(413);
    expect((await big.json<any>()).error.details).toEqual({ limit: 100 });
  });

  it("refuses an upload past the org's storage limit with 429 quota_exceeded", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "q");
    TIERS.pro.limits.storage_bytes = 1000;
    expect((await send("PUT", "/sessions/q/artifacts/a.bin", { token: t.deviceKey, body: bytes(800) })).status).toBe(
      201,
    );
    const refused = await send("PUT", "/sessions/q/artifacts/b.bin", { token: t.deviceKey, body: bytes(300) });
    expect(refused.status).toBe(429);
    expect((await refused.json<any>()).error).toMatchObject({
      code: "quota_exceeded",
      details: { quota: "storage_bytes", limit: 1000, used: 800 },
    });
    // Replacing within the limit is not more storage than there is room for... but the check is on what is held plus the upload.
    expect((await send("PUT", "/sessions/q/artifacts/c.bin", { token: t.deviceKey, body: bytes(200) })).status).toBe(
      201,
    );
  });

  it("counts the parts of unfinished uploads against the storage limit, and checks the whole file at completion", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "parts");
    const MiB = 1024 * 1024;
    TIERS.pro.limits.storage_bytes = 11 * MiB;
    const started = await call("POST", "/sessions/parts/artifacts/big.bin?uploads", { token: t.deviceKey });
    const uploadUrl = `/sessions/parts/artifacts/big.bin?upload_id=${encodeURIComponent(started.json.upload_id)}`;
    const part = (n: number, body: Uint8Array) =>
      send("PUT", `${uploadUrl}&part_number=${n}`, { token: t.deviceKey, body });
    const first = await (await part(1, bytes(5 * MiB, 1))).json<any>();
    expect((await part(2, bytes(5 * MiB, 2))).status).toBe(200);
    // A part sent again replaces its first copy: it is counted once.
    const second = await part(2, bytes(5 * MiB, 3));
    expect(second.status).toBe(200);
    const secondPart = (await second.json<any>()).part;

    // 10 MiB are held in parts: a 2 MiB file no longer fits, nor does a third part.
    const refused = await send("PUT", "/sessions/parts/artifacts/small.bin", {
      token: t.deviceKey,
      body: bytes(2 * MiB),
    });
    expect(refused.status).toBe(429);
    expect((await refused.json<any>()).error).toMatchObject({
      code: "quota_exceeded",
      details: { quota: "storage_bytes", limit: 11 * MiB, used: 10 * MiB },
    });
    expect((await part(3, bytes(2 * MiB))).status).toBe(429);

    // Completion weighs the whole file against the limit as it is now.
    TIERS.pro.limits.storage_bytes = 9 * MiB;
    const body = { parts: [first.part, secondPart] };
    const tooBig = await call("POST", `${uploadUrl}&complete`, { token: t.deviceKey, body });
    expect(tooBig.status).toBe(429);
    expect(tooBig.json.error).toMatchObject({
      code: "quota_exceeded",
      details: { quota: "storage_bytes", limit: 9 * MiB, used: 0 },
    });
    TIERS.pro.limits.storage_bytes = 11 * MiB;
    const done = await call("POST", `${uploadUrl}&complete`, { token: t.deviceKey, body });
    expect(done.status).toBe(201);
    expect(done.json.size).toBe(10 * MiB);
    // The file now holds those bytes, counted once.
    expect((await usage(t)).storage_bytes).toBe(10 * MiB);
    expect(
      (await send("PUT", "/sessions/parts/artifacts/small.bin", { token: t.deviceKey, body: bytes(MiB) })).status,
    ).toBe(201);

    // Giving an upload up gives its parts' bytes back.
    TIERS.pro.limits.storage_bytes = 20 * MiB;
    const other = await call("POST", "/sessions/parts/artifacts/other.bin?uploads", { token: t.deviceKey });
    const otherUrl = `/sessions/parts/artifacts/other.bin?upload_id=${encodeURIComponent(other.json.upload_id)}`;
    expect((await send("PUT", `${otherUrl}&part_number=1`, { token: t.deviceKey, body: bytes(5 * MiB) })).status).toBe(
      200,
    );
    expect(
      (await send("PUT", "/sessions/parts/artifacts/more.bin", { token: t.deviceKey, body: bytes(5 * MiB) })).status,
    ).toBe(429);
    expect((await send("DELETE", otherUrl, { token: t.deviceKey })).status).toBe(204);
    expect(
      (await send("PUT", "/sessions/parts/artifacts/more.bin", { token: t.deviceKey, body: bytes(5 * MiB) })).status,
    ).toBe(201);
  });

  it("keeps at most 10 uploads open per device", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "many");
    const start = (token: string, i: number) => call("POST", `/sessions/many/artifacts/f${i}.bin?uploads`, { token });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await start(t.deviceKey, i);
      expect(res.status).toBe(201);
      ids.push(res.json.upload_id);
    }
    const refused = await start(t.deviceKey, 10);
    expect(refused.status).toBe(429);
    expect(refused.json.error).toEqual({
      code: "quota_exceeded",
      message: expect.any(String),
      details: { quota: "open_uploads", limit: 10, used: 10, resets_at: null },
    });
    // The cap is the device's own: another device of the project still starts uploads.
    const other = await newDevice(t.adminKey, t.projectId);
    await openSession(other.deviceKey, "theirs");
    expect((await call("POST", "/sessions/theirs/artifacts/a.bin?uploads", { token: other.deviceKey })).status).toBe(
      201,
    );
    // Giving one up frees its place.
    expect(
      (
        await send("DELETE", `/sessions/many/artifacts/f0.bin?upload_id=${encodeURIComponent(ids[0]!)}`, {
          token: t.deviceKey,
        })
      ).status,
    ).toBe(204);
    expect((await start(t.deviceKey, 10)).status).toBe(201);
    expect((await start(t.deviceKey, 11)).status).toBe(429);
  });

  it("takes a large file in parts, and refuses parts of another device's upload", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "big");
    const MiB = 1024 * 1024;
    const parts = [bytes(5 * MiB, 1), bytes(5 * MiB, 2), bytes(1234, 3)];
    const started = await call("POST", "/sessions/big/artifacts/rosbag/run.mcap?uploads", {
      token: t.deviceKey,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(started.status).toBe(201);
    const uploadId = started.json.upload_id as string;

    const other = await newDevice(t.adminKey, t.projectId);
    expect(
      (
        await send(
          "PUT",
          `/sessions/big/artifacts/rosbag/run.mcap?upload_id=${encodeURIComponent(uploadId)}&part_number=1`,
          { token: other.deviceKey, body: bytes(10) },
        )
      ).status,
    ).toBe(409);

    const done = [];
    for (const [i, body] of parts.entries()) {
      const res = await send(
        "PUT",
        `/sessions/big/artifacts/rosbag/run.mcap?upload_id=${encodeURIComponent(uploadId)}&part_number=${i + 1}`,
        { token: t.deviceKey, body },
      );
      expect(res.status).toBe(200);
      const answer = await res.json<any>();
      expect(answer.part).toMatchObject({ part_number: i + 1, etag: expect.any(String) });
      done.push(answer.part);
    }
    const wrong = await call(
      "POST",
      `/sessions/big/artifacts/rosbag/run.mcap?upload_id=${encodeURIComponent(uploadId)}&complete`,
      {
        token: t.deviceKey,
        body: { parts: [{ part_number: 1, etag: "nope" }] },
      },
    );
    expect(wrong.status).toBe(400);
    const completed = await call(
      "POST",
      `/sessions/big/artifacts/rosbag/run.mcap?upload_id=${encodeURIComponent(uploadId)}&complete`,
      { token: t.deviceKey, body: { parts: done } },
    );
    expect(completed.status).toBe(201);
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    expect(completed.json).toMatchObject({ path: "rosbag/run.mcap", size: total });

    const tail = await send("GET", `/sessions/big/files/download?path=rosbag/run.mcap`, {
      token: t.viewerKey,
      headers: { range: `bytes=${total - 1234}-` },
    });
    expect(tail.status).toBe(206);
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(parts[2]);
    expect((await usage(t)).storage_bytes).toBe(total);
  });

  it("bundles a session into one zip: its files under files/ and its logs as logs.ndjson", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "trip");
    await send("PUT", "/sessions/trip/artifacts/map/site.pgm", { token: t.deviceKey, body: bytes(3000) });
    await send("PUT", "/sessions/trip/artifacts/notes.txt", {
      token: t.deviceKey,
      body: new TextEncoder().encode("all good"),
    });
    await ingest(t.deviceKey, {
      session_id: "trip",
      logs: [line("INFO", "start"), line("ERROR", "bump"), line("INFO", "stop")],
    });
    const res = await send("GET", "/sessions/trip/bundle", { token: t.viewerKey });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="fleetbeat-session-trip.zip"');
    const zip = unzipSync(new Uint8Array(await res.arrayBuffer()));
    expect(Object.keys(zip).sort()).toEqual(["files/map/site.pgm", "files/notes.txt", "logs.ndjson", "manifest.json"]);
    expect(zip["files/map/site.pgm"]).toEqual(bytes(3000));
    expect(new TextDecoder().decode(zip["files/notes.txt"])).toBe("all good");
    const logs = new TextDecoder()
      .decode(zip["logs.ndjson"])
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(logs.map((l) => l.message)).toEqual(["start", "bump", "stop"]);
    expect(logs.every((l) => l.session_id === "trip")).toBe(true);
  });
});

describe("the session bundle's names", () => {
  /** What Windows refuses in a name besides the separators, and what it strips (trailing dots and spaces). */
  // biome-ignore lint/suspicious/noControlCharactersInRegex: Windows refuses control characters in names; this is what the test checks
  const WINDOWS_REFUSES = /[<>:"|?*\\\u0000-\u001f]|[. ]$/;
  const DEVICE_NAME = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;
  const fold = (name: string) => name.normalize("NFC").toUpperCase().toLowerCase();

  it("extract everywhere: no file is also a folder, no two names differ only by case, no name Windows refuses; a manifest maps each", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "odd");
    const paths = [
      "a",
      "a/secret.txt",
      "con/aux.txt",
      "Notes.txt",
      "notes.txt",
      "NOTES.TXT/inner.txt",
      "trailing. ",
      "trailing",
      "dots...",
      'what?<x>:"y"|z*.log',
      "LPT1.bin",
      "nul",
      "fine/ok.csv",
    ];
    const uploaded = new Map<string, Uint8Array>();
    for (const [i, path] of paths.entries()) {
      const body = bytes(100 + i, i);
      const url = `/sessions/odd/artifacts/${path.split("/").map(encodeURIComponent).join("/")}`;
      const put = await send("PUT", url, { token: t.deviceKey, body });
      expect(put.status, path).toBe(201);
      uploaded.set(path, body);
    }
    const listed = (await call("GET", "/sessions/odd/files?limit=100", { token: t.viewerKey })).json.files as any[];
    expect(listed).toHaveLength(paths.length);

    const res = await send("GET", "/sessions/odd/bundle", { token: t.viewerKey });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toBe("sandbox");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const zip = unzipSync(new Uint8Array(await res.arrayBuffer()));
    const names = Object.keys(zip);

    // Every entry would extract: checked on the names themselves, as an extractor meets them.
    const files = new Set(names.map(fold));
    expect(files.size, "names that differ only by case").toBe(names.length);
    for (const name of names) {
      const segments = name.split("/");
      for (let i = 1; i < segments.length; i++) {
        expect(files.has(fold(segments.slice(0, i).join("/"))), `${name}: a file is named like its folder`).toBe(false);
      }
      for (const segment of segments) {
        expect(segment, name).not.toMatch(WINDOWS_REFUSES);
        expect(segment.split(".")[0]!.trimEnd(), name).not.toMatch(DEVICE_NAME);
      }
    }

    // The manifest lists each file once: stored path, name in the zip, size and ETag, as stored.
    const manifest = JSON.parse(new TextDecoder().decode(zip["manifest.json"]));
    expect(manifest.files).toHaveLength(paths.length);
    for (const f of listed) {
      const entry = manifest.files.find((m: any) => m.path === f.path);
      expect(entry, f.path).toEqual({
        path: f.path,
        name: expect.stringMatching(/^files\//),
        size: f.size,
        etag: f.etag,
      });
      expect(zip[entry.name], f.path).toEqual(uploaded.get(f.path));
    }
    expect(new Set(manifest.files.map((m: any) => m.name)).size).toBe(paths.length);
    // Names that extract everywhere already are kept; the rest are renamed, the same way every time.
    const nameOf = (path: string) => manifest.files.find((m: any) => m.path === path).name;
    expect(nameOf("a")).toBe("files/a");
    expect(nameOf("fine/ok.csv")).toBe("files/fine/ok.csv");
    expect(nameOf("a/secret.txt")).not.toBe("files/a/secret.txt");
    const again = unzipSync(
      new Uint8Array(await (await send("GET", "/sessions/odd/bundle", { token: t.viewerKey })).arrayBuffer()),
    );
    expect(Object.keys(again).sort()).toEqual([...names].sort());
  });
});

describe("the R2 housekeeping of the jobs", () => {
  it("the hourly job aborts uploads that had no part for a day, and gives their bytes back", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "left");
    const MiB = 1024 * 1024;
    TIERS.pro.limits.storage_bytes = 8 * MiB;
    const idle = (await call("POST", "/sessions/left/artifacts/half.bin?uploads", { token: t.deviceKey })).json
      .upload_id as string;
    expect(
      (
        await send("PUT", `/sessions/left/artifacts/half.bin?upload_id=${encodeURIComponent(idle)}&part_number=1`, {
          token: t.deviceKey,
          body: bytes(5 * MiB),
        })
      ).status,
    ).toBe(200);
    // Started two days ago, but its last part came an hour ago: still under way.
    const busy = (await call("POST", "/sessions/left/artifacts/slow.bin?uploads", { token: t.deviceKey })).json
      .upload_id as string;
    const now = Date.now();
    const age = (id: string, startedAgo: number, lastPartAgo: number) =>
      env.DB.prepare("UPDATE uploads SET created_at = ?, active_at = ? WHERE upload_id = ?")
        .bind(now - startedAgo, now - lastPartAgo, id)
        .run();
    await age(idle, 30 * 3_600_000, 25 * 3_600_000);
    await age(busy, 48 * 3_600_000, 3_600_000);
    expect(
      (await send("PUT", "/sessions/left/artifacts/keep.bin", { token: t.deviceKey, body: bytes(4 * MiB) })).status,
    ).toBe(429);

    await runJobs(CRON.hourly, now);
    const left = await env.DB.prepare("SELECT upload_id FROM uploads WHERE project_id = ?")
      .bind(t.projectId)
      .all<{ upload_id: string }>();
    expect(left.results.map((r) => r.upload_id)).toEqual([busy]);
    const late = await send(
      "PUT",
      `/sessions/left/artifacts/half.bin?upload_id=${encodeURIComponent(idle)}&part_number=2`,
      { token: t.deviceKey, body: bytes(10) },
    );
    expect(late.status).toBe(404);
    // Its 5 MiB of parts no longer count.
    expect(
      (await send("PUT", "/sessions/left/artifacts/keep.bin", { token: t.deviceKey, body: bytes(4 * MiB) })).status,
    ).toBe(201);
  });

  it("the daily job empties a deleted project's files", async () => {
    const t = await tenant();
    await openSession(t.deviceKey, "left");
    await send("PUT", "/sessions/left/artifacts/keep.bin", { token: t.deviceKey, body: bytes(100) });

    // A deleted project's files go with the next daily run; another project's stay.
    const other = await tenant();
    await openSession(other.deviceKey, "stays");
    await send("PUT", "/sessions/stays/artifacts/a.bin", { token: other.deviceKey, body: bytes(10) });
    expect((await call("DELETE", `/projects/${t.projectId}`, { token: t.adminKey })).status).toBe(200);
    await runJobs(CRON.daily, Date.now());
    expect((await env.STORAGE.list({ prefix: `artifacts/${t.projectId}/` })).objects).toEqual([]);
    expect((await env.STORAGE.list({ prefix: `artifacts/${other.projectId}/` })).objects).toHaveLength(1);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM r2_purges").first<{ n: number }>())!.n).toBe(0);
  });
});
