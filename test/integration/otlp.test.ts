// POST /v1/logs in workerd: OTLP JSON and protobuf, gzip, the mapping to fleetbeat's lines,
// partial success, retried exports stored once, and the answers OTLP exporters act on.

import { exports } from "cloudflare:workers";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { TIERS } from "../../src/contract/tiers";
import { StatusSchema } from "../../src/otlp/gen/google/rpc/status_pb";
import {
  ExportLogsServiceRequestSchema,
  ExportLogsServiceResponseSchema,
} from "../../src/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb";
import { allLogs, call, newDevice, newOrg, newProject, tenant } from "./helpers";

async function gzipBytes(bytes: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(
    await new Response(
      new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

/** An OTLP/JSON export as the OpenTelemetry SDKs write it. */
function jsonExport(records: Record<string, unknown>[], resource: Record<string, unknown> = {}, scope = "nav.planner") {
  const attrs = (o: Record<string, unknown>) =>
    Object.entries(o).map(([key, v]) => ({
      key,
      value:
        typeof v === "number"
          ? Number.isInteger(v)
            ? { intValue: String(v) }
            : { doubleValue: v }
          : typeof v === "boolean"
            ? { boolValue: v }
            : { stringValue: v },
    }));
  return {
    resourceLogs: [
      {
        resource: { attributes: attrs({ "service.name": "robot-nav", ...resource }) },
        scopeLogs: [
          {
            scope: { name: scope, version: "1.0.0" },
            logRecords: records.map((r) => ({
              ...r,
              attributes: attrs((r.attributes as Record<string, unknown>) ?? {}),
            })),
          },
        ],
      },
    ],
  };
}

async function post(token: string, body: BodyInit, contentType: string, extra: Record<string, string> = {}) {
  const res = await exports.default.fetch("http://fleetbeat.test/v1/logs", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": contentType, ...extra },
    body,
  });
  return res;
}

describe("OTLP/HTTP logs in", () => {
  it("maps JSON records to lines: level, module, logger, message, time, session and context", async () => {
    const t = await tenant();
    const ts = nowNs();
    const res = await post(
      t.deviceKey,
      JSON.stringify(
        jsonExport([
          {
            timeUnixNano: String(ts),
            severityNumber: 17,
            severityText: "Error",
            body: { stringValue: "path blocked" },
            attributes: { "code.namespace": "planner.astar", retries: 3, "session.id": "otlp-run-1" },
            traceId: "5b8efff798038103d269b633813fc60c",
            spanId: "eee19b7ec3c1b174",
          },
          {
            observedTimeUnixNano: String(ts + 1000n),
            severityNumber: 9,
            body: { kvlistValue: { values: [{ key: "x", value: { intValue: "4" } }] } },
          },
          { timeUnixNano: String(ts + 2000n), severityText: "warning", body: { stringValue: "slow tick" } },
          { timeUnixNano: String(ts + 3000n), severityNumber: 22, body: { stringValue: "motor fault" } },
          { timeUnixNano: String(ts + 4000n), severityNumber: 3, body: { stringValue: "trace detail" } },
        ]),
      ),
      "application/json",
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    const lines = await allLogs(t.adminKey, `device_id=${t.deviceId}&order=asc`);
    expect(lines.map((l) => [l.level, l.module, l.logger, l.message])).toEqual([
      ["ERROR", "planner.astar", "nav.planner", "path blocked"],
      ["INFO", "nav.planner", "nav.planner", '{"x":4}'],
      ["WARN", "nav.planner", "nav.planner", "slow tick"],
      ["FATAL", "nav.planner", "nav.planner", "motor fault"],
      ["DEBUG", "nav.planner", "nav.planner", "trace detail"],
    ]);
    expect(lines[0]).toMatchObject({
      session_id: "otlp-run-1",
      context: { retries: 3, trace_id: "5b8efff798038103d269b633813fc60c", span_id: "eee19b7ec3c1b174" },
      timestamp_us: Number(ts / 1000n),
    });
    expect(lines[1]!.timestamp_us).toBe(Number((ts + 1000n) / 1000n));
    expect(lines[1]!.session_id).toBeNull();
  });

  it("takes protobuf, gzipped, answers in protobuf, and falls back to service.name and otlp for the module", async () => {
    const t = await tenant();
    const ts = nowNs();
    const request = create(ExportLogsServiceRequestSchema, {
      resourceLogs: [
        {
          resource: {
            attributes: [
              { key: "service.name", value: { value: { case: "stringValue", value: "arm-controller" } } },
              { key: "session.id", value: { value: { case: "stringValue", value: "pb-session" } } },
            ],
          },
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: ts,
                  severityNumber: 13,
                  body: { value: { case: "stringValue", value: "joint 3 warm" } },
                  traceId: new Uint8Array(16).fill(0xab),
                  spanId: new Uint8Array(8).fill(0xcd),
                },
              ],
            },
          ],
        },
        { scopeLogs: [{ logRecords: [{ timeUnixNano: ts + 1n, body: { value: { case: "intValue", value: 42n } } }] }] },
      ],
    });
    const res = await post(
      t.deviceKey,
      await gzipBytes(toBinary(ExportLogsServiceRequestSchema, request)),
      "application/x-protobuf",
      {
        "content-encoding": "gzip",
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-protobuf");
    expect(
      fromBinary(ExportLogsServiceResponseSchema, new Uint8Array(await res.arrayBuffer())).partialSuccess,
    ).toBeUndefined();
    const lines = await allLogs(t.adminKey, `device_id=${t.deviceId}&order=asc`);
    expect(lines.map((l) => [l.level, l.module, l.message, l.session_id])).toEqual([
      ["WARN", "arm-controller", "joint 3 warm", "pb-session"],
      ["INFO", "otlp", "42", null],
    ]);
    expect(lines[0]!.context).toEqual({ trace_id: "ab".repeat(16), span_id: "cd".repeat(8) });
  });

  it("keeps the valid records beside rejected ones, and says so as partial success", async () => {
    const t = await tenant();
    const ts = nowNs();
    const res = await post(
      t.deviceKey,
      JSON.stringify(
        jsonExport([
          { timeUnixNano: String(ts), severityNumber: 9, body: { stringValue: "kept" } },
          { severityNumber: 9, body: { stringValue: "no time at all" } },
          { timeUnixNano: "1000", severityNumber: 9, body: { stringValue: "from 1970" } },
          { timeUnixNano: String(ts), body: { stringValue: "x".repeat(100_000) } },
        ]),
      ),
      "application/json",
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { partialSuccess: { rejectedLogRecords: string; errorMessage: string } };
    expect(body.partialSuccess.rejectedLogRecords).toBe("3");
    expect(body.partialSuccess.errorMessage).toContain("record 1: ");
    expect((await allLogs(t.adminKey, `device_id=${t.deviceId}`)).map((l) => l.message)).toEqual(["kept"]);
  });

  it("stores a retried export once, even when exports from one device arrive at the same time", async () => {
    const t = await tenant();
    const ts = nowNs();
    const bodies = Array.from({ length: 6 }, (_, e) =>
      JSON.stringify(
        jsonExport(
          Array.from({ length: 50 }, (_, i) => ({
            timeUnixNano: String(ts + BigInt(e * 1000 + i)),
            severityNumber: 9,
            body: { stringValue: `export ${e} line ${i}` },
          })),
        ),
      ),
    );
    // Six exports at once, then every one of them again (the exporter lost the answers).
    const first = await Promise.all(bodies.map((b) => post(t.deviceKey, b, "application/json")));
    const again = await Promise.all(bodies.map((b) => post(t.deviceKey, b, "application/json")));
    expect([...first, ...again].map((r) => r.status)).toEqual(Array(12).fill(200));
    const lines = await allLogs(t.adminKey, `device_id=${t.deviceId}`);
    expect(lines).toHaveLength(300);
    expect(new Set(lines.map((l) => l.message)).size).toBe(300);
    const usage = await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.adminKey });
    expect(usage.json.logs).toBe(300);
  });

  it("answers what will never be accepted with 400 and an OTLP Status, in the request's encoding", async () => {
    const t = await tenant();
    const bad = await post(t.deviceKey, new Uint8Array([0x0a, 0xff, 0xff, 0xff]), "application/x-protobuf");
    expect(bad.status).toBe(400);
    expect(bad.headers.get("retry-after")).toBeNull();
    const status = fromBinary(StatusSchema, new Uint8Array(await bad.arrayBuffer()));
    expect(status).toMatchObject({ code: 3, message: expect.stringContaining("not an OTLP ExportLogsServiceRequest") });
    const badJson = await post(t.deviceKey, "{not json", "application/json");
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ code: 3, message: expect.stringContaining("malformed JSON") });
    const wrongType = await post(t.deviceKey, "x", "text/plain");
    expect(wrongType.status).toBe(415);
    const noKey = await post("fbd_nope", "{}", "application/json");
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ code: 16 });
  });

  it("answers a body with a wrongly typed field at any level with 400 naming its path, and stores none of its records", async () => {
    const t = await tenant();
    const seven = await post(t.deviceKey, '{"resourceLogs": 7}', "application/json");
    expect(seven.status).toBe(400);
    expect(seven.headers.get("retry-after")).toBeNull();
    expect(await seven.json()).toEqual({
      code: 3,
      message: "the body is not an OTLP ExportLogsServiceRequest: resourceLogs must be an array, not 7",
    });
    // A record deep inside, beside valid ones: the whole export cannot be decoded (not a partial success).
    const ts = nowNs();
    const deep = jsonExport([
      { timeUnixNano: String(ts), severityNumber: 9, body: { stringValue: "valid" } },
      { timeUnixNano: String(ts), severityNumber: 9, body: { stringValue: "valid too" }, attributes: {} },
    ]);
    (deep.resourceLogs[0]!.scopeLogs[0]!.logRecords[1] as Record<string, unknown>).body = { intValue: { n: 1 } };
    const bad = await post(t.deviceKey, JSON.stringify(deep), "application/json");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain(
      "resourceLogs[0].scopeLogs[0].logRecords[1].body.intValue must be an integer",
    );
    // The same in protobuf: a field of the wrong wire type.
    const pb = await post(t.deviceKey, new Uint8Array([0x08, 0x07]), "application/x-protobuf");
    expect(pb.status).toBe(400);
    expect(fromBinary(StatusSchema, new Uint8Array(await pb.arrayBuffer())).code).toBe(3);
    expect(await allLogs(t.adminKey, `device_id=${t.deviceId}`)).toEqual([]);
    // The same export well typed is taken whole.
    (deep.resourceLogs[0]!.scopeLogs[0]!.logRecords[1] as Record<string, unknown>).body = { intValue: "1" };
    expect((await post(t.deviceKey, JSON.stringify(deep), "application/json")).status).toBe(200);
    expect(await allLogs(t.adminKey, `device_id=${t.deviceId}`)).toHaveLength(2);
  });

  describe("past the month's quota", () => {
    const saved = TIERS.free.limits.logs_per_month;
    afterEach(() => {
      TIERS.free.limits.logs_per_month = saved;
    });

    it("answers 429 with Retry-After pointing at the reset, so the exporter waits for it", async () => {
      // The tier table is data shared with the objects in this isolate: the test shrinks it.
      TIERS.free.limits.logs_per_month = 3;
      const { adminKey } = await newOrg("free");
      const device = await newDevice(adminKey, await newProject(adminKey));
      const ts = nowNs();
      const three = JSON.stringify(
        jsonExport(
          [0, 1, 2].map((i) => ({
            timeUnixNano: String(ts + BigInt(i)),
            severityNumber: 9,
            body: { stringValue: `l${i}` },
          })),
        ),
      );
      expect((await post(device.deviceKey, three, "application/json")).status).toBe(200);
      const over = await post(
        device.deviceKey,
        JSON.stringify(
          jsonExport([{ timeUnixNano: String(ts + 9n), severityNumber: 9, body: { stringValue: "one too many" } }]),
        ),
        "application/json",
      );
      expect(over.status).toBe(429);
      const firstOfNextMonth = new Date(
        Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 1),
      ).getTime();
      expect(Number(over.headers.get("retry-after"))).toBeCloseTo((firstOfNextMonth - Date.now()) / 1000, -2);
      expect(await over.json()).toMatchObject({ code: 8, message: expect.stringContaining("logs_per_month") });
    });
  });
});
