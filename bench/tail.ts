// Live tail under load: 10 viewers watch a project while its 10 devices send 10,000 lines/s,
// first as 100-line batches (each device ten a second), then as 1,000-line batches (one a
// second each), each device on its own schedule, spread over the interval. Every line carries its batch; each viewer acknowledges its frames and records
// when each line arrived. Latency is measured two ways: from the moment the client got the
// answer "accepted" (the issue's measure; negative when the line reached the viewer before the
// answer reached the client) and from the moment the POST left the client (which adds the
// request's own time). Prints p50/p99 per viewer and overall, and checks for gaps: every line
// sent is either received or counted in a `dropped` frame (target p99 ≤ 50 ms locally).
//
// Then the way devices really send (issue 21): agents (the agent library, agent/agent.ts) that
// follow their send policy, over HTTPS and over the device socket, each logging a few lines a
// second and heartbeating every 30 s. A viewer opens the project's tail while they run; from then
// on the devices are live and send every second. Latency is from the moment a line is logged at
// the agent to the moment it reaches the viewer, for lines logged from 10 s after the viewer
// connected over the socket, and from 35 s over HTTPS, where a device hears it is live with its
// next heartbeat's answer (target p99 ≤ 2 s).
//
//   npm run bench:tail      (-- --quick: 3 s per row; PORT_BENCH, default 8798; TAIL_SECONDS, default 10)
import { FleetbeatAgent } from "../agent/agent.ts";
import { DeviceSocket } from "../agent/socket.ts";
import { MemorySpool } from "../agent/spool.ts";
import { type BenchServer, api as call, corpus, newDevice, newProject, startServer } from "./server.ts";

const port = Number(process.env.PORT_BENCH ?? 8798);
const seconds = Number(process.env.TAIL_SECONDS ?? (process.argv.includes("--quick") ? 3 : 10));
const DEVICES = 10;
const VIEWERS = 10;
const LINES_PER_SECOND = 10_000;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

/** A viewer that acknowledges every frame and notes when each line's batch tag arrived. */
async function viewer(server: BenchServer, orgKey: string, projectId: string) {
  const { ticket } = await call(server.base, "POST", "/logs/stream/ticket", orgKey, { project_id: projectId });
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/logs/stream?ticket=${ticket}`);
  /** Arrival time of each line, by its message (which starts with its batch tag). */
  const arrivals = new Map<string, number>();
  let dropped = 0;
  let closedWith: number | null = null;
  ws.addEventListener("message", (e) => {
    const frame = JSON.parse(String(e.data));
    if (frame.type === "logs") {
      const now = performance.now();
      for (const l of frame.logs) arrivals.set(l.message, now);
      ws.send(JSON.stringify({ type: "ack", seq: frame.seq }));
    } else if (frame.type === "dropped") dropped += frame.count;
  });
  ws.addEventListener("close", (e) => (closedWith = e.code));
  await new Promise((r) => ws.addEventListener("open", r));
  return { ws, arrivals, dropped: () => dropped, closedWith: () => closedWith };
}

/** One row: every device sends `batch`-line batches on a fixed schedule for `seconds`, all viewers watching. */
async function row(server: BenchServer, batch: number) {
  const { orgKey, projectId } = await newProject(server);
  const devices = [];
  for (let d = 0; d < DEVICES; d++) devices.push(await newDevice(server.base, orgKey, projectId, `tail-${d}`));
  const viewers = [];
  for (let v = 0; v < VIEWERS; v++) viewers.push(await viewer(server, orgKey, projectId));
  const everyMs = (DEVICES * batch * 1000) / LINES_PER_SECOND;
  console.log(
    `\n${DEVICES} devices × ${batch}-line batches every ${everyMs} ms (${LINES_PER_SECOND.toLocaleString("en")} lines/s offered) for ${seconds} s, ${VIEWERS} viewers`,
  );

  /** Per batch tag: when its POST left and when its answer came back. */
  const batches = new Map<string, { sent: number; accepted: number; messages: string[] }>();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let at = 0;
  let tags = 0;
  // Devices keep their own schedules, spread over the interval as independent devices are.
  const sendLoop = async (key: string, d: number) => {
    for (let tick = 0; performance.now() - started < seconds * 1000; tick++) {
      const wait = started + (tick + d / DEVICES) * everyMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const tag = `b${tags++}`;
      const now = Date.now() * 1000;
      const logs = Array.from({ length: batch }, (_, i) => {
        const s = corpus[at++ % corpus.length]!;
        return { ...s, message: `${tag}.${i} ${s.message}`, timestamp_us: now - (batch - i) };
      });
      const sent = performance.now();
      const res = await fetch(`${server.base}/logs/ingest`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ logs }),
      });
      const json: any = await res.json();
      if (!res.ok || json.accepted !== batch) throw new Error(JSON.stringify(json));
      batches.set(tag, { sent, accepted: performance.now(), messages: logs.map((l) => l.message) });
    }
  };
  await Promise.all(devices.map((device, d) => sendLoop(device.device_key, d)));
  const elapsed = (performance.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 2000)); // the last frames arrive
  const cpu = process.cpuUsage(cpuBefore);
  const sent = batches.size * batch;
  console.log(
    `accepted ${(sent / elapsed).toFixed(0)} lines/s; this client used ${(((cpu.user + cpu.system) / 1e6 / elapsed) * 100).toFixed(0)}% of one core`,
  );
  console.log("viewer   received   dropped   gaps   from accepted: p50 ms  p99 ms   from sent: p50 ms  p99 ms");
  const allAccepted: number[] = [];
  const allSent: number[] = [];
  viewers.forEach((v, i) => {
    const fromAccepted: number[] = [];
    const fromSent: number[] = [];
    for (const b of batches.values()) {
      for (const m of b.messages) {
        const arrived = v.arrivals.get(m);
        if (arrived === undefined) continue;
        fromAccepted.push(arrived - b.accepted);
        fromSent.push(arrived - b.sent);
      }
    }
    fromAccepted.sort((a, b) => a - b);
    fromSent.sort((a, b) => a - b);
    allAccepted.push(...fromAccepted);
    allSent.push(...fromSent);
    const gaps = sent - v.arrivals.size - v.dropped();
    const f = (n: number) => n.toFixed(1).padStart(8);
    console.log(
      `${String(i + 1).padStart(6)} ${String(v.arrivals.size).padStart(10)} ${String(v.dropped()).padStart(9)} ${String(gaps).padStart(6)}          ${f(percentile(fromAccepted, 0.5))}${f(percentile(fromAccepted, 0.99))}              ${f(percentile(fromSent, 0.5))}${f(percentile(fromSent, 0.99))}${v.closedWith() !== null ? `  closed ${v.closedWith()}` : ""}`,
    );
    v.ws.close();
  });
  allAccepted.sort((a, b) => a - b);
  allSent.sort((a, b) => a - b);
  console.log(
    `all viewers: from accepted p50 ${percentile(allAccepted, 0.5).toFixed(1)} ms, p99 ${percentile(allAccepted, 0.99).toFixed(1)} ms (target p99 ≤ 50 ms); ` +
      `from sent p50 ${percentile(allSent, 0.5).toFixed(1)} ms, p99 ${percentile(allSent, 0.99).toFixed(1)} ms`,
  );
}

/** Agents that log and send as their policy says; a viewer opens the tail while they run. */
async function agentsRow(server: BenchServer, transport: "https" | "socket") {
  const AGENTS = 10;
  const LINES_PER_SECOND_EACH = 5;
  const WARM_S = 5;
  const HEARTBEAT_S = 30;
  // Over the socket a device hears it is live at once; over HTTPS with its next heartbeat's
  // answer (within HEARTBEAT_S), so its lines are measured from then.
  const MEASURED_FROM_S = transport === "socket" ? 10 : HEARTBEAT_S + 5;
  const RUN_S = MEASURED_FROM_S + (quick ? 10 : 30);
  const { orgKey, projectId } = await newProject(server);
  const origin = new URL(server.base).origin;
  const agents: { agent: FleetbeatAgent; socket?: DeviceSocket }[] = [];
  for (let d = 0; d < AGENTS; d++) {
    const device = await newDevice(server.base, orgKey, projectId, `live-${transport}-${d}`);
    const socket =
      transport === "socket"
        ? new DeviceSocket({ backendUrl: origin, deviceKey: device.device_key, onCommand: () => {} })
        : undefined;
    const agent = new FleetbeatAgent({
      backendUrl: origin,
      deviceKey: device.device_key,
      spool: new MemorySpool(),
      ...(socket ? { socket } : {}),
    });
    socket?.start();
    // As the agent runs: the send policy, and a heartbeat every HEARTBEAT_S from the start.
    agent.start({ heartbeatMs: HEARTBEAT_S * 1000 });
    void agent.heartbeat().catch(() => {});
    agents.push({ agent, socket });
  }
  const logged = new Map<string, number>();
  let n = 0;
  let logging = true;
  const logLoop = async (agent: FleetbeatAgent, d: number) => {
    const every = 1000 / LINES_PER_SECOND_EACH;
    const start = performance.now() + (d * every) / AGENTS;
    for (let i = 0; logging; i++) {
      const wait = start + i * every - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const tag = `L${n++}`;
      logged.set(tag, performance.now());
      agent.log("INFO", "bench", `${tag} ${corpus[n % corpus.length]!.message}`);
    }
  };
  const loops = agents.map(({ agent }, d) => logLoop(agent, d));
  await new Promise((r) => setTimeout(r, WARM_S * 1000));
  // Someone opens the project's tail: from now on every device is live.
  const v = await viewer(server, orgKey, projectId);
  const connectedAt = performance.now();
  await new Promise((r) => setTimeout(r, RUN_S * 1000));
  logging = false;
  await Promise.all(loops);
  await new Promise((r) => setTimeout(r, 3000)); // the last lines arrive
  const latencies: number[] = [];
  let missing = 0;
  for (const [tag, at] of logged) {
    if (at < connectedAt + MEASURED_FROM_S * 1000) continue;
    const arrived = [...v.arrivals.entries()].find(([m]) => m.startsWith(`${tag} `))?.[1];
    if (arrived === undefined) missing++;
    else latencies.push(arrived - at);
  }
  latencies.sort((a, b) => a - b);
  const p99 = percentile(latencies, 0.99);
  console.log(
    `${transport.padEnd(6)}: ${AGENTS} agents × ${LINES_PER_SECOND_EACH} lines/s, a viewer from ${WARM_S} s; lines logged from ${MEASURED_FROM_S} s after it connected: ${latencies.length} arrived, ${missing} missing, ${v.dropped()} reported dropped; ` +
      `logged → viewer p50 ${percentile(latencies, 0.5).toFixed(0)} ms, p99 ${p99.toFixed(0)} ms (target ≤ 2,000 ms: ${p99 <= 2000 && missing === 0 ? "meets" : "MISSES"})`,
  );
  v.ws.close();
  for (const { agent, socket } of agents) {
    agent.stop();
    socket?.stop();
  }
}

const quick = process.argv.includes("--quick");
const server = await startServer(port, ".wrangler/bench-tail-state");
try {
  console.log(
    `fleetbeat live-tail benchmark: wrangler dev on this machine; "gaps" = lines neither received nor reported dropped (must be 0)`,
  );
  for (const batch of [100, 1000]) await row(server, batch);
  console.log(
    `\nLive through agents that follow their send policy (every minute unless watched; every second while live):`,
  );
  for (const transport of ["https", "socket"] as const) await agentsRow(server, transport);
} finally {
  server.stop();
}
