// The official OpenTelemetry JavaScript exporters, pointed at a real `npm start`: OTLP/HTTP
// JSON (@opentelemetry/exporter-logs-otlp-http) and protobuf (…-otlp-proto), gzipped, with
// the device key as a header, send through the logs SDK; the lines are found through GET /logs
// and counted in usage like native ones.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { OTLPLogExporter as JsonExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as ProtoExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allLogs, api, newTenant, type Server, startServer } from "./support/server.ts";

describe("the OpenTelemetry exporters, against a real server", () => {
  let server: Server;
  let state: string;
  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-otlp-"));
    server = await startServer({ state });
  }, 200_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(state, { recursive: true, force: true });
  });

  for (const [encoding, Exporter] of [
    ["json", JsonExporter],
    ["protobuf", ProtoExporter],
  ] as const) {
    it(`ships logs over OTLP/HTTP ${encoding}, found through GET /logs`, async () => {
      const tenant = await newTenant(server, `OTLP ${encoding} org`);
      const reg = await api(server.api, "POST", "/fleet/register", {
        body: { dsn: `OTLP-${encoding}`, registration_token: tenant.registrationToken },
      });
      expect(reg.status).toBe(201);
      const exporter = new Exporter({
        url: `${server.api.replace("/api/v1", "")}/v1/logs`,
        headers: { Authorization: `Bearer ${reg.json.device_key}` },
        compression: "gzip" as never,
      });
      const provider = new LoggerProvider({
        resource: resourceFromAttributes({ "service.name": "robot-nav", "session.id": `otlp-${encoding}-run` }),
        processors: [new BatchLogRecordProcessor({ exporter })],
      });
      const logger = provider.getLogger("nav.planner", "1.2.0");
      logger.emit({
        severityNumber: SeverityNumber.ERROR,
        severityText: "ERROR",
        body: "path blocked at dock 4",
        attributes: { "code.namespace": "planner.astar", attempt: 3 },
      });
      logger.emit({ severityNumber: SeverityNumber.INFO, body: { pose: { x: 1.5, y: -2 } } });
      logger.emit({ severityNumber: SeverityNumber.WARN2, body: "wheel slip" });
      await provider.forceFlush();
      await provider.shutdown();

      const lines = await allLogs(server.api, tenant.viewerKey, `device_id=${reg.json.device_id}&order=asc`);
      expect(lines.map((l) => [l.level, l.module, l.logger, l.message, l.session_id])).toEqual([
        ["ERROR", "planner.astar", "nav.planner", "path blocked at dock 4", `otlp-${encoding}-run`],
        ["INFO", "nav.planner", "nav.planner", '{"pose":{"x":1.5,"y":-2}}', `otlp-${encoding}-run`],
        ["WARN", "nav.planner", "nav.planner", "wheel slip", `otlp-${encoding}-run`],
      ]);
      expect(lines[0].context).toEqual({ attempt: 3 });
      // Counted like native lines, in the project's usage.
      const usage = await api(server.api, "GET", `/stats/usage?project_id=${tenant.projectId}`, {
        token: tenant.viewerKey,
      });
      expect(usage.json.logs).toBe(3);
    });
  }
});
