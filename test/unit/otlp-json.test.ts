// OTLP JSON read strictly: a field of the wrong type at any level is a 400 naming its path, the
// proto's snake_case names are taken, fields OTLP does not know are ignored.
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/contract/errors";
import { ExportLogsServiceRequestSchema } from "../../src/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb";
import { recordsOfJson, recordsOfProtobuf } from "../../src/otlp/records";

/** One record in one scope in one resource, each level open to change. */
const exportOf = (
  record: unknown,
  scopeLog: Record<string, unknown> = {},
  resourceLog: Record<string, unknown> = {},
) => ({
  resourceLogs: [
    {
      resource: { attributes: [] },
      scopeLogs: [{ scope: { name: "s" }, logRecords: [record], ...scopeLog }],
      ...resourceLog,
    },
  ],
});

/** The 400 a body gets, or null when it decodes. */
function refusal(body: unknown): string | null {
  try {
    recordsOfJson(body);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    return (err as ApiError).message;
  }
}

const R = "resourceLogs[0].scopeLogs[0].logRecords[0]";

describe("OTLP JSON, strictly", () => {
  it("refuses a wrongly typed field at every level, naming its path", () => {
    const cases: [unknown, string][] = [
      [{ resourceLogs: 7 }, "resourceLogs must be an array, not 7"],
      [{ resourceLogs: {} }, "resourceLogs must be an array, not an object"],
      [{ resource_logs: "x" }, "resource_logs must be an array"],
      [{ resourceLogs: [3] }, "resourceLogs[0] must be an object, not 3"],
      [{ resourceLogs: [{ resource: [] }] }, "resourceLogs[0].resource must be an object, not an array"],
      [{ resourceLogs: [{ resource: { attributes: {} } }] }, "resourceLogs[0].resource.attributes must be an array"],
      [{ resourceLogs: [{ scopeLogs: "x" }] }, "resourceLogs[0].scopeLogs must be an array"],
      [{ resourceLogs: [{ scopeLogs: [{ scope: 1 }] }] }, "resourceLogs[0].scopeLogs[0].scope must be an object"],
      [
        { resourceLogs: [{ scopeLogs: [{ scope: { name: 5 } }] }] },
        "resourceLogs[0].scopeLogs[0].scope.name must be a string",
      ],
      [
        { resourceLogs: [{ scopeLogs: [{ logRecords: { a: 1 } }] }] },
        "resourceLogs[0].scopeLogs[0].logRecords must be an array",
      ],
      [exportOf("line"), `${R} must be an object, not "line"`],
      [exportOf({ timeUnixNano: "yesterday" }), `${R}.timeUnixNano must be a count of nanoseconds`],
      [exportOf({ timeUnixNano: -5 }), `${R}.timeUnixNano must be a count of nanoseconds`],
      [exportOf({ observed_time_unix_nano: 1.5 }), `${R}.observed_time_unix_nano must be a count of nanoseconds`],
      [exportOf({ severityNumber: "LOUD" }), `${R}.severityNumber must be a SeverityNumber`],
      [exportOf({ severityNumber: 9.5 }), `${R}.severityNumber must be an integer`],
      [exportOf({ severityText: 17 }), `${R}.severityText must be a string`],
      [exportOf({ body: "plain text" }), `${R}.body must be an object`],
      [exportOf({ body: { stringValue: 5 } }), `${R}.body.stringValue must be a string`],
      [exportOf({ body: { boolValue: "yes" } }), `${R}.body.boolValue must be true or false`],
      [exportOf({ body: { intValue: "4x" } }), `${R}.body.intValue must be an integer`],
      [exportOf({ body: { doubleValue: "fast" } }), `${R}.body.doubleValue must be a number`],
      [exportOf({ body: { bytesValue: "%%" } }), `${R}.body.bytesValue must be base64 text`],
      [exportOf({ body: { arrayValue: { values: 3 } } }), `${R}.body.arrayValue.values must be an array`],
      [exportOf({ body: { arrayValue: { values: [{ intValue: true }] } } }), `${R}.body.arrayValue.values[0].intValue`],
      [
        exportOf({ body: { kvlistValue: { values: [{ key: 1 }] } } }),
        `${R}.body.kvlistValue.values[0].key must be a string`,
      ],
      [exportOf({ body: { stringValue: "a", intValue: 1 } }), `${R}.body must be an AnyValue with one value`],
      [exportOf({ attributes: { k: "v" } }), `${R}.attributes must be an array`],
      [exportOf({ attributes: [{ key: "k", value: "v" }] }), `${R}.attributes[0].value must be an object`],
      [exportOf({ traceId: 12 }), `${R}.traceId must be a string`],
      [exportOf({ spanId: "xyz" }), `${R}.spanId must be hex digits`],
      [exportOf({ flags: "on" }), `${R}.flags must be an integer`],
    ];
    for (const [body, path] of cases) {
      const message = refusal(body);
      expect(message, JSON.stringify(body)).toContain("not an OTLP ExportLogsServiceRequest");
      expect(message, JSON.stringify(body)).toContain(path);
    }
  });

  it("reads well-typed exports as before: absent and null fields are empty, snake_case names and unknown fields are taken", () => {
    expect(recordsOfJson({})).toEqual([]);
    expect(recordsOfJson({ resourceLogs: null })).toEqual([]);
    const [r] = recordsOfJson({
      resource_logs: [
        {
          resource: { attributes: [{ key: "service.name", value: { string_value: "nav" } }] },
          schemaUrl: "https://opentelemetry.io/schemas/1.21.0",
          scope_logs: [
            {
              scope: { name: "planner", version: "2" },
              log_records: [
                {
                  time_unix_nano: "1700000000000000000",
                  severity_number: "SEVERITY_NUMBER_ERROR",
                  body: {
                    kvlistValue: { values: [{ key: "n", value: { intValue: "9007199254740993" } }, { key: "e" }] },
                  },
                  attributes: [
                    { key: "ok", value: { boolValue: true } },
                    { key: "ratio", value: { doubleValue: "0.5" } },
                  ],
                  trace_id: "5B8EFFF798038103D269B633813FC60C",
                  eventName: "a field from a newer OTLP",
                  futureField: { anything: 1 },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(r).toEqual({
      timeUnixNano: 1_700_000_000_000_000_000n,
      observedTimeUnixNano: 0n,
      severityNumber: 17,
      severityText: "",
      body: { n: "9007199254740993", e: null },
      attributes: { ok: true, ratio: 0.5 },
      traceId: "5b8efff798038103d269b633813fc60c",
      spanId: "",
      scopeName: "planner",
      resource: { "service.name": "nav" },
    });
  });

  it("protobuf of the wrong wire type at any level cannot be decoded either", () => {
    // resourceLogs (field 1) sent as a varint; then a record whose body (field 5) is a varint.
    expect(() => recordsOfProtobuf(new Uint8Array([0x08, 0x07]))).toThrow(/not an OTLP ExportLogsServiceRequest/);
    const good = toBinary(
      ExportLogsServiceRequestSchema,
      create(ExportLogsServiceRequestSchema, {
        resourceLogs: [{ scopeLogs: [{ logRecords: [{ severityNumber: 9 }] }] }],
      }),
    );
    expect(recordsOfProtobuf(good)).toHaveLength(1);
    // resourceLogs { scopeLogs { logRecords { body: varint 1 } } }
    const logRecord = [0x28, 0x01];
    const scopeLogs = [0x12, logRecord.length, ...logRecord];
    const resourceLogs = [0x12, scopeLogs.length, ...scopeLogs];
    const bad = new Uint8Array([0x0a, resourceLogs.length, ...resourceLogs]);
    expect(() => recordsOfProtobuf(bad)).toThrow(/not an OTLP ExportLogsServiceRequest/);
  });
});
