// POST /v1/logs: OpenTelemetry's OTLP/HTTP logs, in protobuf or JSON, gzip accepted, with the
// device key in Authorization (exporters send it as a configured header). The lines go
// through the same ingest as POST /api/v1/logs/ingest (src/otlp/export.ts). docs/otlp.md.
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { deviceAuth } from "../auth/middleware";
import { ApiError } from "../contract/errors";
import { describer } from "../http/describe";
import { parseJsonBytes, readLogBody } from "../http/ingest-body";
import { hotWindowMs } from "../lib/config";
import { encodingOf, errorAnswer, exportAnswer } from "../otlp/answer";
import { storeExport } from "../otlp/export";
import { recordsOfJson, recordsOfProtobuf } from "../otlp/records";
import { deviceHub } from "../stubs/device-hub";

const describe = describer("OpenTelemetry");
const notOtlp = () =>
  new ApiError("unsupported_media_type", "send OTLP logs as application/x-protobuf or application/json");

export const otlp = new Hono<AppEnv>()
  .post(
    "/logs",
    describe({
      summary: "OTLP/HTTP logs (protobuf or JSON, gzip accepted), with the device key",
      description:
        "OpenTelemetry's fixed path, at the site's root (not under /api/v1). Answers and errors are OTLP's " +
        "(ExportLogsServiceResponse, a Status on failure) in the request's encoding: docs/otlp.md.",
      media: "application/x-protobuf",
      errors: [notOtlp],
      errorsAs: {
        schema: {
          type: "object",
          description: "google.rpc.Status (protobuf, or its JSON mapping)",
          properties: { code: { type: "integer", description: "google.rpc.Code" }, message: { type: "string" } },
        },
        answer: async (err) => {
          const res = errorAnswer("json", err);
          return { status: res.status, value: await res.json() };
        },
      },
    }),
    deviceAuth,
    async (c) => {
      const encoding = encodingOf(c.req.header("content-type"));
      if (!encoding) throw notOtlp();
      const body = await readLogBody(c.req.raw);
      const records = encoding === "protobuf" ? recordsOfProtobuf(body) : recordsOfJson(parseJsonBytes(body));
      const hub = deviceHub(c.env, c.var.device.deviceId);
      return exportAnswer(encoding, await storeExport(body, records, hotWindowMs(c.env), (batch) => hub.ingest(batch)));
    },
  )
  // Every failure in OTLP's shape and the request's encoding (JSON when it named neither).
  .onError((err, c) => errorAnswer(encodingOf(c.req.header("content-type")) ?? "json", err));
