// CPU profile of ingest: where the milliseconds of one batch go, from workerd's own V8 profiler
// (wrangler dev's inspector), not from timers. It sends `BENCH_BATCHES` batches of `BENCH_LINES`
// Loghub lines to one device, one after another, while the profiler samples every 50 µs, then maps
// each sample back to our sources through the bundle's source map and prints:
//   - CPU ms per batch in the Worker and in the Durable Objects (a sample belongs to an object when
//     its stack passes through durable-objects/), beside garbage collection and idle time;
//   - the stages: each sample charged to the innermost function of ours on its stack, grouped by
//     file, so a library's time (zod, drizzle, hono) lands on the code of ours that called it;
//   - the heaviest functions by self time, wherever they are.
//
// It profiles the same batches twice, as plain JSON and as gzip.
//
//   npm run bench:profile              (-- --quick: fewer batches)
//     BENCH_LINES      lines per batch (default 1,000)
//     PORT_BENCH (default 8871), BENCH_INSPECTOR_PORT (default 9241),
//     BENCH_PROFILE_OUT: write the .cpuprofile files there (<path>.json.cpuprofile, <path>.gzip.cpuprofile)
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { inspector } from "./inspector.ts";
import { batchBodies, newDevice, newProject, startServer } from "./server.ts";

const port = Number(process.env.PORT_BENCH ?? 8871);
const inspectorPort = Number(process.env.BENCH_INSPECTOR_PORT ?? 9241);
const lines = Number(process.env.BENCH_LINES ?? 1000);
const quick = process.argv.includes("--quick");
const batches = Number(process.env.BENCH_BATCHES ?? (lines >= 1000 ? 60 : 300) / (quick ? 3 : 1));

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The source map of wrangler's bundle, found under .wrangler/tmp while the server runs. */
function bundleMap(): SourceMap | undefined {
  const root = ".wrangler/tmp";
  for (const dir of existsSync(root) ? readdirSync(root) : []) {
    for (const file of ["index.js.map", "bundle-entry.js.map"]) {
      const path = join(root, dir, file);
      if (existsSync(path)) return new SourceMap(JSON.parse(readFileSync(path, "utf8")));
    }
  }
  return undefined;
}

/** Charges every sample of `profile` to Worker, objects, runtime, GC or idle, and to stages. */
function analyse(profile: Profile, map: SourceMap | undefined) {
  const sourceOf = (f: CallFrame): string => {
    if (!f.url) return "";
    const entry = map?.findEntry(f.lineNumber, f.columnNumber) as
      | { originalSource?: string; originalLine?: number }
      | undefined;
    const source = entry?.originalSource ?? f.url;
    return source.replace(/^.*?\/(node_modules|src|durable-objects)\//, "$1/");
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const ms = { worker: 0, object: 0, gc: 0, idle: 0, other: 0 };
  const stage = new Map<string, number>();
  const self = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const leaf = byId.get(profile.samples[i]!)!;
    const name = leaf.callFrame.functionName;
    if (name === "(idle)") {
      ms.idle += dt;
      continue;
    }
    if (name === "(garbage collector)") {
      ms.gc += dt;
      continue;
    }
    add(self, `${name || "(anonymous)"}  ${sourceOf(leaf.callFrame) || "(native)"}`, dt);
    // The innermost function of ours and, when it called straight into native code (SQLite's
    // exec, JSON, the RPC), which native function, so SQLite stands apart from the rest.
    let ours: string | undefined;
    let inObject = false;
    let child: ProfileNode | undefined;
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id)!;
      const source = sourceOf(node.callFrame);
      if (source.startsWith("durable-objects/")) inObject = true;
      if (!ours && (source.startsWith("src/") || source.startsWith("durable-objects/"))) {
        const native =
          child !== undefined && !child.callFrame.url ? ` → ${child.callFrame.functionName || "native"}` : "";
        ours = `${source} ${node.callFrame.functionName || "(anonymous)"}${native}`;
      }
      child = node;
    }
    if (!ours) ms.other += dt;
    else if (inObject) ms.object += dt;
    else ms.worker += dt;
    add(stage, ours ?? "(no code of ours on the stack: runtime, I/O callbacks)", dt);
  }
  return { ms, stage, self };
}

const server = await startServer(port, ".wrangler/bench-profile-state", { inspectorPort });
try {
  const { orgKey, projectId } = await newProject(server);
  const map = bundleMap();
  const cdp = await inspector(inspectorPort);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
  console.log(
    `fleetbeat CPU profile: ${batches} batches of ${lines} Loghub lines to one device, one after another, sampled every 50 µs`,
  );
  console.log(`source map of wrangler's bundle: ${map ? "found" : "not found (sources are the bundle)"}`);
  for (const gzip of [false, true]) {
    const device = await newDevice(server.base, orgKey, projectId, `profile-${gzip ? "gzip" : "json"}`);
    const post = async (body: string) => {
      const res = await fetch(`${server.base}/logs/ingest`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${device.device_key}`,
          "content-type": "application/json",
          ...(gzip ? { "content-encoding": "gzip" } : {}),
        },
        body: gzip ? gzipSync(body) : body,
      });
      const json: any = await res.json();
      if (!res.ok || json.accepted !== lines) throw new Error(`${res.status} ${JSON.stringify(json).slice(0, 300)}`);
    };
    for (const b of batchBodies(lines, 5, `warm-${gzip}`)) await post(b);
    const bodies = batchBodies(lines, batches, `run-${gzip}`);
    await cdp.send("Profiler.start");
    const started = performance.now();
    for (const b of bodies) await post(b);
    const wall = performance.now() - started;
    const { profile } = (await cdp.send("Profiler.stop")) as { profile: Profile };
    if (process.env.BENCH_PROFILE_OUT)
      writeFileSync(`${process.env.BENCH_PROFILE_OUT}.${gzip ? "gzip" : "json"}.cpuprofile`, JSON.stringify(profile));
    const { ms, stage, self } = analyse(profile, map);

    const per = (v: number) => (v / batches).toFixed(2).padStart(8);
    console.log(
      `\n--- ${gzip ? "gzip" : "plain JSON"} bodies: ${(wall / batches).toFixed(2)} ms per batch at the client ---`,
    );
    console.log("CPU ms per batch (one isolate runs the Worker and its objects)");
    console.log(`  Worker code         ${per(ms.worker)}`);
    console.log(`  Durable Objects     ${per(ms.object)}`);
    console.log(`  other JS / runtime  ${per(ms.other)}`);
    console.log(`  garbage collection  ${per(ms.gc)}`);
    console.log(`  idle                ${per(ms.idle)}`);
    console.log(
      "ms per batch, charged to the innermost function of ours on the stack (libraries land on their caller)",
    );
    for (const [k, v] of [...stage].sort((a, b) => b[1] - a[1]).slice(0, 24)) console.log(`${per(v)}  ${k}`);
    console.log("heaviest functions by self time, ms per batch");
    for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${per(v)}  ${k}`);
  }
  cdp.close();
} finally {
  server.stop();
}
