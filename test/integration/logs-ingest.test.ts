import { describe, expect, it } from "vitest";
import { LOG_UPLOAD } from "../../src/contract/limits";
import { hotLineIds } from "../support/hot-lines";
import { call, gzip, ingest, loghubLines, tenant } from "./helpers";

/** Lines the device's shard holds for it. */
const stored = async (deviceId: string) => (await hotLineIds(deviceId)).length;

describe("log ingest", () => {
  it("keeps the valid lines of a batch and rejects the others by index with a reason", async () => {
    const t = await tenant();
    const good = loghubLines("HDFS", 3);
    const body = {
      logs: [
        good[0],
        { ...good[1], level: "TRACE" }, // a level elsewhere, not in the contract
        good[1],
        { timestamp_us: good[0]!.timestamp_us, level: "INFO", module: "m" }, // no message
        { ...good[2], timestamp: "yesterday-ish" },
        { ...good[2], timestamp_us: 1 }, // 1970: older than the hot window
        { ...good[2], timestamp_us: (Date.now() + 3600_000) * 1000 }, // an hour ahead
        { ...good[2], message: "x".repeat(20_000) },
        { ...good[2], context: { nested: { no: true } } },
        "not an object",
        { ...good[2], module: undefined }, // no module
        { ...good[2], timestamp_us: undefined, timestamp: "2026-02-30T00:00:00Z" }, // no such day
        { level: "INFO", module: "m", message: "no time" },
        good[2],
      ],
    };
    const res = await ingest(t.deviceKey, body);
    expect(res.status).toBe(200);
    expect(res.json.accepted).toBe(3);
    expect(res.json.duplicate).toBe(false);
    expect(res.json.rejected.map((r: any) => r.index)).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const reasons = Object.fromEntries(res.json.rejected.map((r: any) => [r.index, r.reason]));
    expect(reasons[1]).toMatch(/^level:/);
    expect(reasons[3]).toMatch(/^message:/);
    expect(reasons[4]).toMatch(/^timestamp:/);
    expect(reasons[5]).toMatch(/older than the hot window/);
    expect(reasons[6]).toMatch(/future/);
    expect(reasons[7]).toMatch(/^message:/);
    expect(reasons[8]).toMatch(/^context/);
    expect(reasons[10]).toMatch(/^module:/);
    expect(reasons[11]).toBe("timestamp: not a valid date");
    expect(reasons[12]).toMatch(/^timestamp: timestamp \(ISO 8601\) or timestamp_us is required/);
    expect(await stored(t.deviceId)).toBe(3);
  });

  it("accepts ISO timestamps with microseconds and keeps them", async () => {
    const t = await tenant();
    const ts = new Date(Date.now() - 60_000).toISOString().replace("Z", "123Z"); // …ss.mmm123Z
    const res = await ingest(t.deviceKey, {
      logs: [{ timestamp: ts, level: "warn", module: "nav", message: "slow wheel" }],
    });
    expect(res.json.accepted).toBe(1);
    const logs = await call("GET", `/logs?device_id=${t.deviceId}`, { token: t.viewerKey });
    expect(logs.json.logs[0]).toMatchObject({ timestamp: ts, level: "WARN", module: "nav", message: "slow wheel" });

    // The same instant written the ways devices write it: no zone (UTC), an offset, a space.
    const base = new Date(Date.now() - 120_000);
    base.setUTCMilliseconds(250);
    const utc = base.toISOString(); // …:ss.250Z
    const plain = utc.slice(0, -1); // no zone
    const shifted = new Date(base.getTime() + 2 * 3600_000).toISOString().slice(0, -1) + "+0200";
    const spaced = plain.replace("T", " ");
    const res2 = await ingest(t.deviceKey, {
      logs: [plain, shifted, spaced].map((timestamp, i) => ({
        timestamp,
        level: "INFO",
        module: "clock",
        message: `form ${i}`,
      })),
    });
    expect(res2.json).toMatchObject({ accepted: 3, rejected: [] });
    const forms = await call("GET", `/logs?device_id=${t.deviceId}&q=form`, { token: t.viewerKey });
    expect(new Set(forms.json.logs.map((l: any) => l.timestamp))).toEqual(new Set([utc.replace("Z", "000Z")]));
  });

  it("a retried batch_id is answered as a duplicate and nothing is stored twice", async () => {
    const t = await tenant();
    const body = { batch_id: "b-0001", logs: [...loghubLines("Linux", 4), { level: "nope", message: "x" }] };
    const first = await ingest(t.deviceKey, body);
    expect(first.json).toMatchObject({ accepted: 4, duplicate: false });
    const again = await ingest(t.deviceKey, body);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ accepted: 4, duplicate: true, rejected: first.json.rejected });
    expect(await stored(t.deviceId)).toBe(4);
    // The same batch_id from another device is that device's own batch.
    const other = await tenant();
    expect((await ingest(other.deviceKey, body)).json.duplicate).toBe(false);
  });

  it("takes a gzip body", async () => {
    const t = await tenant();
    const body = JSON.stringify({ logs: loghubLines("OpenSSH", 500) });
    const compressed = await gzip(body);
    expect(compressed.byteLength).toBeLessThan(body.length / 3);
    const res = await call("POST", "/logs/ingest", {
      token: t.deviceKey,
      raw: compressed,
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
    });
    expect(res.status).toBe(200);
    expect(res.json.accepted).toBe(500);
  });

  it("answers a gzip bomb with 413 after reading at most the limit", async () => {
    const t = await tenant();
    // 64 MiB of zeros inside a valid JSON string compresses to ~64 KiB.
    const bomb = await gzip(`{"logs":[{"level":"INFO","message":"${"0".repeat(64 * 1024 * 1024)}"}]}`);
    expect(bomb.byteLength).toBeLessThan(LOG_UPLOAD.max_bytes);
    const res = await call("POST", "/logs/ingest", {
      token: t.deviceKey,
      raw: bomb,
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
    });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe("payload_too_large");
    expect(await stored(t.deviceId)).toBe(0);
  });

  it("answers malformed gzip, malformed JSON and wrong encodings with clear 4xx", async () => {
    const t = await tenant();
    const headers = { "content-type": "application/json", "content-encoding": "gzip" };
    const notGzip = await call("POST", "/logs/ingest", { token: t.deviceKey, raw: "this is not gzip", headers });
    expect(notGzip.status).toBe(400);
    expect(notGzip.json.error.code).toBe("bad_request");
    const truncated = (await gzip(JSON.stringify({ logs: loghubLines("HDFS", 50) }))).slice(0, 40);
    expect((await call("POST", "/logs/ingest", { token: t.deviceKey, raw: truncated, headers })).status).toBe(400);
    const badJson = await call("POST", "/logs/ingest", {
      token: t.deviceKey,
      raw: '{"logs": [',
      headers: { "content-type": "application/json" },
    });
    expect(badJson.status).toBe(400);
    const gzippedBadJson = await call("POST", "/logs/ingest", {
      token: t.deviceKey,
      raw: await gzip('{"logs": ['),
      headers,
    });
    expect(gzippedBadJson.status).toBe(400);
    const brotli = await call("POST", "/logs/ingest", {
      token: t.deviceKey,
      raw: "x",
      headers: { "content-type": "application/json", "content-encoding": "br" },
    });
    expect(brotli.status).toBe(415);
    const noLogs = await ingest(t.deviceKey, { lines: [] });
    expect(noLogs.status).toBe(400);
    expect(noLogs.json.error.details[0].path).toBe("logs");
  });

  it("answers batches over the documented limits with 413", async () => {
    const t = await tenant();
    const tooMany = await ingest(t.deviceKey, {
      logs: Array.from({ length: LOG_UPLOAD.max_lines + 1 }, () => ({ level: "INFO", message: "x" })),
    });
    expect(tooMany.status).toBe(413);
    expect(tooMany.json.error.details.limit).toBe(LOG_UPLOAD.max_lines);
    const tooBig = await call("POST", "/logs/ingest", {
      token: t.deviceKey,
      raw: JSON.stringify({ logs: [{ level: "INFO", message: "x".repeat(LOG_UPLOAD.max_bytes) }] }),
      headers: { "content-type": "application/json" },
    });
    expect(tooBig.status).toBe(413);
    expect(await stored(t.deviceId)).toBe(0);
  });

  it("needs a device key", async () => {
    const t = await tenant();
    expect((await ingest(t.adminKey, { logs: [] })).status).toBe(403);
    expect((await call("POST", "/logs/ingest", { body: { logs: [] } })).status).toBe(401);
  });
});
