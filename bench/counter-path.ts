// The counter path at 1/100 scale: 100 devices of one project, each sending a heartbeat and a
// 100-line batch every second, as a fleet of 10,000 would per 100 devices. The bench counts
// the deliveries that reach the project's object each second (bench/limit-entry.ts counts
// them inside it), and prints the arithmetic for 10,000 devices against the ~1,000 requests/s
// a Durable Object takes.
//
//   npm run bench:counter-path     (-- --quick: 5 s; PORT_BENCH, default 8851)
import { newDevice, newProject, startServer } from "./server.ts";

const quick = process.argv.includes("--quick");
const port = Number(process.env.PORT_BENCH ?? 8851);
const seconds = quick ? 5 : 15;
const DEVICES = 100;
const LINES = 100;
const OBJECT_LIMIT = 1_000; // requests/s a Durable Object takes, by Cloudflare's guidance

const server = await startServer(port, ".wrangler/bench-counter-state", { entry: "bench/limit-entry.ts" });
try {
  const org = await newProject(server);
  const keys: string[] = [];
  for (let d = 0; d < DEVICES; d++) keys.push((await newDevice(server.base, org.orgKey, org.projectId, `dev-${d}`)).device_key);
  const deliveries = async () =>
    ((await (await fetch(`${server.base.replace("/api/v1", "")}/__bench/deliveries?project_id=${org.projectId}`)).json()) as { deliveries: number }).deliveries;

  const post = (key: string, path: string, body: unknown) =>
    fetch(`${server.base}${path}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.text());
  const started = performance.now();
  let requests = 0;
  const device = async (key: string, d: number) => {
    for (let tick = 0; performance.now() - started < seconds * 1000; tick++) {
      const wait = started + (tick + d / DEVICES) * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const now = Date.now() * 1000;
      await post(key, "/fleet/heartbeat", { metrics: { cpu_usage: 10 } });
      await post(key, "/logs/ingest", { logs: Array.from({ length: LINES }, (_, i) => ({ timestamp_us: now - LINES + i, level: "INFO", module: "sim", message: `tick ${tick} line ${i}` })) });
      requests += 2;
    }
  };
  const before = await deliveries();
  const perSecond: number[] = [];
  let last = before;
  const sampler = setInterval(async () => {
    const n = await deliveries();
    perSecond.push(n - last);
    last = n;
  }, 1000);
  await Promise.all(keys.map((k, d) => device(k, d)));
  clearInterval(sampler);
  const elapsed = (performance.now() - started) / 1000;
  const total = (await deliveries()) - before;
  const rate = total / elapsed;
  console.log(`fleetbeat counter path, 1/100 scale: ${DEVICES} devices of one project, each a heartbeat and a ${LINES}-line batch every second, ${seconds} s`);
  console.log(
    `requests offered: ${DEVICES * 2}/s, sent: ${(requests / elapsed).toFixed(0)}/s (what this machine took); ` +
      `deliveries reaching the ProjectHub: ${rate.toFixed(0)}/s (per second: ${perSecond.join(", ")})`,
  );
  console.log(`deliveries per request: ${(total / requests).toFixed(2)}; per device per second: ${(rate / DEVICES).toFixed(2)}`);
  console.log(
    `at 10,000 devices: ${(rate * 100).toFixed(0)} deliveries/s into one object, ${((rate * 100) / OBJECT_LIMIT).toFixed(1)}× the ~${OBJECT_LIMIT}/s it takes; ` +
      `with counter shards of 500 devices (docs/scale.md, not built yet): ${(rate * 5).toFixed(0)}/s per shard`,
  );
} finally {
  server.stop();
}
