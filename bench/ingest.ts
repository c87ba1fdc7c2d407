// Ingest benchmark: lines/s through POST /logs/ingest at 100- and 1,000-line batches of real
// Loghub text, on `wrangler dev` (workerd, local D1 and Durable Objects) on this machine.
// Beside each figure it measures, in the same run and the same way, the ceiling of the
// request path alone: the same batches re-sent with a known batch_id, which are parsed,
// validated and answered by the device's object but not stored. Then the live-tail latency:
// from a POST leaving the client to its line arriving at a WebSocket viewer. Requests are
// sequential from one client, so the figures are per device, and include wrangler dev's proxy.
//
//   npm run bench            (PORT_BENCH to change the port, default 8799)
import { randomBytes } from "node:crypto";
import { api as call, batchBodies, corpus, healthRate, newDevice as register, newProject, startServer } from "./server.ts";

const port = Number(process.env.PORT_BENCH ?? 8799);
const server = await startServer(port, ".wrangler/bench-state");
const base = server.base;
const api = (method: string, path: string, token: string | null, body?: unknown) => call(base, method, path, token, body);
const newDevice = (orgKey: string, projectId: string, dsn: string) => register(base, orgKey, projectId, dsn);

async function send(deviceKey: string, bodies: string[]) {
  const started = performance.now();
  let lines = 0;
  for (const body of bodies) {
    const res = await fetch(`${base}/logs/ingest`, {
      method: "POST",
      headers: { authorization: `Bearer ${deviceKey}`, "content-type": "application/json" },
      body,
    });
    const json: any = await res.json();
    if (!res.ok) throw new Error(JSON.stringify(json));
    lines += json.accepted;
  }
  return { lines, seconds: (performance.now() - started) / 1000 };
}

async function tailLatency(orgKey: string, projectId: string, deviceKey: string, samples: number) {
  const { ticket } = await api("POST", "/logs/stream/ticket", orgKey, { project_id: projectId });
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/logs/stream?ticket=${ticket}`);
  const arrivals = new Map<string, number>();
  ws.addEventListener("message", (e) => {
    const frame = JSON.parse(String(e.data));
    if (frame.type === "logs") {
      for (const l of frame.logs) arrivals.set(l.message, performance.now());
      ws.send(JSON.stringify({ type: "ack", seq: frame.seq }));
    }
  });
  await new Promise((r) => ws.addEventListener("open", r));
  const latencies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const marker = `latency-probe-${i}-${randomBytes(4).toString("hex")}`;
    const sent = performance.now();
    await fetch(`${base}/logs/ingest`, {
      method: "POST",
      headers: { authorization: `Bearer ${deviceKey}`, "content-type": "application/json" },
      body: JSON.stringify({ logs: [{ timestamp_us: Date.now() * 1000, level: "INFO", module: "bench", message: marker }] }),
    });
    while (!arrivals.has(marker)) await new Promise((r) => setTimeout(r, 1));
    latencies.push(arrivals.get(marker)! - sent);
  }
  ws.close();
  latencies.sort((a, b) => a - b);
  return { p50: latencies[Math.floor(samples * 0.5)]!, p99: latencies[Math.floor(samples * 0.99)]!, max: latencies.at(-1)! };
}

try {
  const { orgKey, projectId } = await newProject(server);
  console.log(`fleetbeat ingest benchmark: wrangler dev on this machine, ${corpus.length} Loghub lines as text\n`);
  // The floor of any request here: wrangler dev's proxy and workerd answering GET /health.
  console.log(`GET /health, sequential: ${(await healthRate(base)).toFixed(0)} requests/s\n`);
  console.log("batch   lines   stored lines/s   request-path ceiling lines/s   stored/ceiling");
  for (const [size, count] of [
    [100, 300],
    [1000, 60],
  ] as const) {
    const device = await newDevice(orgKey, projectId, `bench-${size}`);
    await send(device.device_key, batchBodies(size, 5, `warm-${size}`)); // warm-up
    const bodies = batchBodies(size, count, `run-${size}`);
    const stored = await send(device.device_key, bodies);
    const ceiling = await send(device.device_key, bodies); // every batch_id is known now: answered, not stored
    const storedRate = stored.lines / stored.seconds;
    const ceilingRate = (size * count) / ceiling.seconds;
    console.log(
      `${String(size).padStart(5)} ${String(stored.lines).padStart(7)} ${storedRate.toFixed(0).padStart(16)} ${ceilingRate.toFixed(0).padStart(30)} ${(storedRate / ceilingRate).toFixed(2).padStart(16)}`,
    );
  }
  const device = await newDevice(orgKey, projectId, "bench-latency");
  const lat = await tailLatency(orgKey, projectId, device.device_key, 100);
  console.log(`\nlive tail, accepted line to viewer (100 single-line batches): p50 ${lat.p50.toFixed(1)} ms, p99 ${lat.p99.toFixed(1)} ms, max ${lat.max.toFixed(1)} ms`);
} finally {
  server.stop();
}
