// A fleet reconnecting at once, on `wrangler dev`: every device's first heartbeat after being
// offline is a presence transition, which its object appends to the org's audit log
// (device.connected, in the org's own hub: one object for the whole org). This measures what
// that meeting point costs the heartbeats that carry it, against the same devices' next
// heartbeats (no transition, no audit append) in the same run.
//
//   npm run bench:reconnect            # 400 devices, 50 heartbeats in flight
//   DEVICES=1000 CONCURRENCY=100 npm run bench:reconnect
import { api, newDevice, newProject, startServer } from "./server.ts";

const DEVICES = Number(process.env.DEVICES ?? 400);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** One heartbeat from each device, CONCURRENCY at a time: wall time and each one's latency. */
async function wave(base: string, keys: string[]): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const started = performance.now();
        const res = await fetch(`${base}/fleet/heartbeat`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: "{}",
        });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`heartbeat: ${res.status}`);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

const server = await startServer(8884, ".wrangler/bench-reconnect");
try {
  const { orgKey, projectId } = await newProject(server);
  const keys: string[] = [];
  for (let i = 0; i < DEVICES; i++)
    keys.push((await newDevice(server.base, orgKey, projectId, `reconnect-${i}`)).device_key);
  const reconnect = await wave(server.base, keys);
  const steady = await wave(server.base, keys);
  const connected = await api(server.base, "GET", `/audit?action=device.connected&limit=200`, orgKey);
  const line = (name: string, w: { seconds: number; latencies: number[] }) =>
    `${name.padEnd(34)} ${(keys.length / w.seconds).toFixed(0).padStart(6)} heartbeats/s   p50 ${pct(w.latencies, 50).toFixed(1)} ms   p99 ${pct(w.latencies, 99).toFixed(1)} ms`;
  console.log(`\n${DEVICES} devices of one org, ${CONCURRENCY} heartbeats in flight, wrangler dev on this machine`);
  console.log(line("first heartbeats (each audited)", reconnect));
  console.log(line("next heartbeats (no transition)", steady));
  console.log(
    `device.connected events in the org's log: ${connected.events.length}${connected.next_cursor ? "+" : ""} (first page)`,
  );
} finally {
  server.stop();
}
