// The counter path at 1/100 scale: 100 devices of one project, each sending a heartbeat and a
// 100-line batch every second, as a fleet of 10,000 would per 100 devices. A device hands its
// counts to the project at most once per delivery interval (10 minutes in production,
// src/contract/usage.ts); here the interval is one second, so a few seconds show what minutes
// would, and the arithmetic for 10,000 devices is printed for the production interval. It runs twice:
//   1. direct: the project's object takes every device's deliveries itself (what a project
//      below the fan-in threshold does);
//   2. fan-in: the tier of src/contract/fan-in.ts at 1/100 scale (fan in past 10 devices, 5
//      per fan-in object: 20 fan-in objects, as 10,000 devices at 500 each would have).
// The bench counts the deliveries that reach the project's object and the fan-in objects each
// second (bench/limit-entry.ts counts them inside the objects), checks that the project's
// usage equals the lines accepted once every device has sent what it owes, and prints the
// arithmetic for 10,000 devices against the ~1,000 requests/s a Durable Object takes.
//
//   npm run bench:counter-path     (-- --quick: 5 s per run; PORT_BENCH, default 8851)
import { newDevice, newProject, startServer } from "./server.ts";

const quick = process.argv.includes("--quick");
const port = Number(process.env.PORT_BENCH ?? 8851);
const seconds = quick ? 5 : 15;
const DEVICES = 100;
const LINES = 100;
const SCALE = 100; // 10,000 devices / 100
const OBJECT_LIMIT = 1_000; // requests/s a Durable Object takes, by Cloudflare's guidance
/** The production thresholds (src/contract/fan-in.ts) divided by SCALE. */
const SCALED_FAN_IN = { fromDevices: 1_000 / SCALE, devicesEach: 500 / SCALE, recountMs: 10_000 / SCALE };
/** The delivery interval in production (src/contract/usage.ts), and in this bench. */
const PRODUCTION_DELIVERY_MS = 600_000;
const BENCH_DELIVERY_MS = 1_000;

type Taken = { devices: number; fan_in: number; fan_in_objects: number };

const server = await startServer(port, ".wrangler/bench-counter-state", { entry: "bench/limit-entry.ts" });
const root = server.base.replace("/api/v1", "");
try {
  await fetch(`${root}/__bench/delivery`, { method: "POST", body: JSON.stringify({ everyMs: BENCH_DELIVERY_MS }) });
  const taken = async (projectId: string): Promise<Taken> =>
    (await fetch(`${root}/__bench/deliveries?project_id=${projectId}`)).json() as Promise<Taken>;
  const post = (key: string, path: string, body: unknown) =>
    fetch(`${server.base}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json() as Promise<{ accepted?: number }>);

  /** A project of DEVICES devices; every device heartbeats `rounds` times first, so the project knows them. */
  const fleet = async (rounds: number) => {
    const org = await newProject(server);
    const keys: string[] = [];
    for (let d = 0; d < DEVICES; d++)
      keys.push((await newDevice(server.base, org.orgKey, org.projectId, `dev-${d}`)).device_key);
    for (let r = 0; r < rounds; r++) {
      await Promise.all(keys.map((k) => post(k, "/fleet/heartbeat", {})));
      await new Promise((res) => setTimeout(res, 1100));
    }
    return { ...org, keys };
  };

  /** Runs the load for `seconds` and answers what reached the objects per second, and whether usage is exact. */
  const run = async (f: Awaited<ReturnType<typeof fleet>>) => {
    const started = performance.now();
    let requests = 0;
    let accepted = 0;
    const device = async (key: string, d: number) => {
      for (let tick = 0; performance.now() - started < seconds * 1000; tick++) {
        const wait = started + (tick + d / DEVICES) * 1000 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const now = Date.now() * 1000;
        await post(key, "/fleet/heartbeat", { metrics: { cpu_usage: 10 } });
        const answer = await post(key, "/logs/ingest", {
          logs: Array.from({ length: LINES }, (_, i) => ({
            timestamp_us: now - LINES + i,
            level: "INFO",
            module: "sim",
            message: `tick ${tick} line ${i}`,
          })),
        });
        accepted += answer.accepted ?? 0;
        requests += 2;
      }
    };
    const before = await taken(f.projectId);
    const usageBefore = await usageLogs(f);
    const perSecond: Taken[] = [];
    let last = before;
    const sampler = setInterval(async () => {
      const n = await taken(f.projectId);
      perSecond.push({
        devices: n.devices - last.devices,
        fan_in: n.fan_in - last.fan_in,
        fan_in_objects: n.fan_in_objects - last.fan_in_objects,
      });
      last = n;
    }, 1000);
    await Promise.all(f.keys.map((k, d) => device(k, d)));
    clearInterval(sampler);
    const elapsed = (performance.now() - started) / 1000;
    const after = await taken(f.projectId);
    // Every device sends what it still owes; a fan-in object passes it on within 10 s.
    await fetch(`${root}/__bench/flush?project_id=${f.projectId}`);
    let usage = 0;
    for (let i = 0; i < 40 && usage !== usageBefore + accepted; i++) {
      await new Promise((r) => setTimeout(r, 500));
      usage = await usageLogs(f);
    }
    const rate = (k: keyof Taken) => (after[k] - before[k]) / elapsed;
    return {
      elapsed,
      requests: requests / elapsed,
      accepted,
      exact: usage === usageBefore + accepted,
      usage: usage - usageBefore,
      perSecond,
      direct: rate("devices"),
      fromFanIn: rate("fan_in"),
      intoFanIn: rate("fan_in_objects"),
    };
  };
  const usageLogs = async (f: { orgKey: string; projectId: string }) =>
    (
      (await (
        await fetch(`${server.base}/stats/usage?project_id=${f.projectId}`, {
          headers: { authorization: `Bearer ${f.orgKey}` },
        })
      ).json()) as { logs: number }
    ).logs;

  console.log(
    `fleetbeat counter path, 1/${SCALE} scale: ${DEVICES} devices of one project, each a heartbeat and a ${LINES}-line batch every second, ${seconds} s per run`,
  );

  // 1. Direct.
  const direct = await run(await fleet(1));
  console.log(
    `\ndirect: requests ${direct.requests.toFixed(0)}/s of ${DEVICES * 2}/s offered; deliveries reaching the ProjectHub ${direct.direct.toFixed(0)}/s ` +
      `(per second: ${direct.perSecond.map((p) => p.devices).join(", ")}); ${(direct.direct / DEVICES).toFixed(2)} per device per second, ` +
      `${(direct.direct / direct.requests).toFixed(2)} per request; usage ${direct.usage} of ${direct.accepted} lines accepted: ${direct.exact ? "exact" : "NOT EXACT"}`,
  );
  // Deliveries per device per interval, measured here, at the production interval for 10,000 devices.
  const perInterval = (direct.direct / DEVICES) * (BENCH_DELIVERY_MS / 1000);
  const atScale = (perInterval * DEVICES * SCALE) / (PRODUCTION_DELIVERY_MS / 1000);
  console.log(
    `  ${perInterval.toFixed(2)} deliveries per device per interval; at 10,000 devices and a ${PRODUCTION_DELIVERY_MS / 60_000}-minute interval: ${atScale.toFixed(0)} deliveries/s into one object ` +
      `(${((atScale / OBJECT_LIMIT) * 100).toFixed(1)}% of the ~${OBJECT_LIMIT}/s it takes; live devices add their lines' deliveries while someone watches)`,
  );

  // 2. Fan-in at 1/100 scale.
  await fetch(`${root}/__bench/fan-in`, { method: "POST", body: JSON.stringify(SCALED_FAN_IN) });
  const objects = Math.ceil(DEVICES / SCALED_FAN_IN.devicesEach);
  // Two rounds of heartbeats: the project counts its devices, then each device hears how many fan-in objects there are.
  const fanned = await run(await fleet(2));
  console.log(
    `\nfan-in (${objects} objects of ${SCALED_FAN_IN.devicesEach} devices): requests ${fanned.requests.toFixed(0)}/s; ` +
      `into the fan-in objects ${fanned.intoFanIn.toFixed(0)}/s (${(fanned.intoFanIn / objects).toFixed(1)} per object); ` +
      `reaching the ProjectHub ${(fanned.fromFanIn + fanned.direct).toFixed(1)}/s: ${fanned.fromFanIn.toFixed(1)} from fan-in objects (per second: ${fanned.perSecond.map((p) => p.fan_in).join(", ")}) ` +
      `and ${fanned.direct.toFixed(1)} straight from devices; usage ${fanned.usage} of ${fanned.accepted} lines accepted: ${fanned.exact ? "exact" : "NOT EXACT"}`,
  );
  const perDevice = fanned.intoFanIn / DEVICES;
  const intoEach = (perDevice * 500 * (BENCH_DELIVERY_MS / 1000)) / (PRODUCTION_DELIVERY_MS / 1000);
  console.log(
    `  at 10,000 devices and a ${PRODUCTION_DELIVERY_MS / 60_000}-minute interval: ${objects} fan-in objects of 500 devices, each taking ${intoEach.toFixed(1)} deliveries/s ` +
      `and passing counts on at most every 10 s; the ProjectHub takes ~${(objects / 10).toFixed(0)}/s from them`,
  );
} finally {
  server.stop();
}
