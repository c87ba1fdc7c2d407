import { describe, expect, it } from "vitest";
import { call, newOrg, tenant } from "./helpers";

const isContractError = (json: any, code: string) =>
  expect(json).toEqual({
    error: {
      code,
      message: expect.any(String),
      ...(json.error.details !== undefined ? { details: json.error.details } : {}),
    },
  });

describe("every failure answers in the contract's error shape", () => {
  it("malformed JSON is a 400 bad_request", async () => {
    const { adminKey } = await newOrg();
    const res = await call("POST", "/projects", {
      token: adminKey,
      raw: '{"name": "x"',
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    isContractError(res.json, "bad_request");
  });

  it("a body that is not JSON gets 415", async () => {
    const { adminKey } = await newOrg();
    const res = await call("POST", "/projects", {
      token: adminKey,
      raw: "name=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(415);
    isContractError(res.json, "unsupported_media_type");
  });

  it("a body over the limit gets 413, by Content-Length or by streaming", async () => {
    const { adminKey } = await newOrg();
    const huge = JSON.stringify({ name: "x".repeat(200_000) });
    const res = await call("POST", "/projects", {
      token: adminKey,
      raw: huge,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    isContractError(res.json, "payload_too_large");

    const chunks = new ReadableStream({
      start(c) {
        for (let i = 0; i < 100; i++) c.enqueue(new TextEncoder().encode("x".repeat(1000)));
        c.close();
      },
    });
    const streamed = await call("POST", "/projects", {
      token: adminKey,
      raw: chunks,
      headers: { "content-type": "application/json" },
    });
    expect(streamed.status).toBe(413);
  });

  it("validation_failed lists each field path", async () => {
    const t = await tenant();
    const res = await call("POST", "/fleet/heartbeat", {
      token: t.deviceKey,
      body: { status: "sleeping", metrics: { cpu_usage: "high", temperature: 41 } },
    });
    expect(res.status).toBe(400);
    isContractError(res.json, "validation_failed");
    const paths = res.json.error.details.map((d: any) => d.path).sort();
    expect(paths).toEqual(["metrics.cpu_usage", "status"]);
  });

  it("unknown enum values and oversize strings are refused with their paths", async () => {
    const res = await call("POST", "/orgs", {
      token: (await import("./helpers")).ADMIN,
      body: { name: "n".repeat(500), tier: "platinum" },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.details.map((d: any) => d.path).sort()).toEqual(["name", "tier"]);
  });

  it("bad query and path parameters are validation failures, not 500s", async () => {
    const t = await tenant();
    const q = await call("GET", "/fleet/devices?limit=abc&status=sleeping", { token: t.adminKey });
    expect(q.status).toBe(400);
    expect(q.json.error.details.map((d: any) => `${d.location}:${d.path}`).sort()).toEqual([
      "query:limit",
      "query:status",
    ]);
    // An id that cannot exist names nothing: 404, as for an unknown id.
    const p = await call("GET", "/fleet/devices/not-an-id", { token: t.adminKey });
    expect(p.status).toBe(404);
    isContractError(p.json, "not_found");
    expect(p.json.error.details).toMatchObject({ location: "path", path: "device_id" });
    expect((await call("DELETE", "/keys/xyz", { token: t.adminKey })).status).toBe(404);
    expect((await call("GET", `/fleet/devices/${crypto.randomUUID()}`, { token: t.adminKey })).status).toBe(404);
    const cursor = await call("GET", "/fleet/devices?cursor=garbage", { token: t.adminKey });
    expect(cursor.status).toBe(400);
    expect(cursor.json.error.details[0].path).toBe("cursor");
  });

  it("deeply nested JSON and out-of-range times are refused, not crashed on", async () => {
    const t = await tenant();
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    const cmd = await call("POST", "/fleet/commands", {
      token: t.adminKey,
      raw: `{"device_id":"${t.deviceId}","command":"x","params":${deep(3000)}}`,
      headers: { "content-type": "application/json" },
    });
    expect(cmd.status).toBe(400);
    expect(cmd.json.error.details[0].path).toBe("params");
    const ingest = await call("POST", "/logs/ingest", {
      token: t.deviceKey,
      raw: `{"logs":[${deep(10_000)}]}`,
      headers: { "content-type": "application/json" },
    });
    expect(ingest.status).toBe(200);
    expect(ingest.json).toMatchObject({ accepted: 0, rejected: [{ index: 0 }] });
    const metrics = await call("GET", `/fleet/devices/${t.deviceId}/metrics?to=8640000000000001`, {
      token: t.adminKey,
    });
    expect(metrics.status).toBe(400);
    const logs = await call("GET", `/logs?device_id=${t.deviceId}&from=9007199254740991`, { token: t.adminKey });
    expect(logs.status).toBe(400);
  });

  it("a JSON body that is not an object is refused", async () => {
    const { adminKey } = await newOrg();
    for (const raw of ["[]", "42", '"x"', "null"]) {
      const res = await call("POST", "/projects", {
        token: adminKey,
        raw,
        headers: { "content-type": "application/json" },
      });
      expect(res.status, raw).toBe(400);
      isContractError(res.json, "validation_failed");
    }
  });

  it("invalid UTF-8 is a 400", async () => {
    const { adminKey } = await newOrg();
    const res = await call("POST", "/projects", {
      token: adminKey,
      raw: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
  });

  it("unknown routes and missing credentials answer in the same shape", async () => {
    const nf = await call("GET", "/nowhere");
    expect(nf.status).toBe(404);
    isContractError(nf.json, "not_found");
    const noAuth = await call("GET", "/projects");
    expect(noAuth.status).toBe(401);
    isContractError(noAuth.json, "unauthorized");
    const badAuth = await call("GET", "/projects", { token: "fbk_nope" });
    expect(badAuth.status).toBe(401);
  });
});

describe("validation errors are worded for people, in the same shape", () => {
  it("name the field and what it must be: ids, missing fields, enums, times", async () => {
    const t = await tenant();
    const badId = await call("GET", "/stats/usage?org_id=nope", { token: t.viewerKey });
    expect(badId.status).toBe(400);
    isContractError(badId.json, "validation_failed");
    const example = "org_01JD8X3Y6Q0R5T7V9W2Z4A6B8C (org_ and 26 letters and digits)";
    expect(badId.json.error).toEqual({
      code: "validation_failed",
      message: `invalid query: org_id must be an org id like ${example}`,
      details: [
        { location: "query", path: "org_id", message: `must be an org id like ${example}`, code: "invalid_format" },
      ],
    });
    const project = await call("GET", "/sessions?project_id=prj_1", { token: t.viewerKey });
    expect(project.json.error.message).toBe(
      "invalid query: project_id must be a project id like prj_01JD8X3Y6Q0R5T7V9W2Z4A6B8C (prj_ and 26 letters and digits)",
    );

    const missing = await call("POST", "/projects", { token: t.adminKey, body: {} });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toBe("invalid body: name is required");
    expect(missing.json.error.details).toEqual([
      { location: "body", path: "name", message: "is required", code: "invalid_type" },
    ]);

    const status = await call("GET", `/sessions?project_id=${t.projectId}&status=done`, { token: t.viewerKey });
    expect(status.json.error.details[0]).toMatchObject({
      path: "status",
      message: 'must be one of "active", "completed", "failed", "aborted", "timed_out"',
    });

    const time = await call("GET", `/sessions?project_id=${t.projectId}&from=last+week`, { token: t.viewerKey });
    expect(time.status).toBe(400);
    expect(time.json.error.message).toBe(
      "invalid query: from must be a time: ISO 8601 (2026-12-01T08:00:00Z), a date (2026-12-01, UTC) or milliseconds since 1970",
    );
    // No raw zod words reach people here.
    for (const res of [badId, project, missing, status, time])
      expect(JSON.stringify(res.json)).not.toMatch(/Invalid input|Too small|Too big|not a \w+_ id/);
  });
});
