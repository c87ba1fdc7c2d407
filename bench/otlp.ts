// OTLP logs in beside native ingest, on `wrangler dev`: lines/s from one device sending
// 100-record exports (OTLP JSON and protobuf, gzipped) at 1 and at 4 concurrent requests, as a
// Collector does, against the limit measured in the same run: native POST /logs/ingest of the
// same Loghub lines, 100-line gzipped batches, at the same concurrency. Every request is
// stamped afresh, so each one is stored and counted.
//
//   npm run bench:otlp      (PORT_BENCH, default 8881; BENCH_SECONDS per row, default 6)

import { promisify } from "node:util";
import { gzip as gzipCb } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { ExportLogsServiceRequestSchema } from "../src/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.ts";
import { corpus, newDevice, newProject, startServer } from "./server.ts";

const gzip = promisify(gzipCb);
const port = Number(process.env.PORT_BENCH ?? 8881);
const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const LINES = 100;
const SEVERITY: Record<string, number> = { DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 };

type Encoder = (at: number, nowNs: bigint) => Promise<{ body: Uint8Array; type: string }>;

const lines = (at: number) => Array.from({ length: LINES }, (_, i) => corpus[(at + i) % corpus.length]!);

const native: Encoder = async (at) => {
  const now = Date.now() * 1000;
  const logs = lines(at).map((l, i) => ({ ...l, timestamp_us: now - (LINES - i) }));
  return { body: await gzip(JSON.stringify({ logs })), type: "application/json" };
};

const otlpJson: Encoder = async (at, nowNs) => {
  const logRecords = lines(at).map((l, i) => ({
    timeUnixNano: String(nowNs - BigInt((LINES - i) * 1000)),
    severityNumber: SEVERITY[l.level] ?? 9,
    body: { stringValue: l.message },
    attributes: [{ key: "code.namespace", value: { stringValue: l.module } }],
  }));
  const body = {
    resourceLogs: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "bench" } }] },
        scopeLogs: [{ scope: { name: "bench" }, logRecords }],
      },
    ],
  };
  return { body: await gzip(JSON.stringify(body)), type: "application/json" };
};

const otlpProto: Encoder = async (at, nowNs) => {
  const request = create(ExportLogsServiceRequestSchema, {
    resourceLogs: [
      {
        scopeLogs: [
          {
            scope: { name: "bench" },
            logRecords: lines(at).map((l, i) => ({
              timeUnixNano: nowNs - BigInt((LINES - i) * 1000),
              severityNumber: SEVERITY[l.level] ?? 9,
              body: { value: { case: "stringValue" as const, value: l.message } },
              attributes: [
                { key: "code.namespace", value: { value: { case: "stringValue" as const, value: l.module } } },
              ],
            })),
          },
        ],
      },
    ],
  });
  return { body: await gzip(toBinary(ExportLogsServiceRequestSchema, request)), type: "application/x-protobuf" };
};

const server = await startServer(port, ".wrangler/bench-otlp-state");
const origin = server.base.replace("/api/v1", "");
try {
  const org = await newProject(server);
  /** Lines/s one fresh device takes for `seconds` at `concurrency` requests in flight. */
  const run = async (path: string, encode: Encoder, concurrency: number) => {
    const key = (
      await newDevice(
        server.base,
        org.orgKey,
        org.projectId,
        `bench-${path.length}-${encode.name}-${concurrency}-${Date.now()}`,
      )
    ).device_key;
    let sent = 0;
    let failed = 0;
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        for (let at = w * LINES; performance.now() < deadline; at += concurrency * LINES) {
          const { body, type } = await encode(at, BigInt(Date.now()) * 1_000_000n);
          const res = await fetch(`${origin}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": type, "content-encoding": "gzip" },
            body,
          });
          await res.arrayBuffer();
          if (res.ok) sent += LINES;
          else failed++;
        }
      }),
    );
    return { rate: sent / ((performance.now() - started) / 1000), failed };
  };
  console.log(`one device, ${LINES}-line gzipped requests, ${seconds} s per row (lines/s)`);
  console.log(`  ${"".padEnd(34)} ${"1 in flight".padStart(12)} ${"4 in flight".padStart(12)}`);
  const rows: [string, string, Encoder][] = [
    ["the limit: native /api/v1/logs/ingest", "/api/v1/logs/ingest", native],
    ["OTLP/HTTP JSON /v1/logs", "/v1/logs", otlpJson],
    ["OTLP/HTTP protobuf /v1/logs", "/v1/logs", otlpProto],
  ];
  for (const [what, path, encode] of rows) {
    const one = await run(path, encode, 1);
    const four = await run(path, encode, 4);
    const failures = one.failed + four.failed ? `  (${one.failed + four.failed} failed requests)` : "";
    console.log(
      `  ${what.padEnd(34)} ${one.rate.toFixed(0).padStart(12)} ${four.rate.toFixed(0).padStart(12)}${failures}`,
    );
  }
} finally {
  server.stop();
}
