// Live tail under load: 10 viewers watch a project while its devices send about 10,000
// lines/s (10 devices, each a 100-line batch every 100 ms). Every line carries the moment it
// left the client; each viewer acknowledges its frames and records, per line, how long it took
// from the POST leaving the client to the line reaching the viewer. Prints p50/p99 per viewer
// and overall, and checks for gaps: every line sent is either received or counted in a
// `dropped` frame (target p99 ≤ 50 ms locally).
//
//   npm run bench:tail            (PORT_BENCH to change the port, default 8798; TAIL_SECONDS, default 10)
import { type BenchServer, api as call, corpus, newDevice, newProject, startServer } from "./server.ts";

const port = Number(process.env.PORT_BENCH ?? 8798);
const seconds = Number(process.env.TAIL_SECONDS ?? 10);
const DEVICES = 10;
const VIEWERS = 10;
const BATCH = 100;
const EVERY_MS = 100;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

/** A viewer that acknowledges every frame and times each line by the send moment in its message. */
async function viewer(server: BenchServer, orgKey: string, projectId: string) {
  const { ticket } = await call(server.base, "POST", "/logs/stream/ticket", orgKey, { project_id: projectId });
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/logs/stream?ticket=${ticket}`);
  const latencies: number[] = [];
  const seen = new Set<string>();
  let dropped = 0;
  let closedWith: number | null = null;
  ws.addEventListener("message", (e) => {
    const frame = JSON.parse(String(e.data));
    if (frame.type === "logs") {
      const now = performance.now();
      for (const l of frame.logs) {
        const sentAt = Number(/^t=([\d.]+) /.exec(l.message)?.[1]);
        if (Number.isFinite(sentAt)) latencies.push(now - sentAt);
        seen.add(l.message);
      }
      ws.send(JSON.stringify({ type: "ack", seq: frame.seq }));
    } else if (frame.type === "dropped") dropped += frame.count;
  });
  ws.addEventListener("close", (e) => (closedWith = e.code));
  await new Promise((r) => ws.addEventListener("open", r));
  return { ws, latencies, seen, dropped: () => dropped, closedWith: () => closedWith };
}

const server = await startServer(port, ".wrangler/bench-tail-state");
const base = server.base;
try {
  const { orgKey, projectId } = await newProject(server);
  const devices = [];
  for (let d = 0; d < DEVICES; d++) devices.push(await newDevice(base, orgKey, projectId, `tail-${d}`));
  const viewers = [];
  for (let v = 0; v < VIEWERS; v++) viewers.push(await viewer(server, orgKey, projectId));
  console.log(`fleetbeat live-tail benchmark: ${VIEWERS} viewers, ${DEVICES} devices × ${BATCH} lines every ${EVERY_MS} ms (${(DEVICES * BATCH * 1000) / EVERY_MS} lines/s offered) for ${seconds} s\n`);

  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let sent = 0;
  let at = 0;
  const sendLoop = async (key: string) => {
    for (let tick = 0; performance.now() - started < seconds * 1000; tick++) {
      const due = started + tick * EVERY_MS;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = performance.now();
      const now = Date.now() * 1000;
      const logs = Array.from({ length: BATCH }, (_, i) => {
        const s = corpus[at++ % corpus.length]!;
        return { ...s, message: `t=${t.toFixed(3)} #${at} ${s.message}`, timestamp_us: now - (BATCH - i) };
      });
      const res = await fetch(`${base}/logs/ingest`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ logs }) });
      const json: any = await res.json();
      if (!res.ok) throw new Error(JSON.stringify(json));
      sent += json.accepted;
    }
  };
  await Promise.all(devices.map((d) => sendLoop(d.device_key)));
  const elapsed = (performance.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 2000)); // the last frames arrive
  const cpu = process.cpuUsage(cpuBefore);

  console.log(`sent ${sent} lines in ${elapsed.toFixed(1)} s: ${(sent / elapsed).toFixed(0)} lines/s accepted; this client used ${(((cpu.user + cpu.system) / 1e6 / elapsed) * 100).toFixed(0)}% of one core\n`);
  console.log("viewer   received   dropped   gaps   p50 ms   p99 ms   max ms");
  const all: number[] = [];
  viewers.forEach((v, i) => {
    const sorted = [...v.latencies].sort((a, b) => a - b);
    all.push(...sorted);
    const gaps = sent - v.seen.size - v.dropped();
    console.log(
      `${String(i + 1).padStart(6)} ${String(v.seen.size).padStart(10)} ${String(v.dropped()).padStart(9)} ${String(gaps).padStart(6)} ${percentile(sorted, 0.5).toFixed(1).padStart(8)} ${percentile(sorted, 0.99).toFixed(1).padStart(8)} ${(sorted.at(-1) ?? NaN).toFixed(1).padStart(8)}${v.closedWith() !== null ? `  closed ${v.closedWith()}` : ""}`,
    );
    v.ws.close();
  });
  all.sort((a, b) => a - b);
  console.log(`\nall viewers: p50 ${percentile(all, 0.5).toFixed(1)} ms, p99 ${percentile(all, 0.99).toFixed(1)} ms (target p99 ≤ 50 ms); "gaps" = lines neither received nor reported dropped (must be 0)`);
} finally {
  server.stop();
}
