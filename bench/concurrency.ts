// Concurrency benchmark: what concurrent ingest requests get, against the same requests sent
// one at a time. Each request is POST /logs/ingest of the same 1,000 Loghub lines (no gzip, no
// batch_id, so every one is stored and counted), stamped afresh for each request as a device
// stamps its lines. Rows: one device at 1, 2 and 8 connections, then 10 devices at one
// connection each; each row runs for a fixed time on fresh devices, so no row pays for the
// lines an earlier row left in a device's store. GET /health in the same run is the floor of
// any request here. Latency is from sending a request to its parsed answer.
//
//   npm run bench:concurrency
//     PORT_BENCH       port (default 8861)
//     BENCH_SECONDS    per row (default 8)
//     BENCH_SAME_BODY  1: re-send one byte-identical body (identical timestamps every time)
//     BENCH_ONE_DEVICE 1: every row on the first row's device (the store grows from row to row)
//     BENCH_SERVER_LOG a file for the server's output
import { loadLoghub } from "../test/support/loghub.ts";
import { healthRate, newDevice, newProject, startServer } from "./server.ts";

const port = Number(process.env.PORT_BENCH ?? 8861);
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const sameBody = process.env.BENCH_SAME_BODY === "1";
const oneDevice = process.env.BENCH_ONE_DEVICE === "1";
const LINES = 1000;
const server = await startServer(port, ".wrangler/bench-concurrency-state", process.env.BENCH_SERVER_LOG);
const { base } = server;

// Each line as JSON without its opening brace, so a body is stamped by concatenation.
const hdfs = loadLoghub("HDFS");
const tails = Array.from({ length: LINES }, (_, i) => hdfs[i % hdfs.length]!).map((l) => JSON.stringify(l).slice(1));
let lastUs = 0;
function body(): string {
  const nowUs = (lastUs = Math.max(Date.now() * 1000, lastUs + LINES));
  return `{"logs":[${tails.map((t, i) => `{"timestamp_us":${nowUs - (LINES - i)},${t}`).join(",")}]}`;
}
const fixed = body();

async function post(deviceKey: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${base}/logs/ingest`, {
    method: "POST",
    headers: { authorization: `Bearer ${deviceKey}`, "content-type": "application/json" },
    body: sameBody ? fixed : body(),
  });
  const json: any = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(json)}`);
  if (json.accepted !== LINES) throw new Error(`accepted ${json.accepted} of ${LINES}: ${JSON.stringify(json.rejected[0])}`);
  return performance.now() - started;
}

/** `connections` closed loops per device key until `seconds` have passed; a request under way at the end still counts. */
async function row(keys: string[], connections: number) {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + seconds * 1000;
  const loop = async (key: string) => {
    while (performance.now() < until) latencies.push(await post(key));
  };
  await Promise.all(keys.flatMap((k) => Array.from({ length: connections }, () => loop(k))));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length / elapsed,
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    p99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!,
  };
}

try {
  const { orgKey, projectId } = await newProject(server);
  console.log(`fleetbeat concurrency benchmark: wrangler dev on this machine, ${seconds} s per row`);
  console.log(
    `each request: POST /logs/ingest, ${LINES} Loghub HDFS lines, ${(fixed.length / 1024).toFixed(0)} KiB, no gzip, no batch_id, ` +
      (sameBody ? "one identical body" : "stamped afresh") +
      (oneDevice ? ", every row on one device" : ", fresh devices per row") +
      "\n",
  );
  console.log(`GET /health, sequential: ${(await healthRate(base)).toFixed(0)} requests/s\n`);
  console.log("devices  connections/device   requests/s     lines/s   mean ms    p99 ms");
  let made = 0;
  let first: string | undefined;
  for (const [devices, connections] of [
    [1, 1],
    [1, 2],
    [1, 8],
    [10, 1],
  ] as const) {
    const keys: string[] = [];
    for (let d = 0; d < devices; d++) {
      keys.push(oneDevice && d === 0 && first ? first : (await newDevice(base, orgKey, projectId, `conc-${made++}`)).device_key);
    }
    first ??= keys[0];
    for (const k of keys) await post(k); // warm-up: the objects are up and their tables built
    const { requests, mean, p99 } = await row(keys, connections);
    console.log(
      `${String(devices).padStart(7)} ${String(connections).padStart(20)} ${requests.toFixed(1).padStart(12)} ${(requests * LINES).toFixed(0).padStart(11)} ${mean.toFixed(0).padStart(9)} ${p99.toFixed(0).padStart(9)}`,
    );
  }
  console.log(`\nGET /health, sequential, after: ${(await healthRate(base)).toFixed(0)} requests/s`);
} finally {
  server.stop();
}
