// Ingest benchmark: lines/s into fleetbeat the way real clients send them, beside two references
// measured in the same run.
//
//   1. The limit: the device object's own ingest step on pre-parsed lines, called inside the
//      object (bench/limit-entry.ts), with no HTTP and no Worker; beside it a bare INSERT of the
//      same lines, the same with the hot store's indexes, and with FTS, so each layer's cost shows.
//   2. PostgreSQL 15 with the original design's schema (bench/postgres.ts), skipped with a notice
//      where PostgreSQL is absent.
//   3. fleetbeat end to end over HTTP on `wrangler dev`: POST /logs/ingest of Loghub HDFS lines,
//      100- and 1,000-line batches, JSON and gzip, from 1 device at 1, 2 and 8 connections and
//      from 10 and 100 devices at one connection each. Every request is stamped afresh and has
//      no batch_id, so each one is stored and counted; each row runs on fresh devices for a fixed
//      time. Beside each row: the CPU the server (workerd) and this load generator took.
//
//   4. wrk (where installed) posting one fixed 1,000-line body over and over to one device, at 1
//      and 8 connections, as an outside load tool does, beside the project's client doing the same
//      (BENCH_SAME_BODY's rows): what differs between a fresh body and the same one.
//
//   npm run bench:ingest              (-- --quick: 2 s rows, fewer batches, no 100-device rows)
//     PORT_BENCH       first of the ports used (default 8861; the limit server takes the next)
//     BENCH_SECONDS    per HTTP row (default 8, quick 2)
//     BENCH_SAME_BODY  1: every request re-sends one byte-identical body (see docs/BENCHMARKS.md)
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzip as gzipCb } from "node:zlib";
import { loadLoghub } from "../agent/samples/loghub.ts";
import type { LimitFigures } from "./limit-entry.ts";
import { formatPostgresReference, postgresReference } from "./postgres.ts";
import { cpuSeconds, loadAverage } from "./procs.ts";
import { type BenchServer, healthRate, newDevice, newProject, startServer } from "./server.ts";

const gzip = promisify(gzipCb);
const quick = process.argv.includes("--quick");
const port = Number(process.env.PORT_BENCH ?? 8861);
const seconds = Number(process.env.BENCH_SECONDS ?? (quick ? 2 : 8));
const sameBody = process.env.BENCH_SAME_BODY === "1";
const SIZES = [100, 1000] as const;
const SHAPES: readonly (readonly [devices: number, connections: number])[] = quick
  ? [
      [1, 1],
      [1, 8],
      [10, 1],
    ]
  : [
      [1, 1],
      [1, 2],
      [1, 8],
      [10, 1],
      [100, 1],
    ];

const hdfs = loadLoghub("HDFS");
/** Each line as JSON without its opening brace, so a body is stamped by concatenation. */
const tails = hdfs.map((l) => JSON.stringify(l).slice(1));
let lastUs = 0;
/** An ISO 8601 timestamp with microseconds, as agents send them. */
const isoUs = (us: number) =>
  new Date(Math.floor(us / 1000)).toISOString().replace("Z", `${String(us % 1000).padStart(3, "0")}Z`);
/** A body of `size` lines stamped just before now, later than every body made before it. */
function body(size: number): string {
  const nowUs = (lastUs = Math.max(Date.now() * 1000, lastUs + size));
  const lines: string[] = [];
  for (let i = 0; i < size; i++) lines.push(`{"timestamp":"${isoUs(nowUs - (size - i))}",${tails[i % tails.length]}`);
  return `{"logs":[${lines.join(",")}]}`;
}
const fixed = new Map(SIZES.map((s) => [s, body(s)]));

const rate = (lines: number, ms: number) => (lines / ms) * 1000;
const fmt = (n: number) => n.toFixed(0).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

// ---- 1. the limit -------------------------------------------------------------------------

async function limitRow(server: BenchServer, size: number, batches: number) {
  const { orgKey, projectId } = await newProject(server);
  const device = await newDevice(server.base, orgKey, projectId, `limit-${size}`);
  const logs = hdfs.slice(0, size).map((l, i) => ({ ...l, timestamp_us: Date.now() * 1000 - 3600e6 + i }));
  const res = await fetch(`${server.base.replace("/api/v1", "")}/__bench/limit`, {
    method: "POST",
    body: JSON.stringify({ device_id: device.device_id, logs, batches, spacing_us: size }),
  });
  if (!res.ok) throw new Error(`limit: ${res.status} ${await res.text()}`);
  const ms = (await res.json()) as LimitFigures;
  const lines = size * batches;
  return {
    bare: rate(lines, ms.bare),
    indexed: rate(lines, ms.indexed),
    fts: rate(lines, ms.fts),
    step: rate(lines, ms.step),
  };
}

// ---- 3. over HTTP ---------------------------------------------------------------------------

async function post(base: string, key: string, size: number, gzipped: boolean): Promise<number> {
  const started = performance.now();
  const json = sameBody ? fixed.get(size as 100 | 1000)! : body(size);
  const res = await fetch(`${base}/logs/ingest`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      ...(gzipped ? { "content-encoding": "gzip" } : {}),
    },
    body: gzipped ? await gzip(json) : json,
  });
  const answer: any = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(answer)}`);
  if (answer.accepted !== size)
    throw new Error(`accepted ${answer.accepted} of ${size}: ${JSON.stringify(answer.rejected[0])}`);
  return performance.now() - started;
}

/** `connections` closed loops per device key for `seconds`; a request under way at the end still counts. */
async function httpRow(server: BenchServer, keys: string[], connections: number, size: number, gzipped: boolean) {
  const latencies: number[] = [];
  const serverCpu = cpuSeconds(server.pid, "workerd");
  const clientCpu = process.cpuUsage();
  const started = performance.now();
  const until = started + seconds * 1000;
  const loop = async (key: string) => {
    while (performance.now() < until) latencies.push(await post(server.base, key, size, gzipped));
  };
  await Promise.all(keys.flatMap((k) => Array.from({ length: connections }, () => loop(k))));
  const elapsed = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientCpu);
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length / elapsed,
    lines: (latencies.length * size) / elapsed,
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    p99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!,
    serverCpu: ((cpuSeconds(server.pid, "workerd") - serverCpu) / elapsed) * 100,
    clientCpu: ((client.user + client.system) / 1e6 / elapsed) * 100,
  };
}

// ---- 4. wrk ----------------------------------------------------------------------------------

/**
 * wrk posting one fixed 1,000-line body to one device for `seconds`, at 1 and 8 connections, and
 * the project's client re-sending that same body the same way: the outside check of issue 21.
 */
async function wrkRows(server: BenchServer, orgKey: string, projectId: string): Promise<void> {
  if (spawnSync("wrk", ["--version"]).error) {
    console.log("\n4. wrk: skipped, not installed (apt-get install wrk)");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "fleetbeat-wrk-"));
  writeFileSync(join(dir, "body.json"), fixed.get(1000)!);
  console.log(
    `\n4. One fixed 1,000-line body posted over and over to one device, ${seconds} s a row (lines/s counts 2xx answers only)`,
  );
  console.log("client              conns   requests/s     lines/s   non-2xx   server CPU");
  for (const connections of [1, 8]) {
    const { device_key } = await newDevice(server.base, orgKey, projectId, `wrk-${connections}`);
    const script = join(dir, `post-${connections}.lua`);
    writeFileSync(
      script,
      [
        `local f = io.open(${JSON.stringify(join(dir, "body.json"))}, "rb")`,
        `wrk.method = "POST"`,
        `wrk.body = f:read("*a")`,
        `f:close()`,
        `wrk.headers["Authorization"] = "Bearer ${device_key}"`,
        `wrk.headers["Content-Type"] = "application/json"`,
      ].join("\n"),
    );
    const serverCpu = cpuSeconds(server.pid, "workerd");
    const started = performance.now();
    const run = spawnSync(
      "wrk",
      ["-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "10s", "-s", script, `${server.base}/logs/ingest`],
      { encoding: "utf8" },
    );
    const elapsed = (performance.now() - started) / 1000;
    const total = Number(/(\d+) requests in/.exec(run.stdout)?.[1] ?? 0);
    const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(run.stdout)?.[1] ?? 0);
    const secs = Number(/requests in ([\d.]+)s/.exec(run.stdout)?.[1] ?? seconds);
    const cpu = ((cpuSeconds(server.pid, "workerd") - serverCpu) / elapsed) * 100;
    console.log(
      `${"wrk".padEnd(18)} ${String(connections).padStart(6)} ${(total / secs).toFixed(1).padStart(12)} ${fmt(((total - bad) / secs) * 1000).padStart(11)} ${String(bad).padStart(9)} ${`${cpu.toFixed(0)}%`.padStart(12)}`,
    );
    // The project's client, the same body re-sent, on a fresh device.
    const { device_key: key } = await newDevice(server.base, orgKey, projectId, `same-${connections}`);
    const r = await sameBodyRow(server, key, connections);
    console.log(
      `${"fleetbeat client".padEnd(18)} ${String(connections).padStart(6)} ${r.requests.toFixed(1).padStart(12)} ${fmt(r.lines).padStart(11)} ${String(r.bad).padStart(9)} ${`${r.serverCpu.toFixed(0)}%`.padStart(12)}`,
    );
  }
}

/** The project's client re-sending the fixed 1,000-line body in `connections` closed loops. */
async function sameBodyRow(server: BenchServer, key: string, connections: number) {
  const json = fixed.get(1000)!;
  let ok = 0;
  let bad = 0;
  const serverCpu = cpuSeconds(server.pid, "workerd");
  const started = performance.now();
  const until = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < until) {
      const res = await fetch(`${server.base}/logs/ingest`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: json,
      });
      await res.arrayBuffer();
      if (res.ok) ok++;
      else bad++;
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  const elapsed = (performance.now() - started) / 1000;
  return {
    requests: (ok + bad) / elapsed,
    lines: (ok * 1000) / elapsed,
    bad,
    serverCpu: ((cpuSeconds(server.pid, "workerd") - serverCpu) / elapsed) * 100,
  };
}

// ---- the run --------------------------------------------------------------------------------

console.log(
  `fleetbeat ingest benchmark${quick ? " (--quick)" : ""}: ${availableParallelism()} cores, load average ${loadAverage()}, ` +
    `${new Date().toISOString()}\nLoghub HDFS lines as the contract's lines (ISO module, logger, context); CPU in % of one core\n`,
);

const limits = new Map<number, Awaited<ReturnType<typeof limitRow>>>();
{
  const server = await startServer(port + 1, ".wrangler/bench-limit-state", {
    entry: "bench/limit-entry.ts",
    logFile: process.env.BENCH_SERVER_LOG,
  });
  try {
    console.log(
      "1. The limit: the device object's own step, called inside the object (no HTTP, no Worker); each batch synced to disk",
    );
    console.log("batch   bare INSERT   + 4 indexes      + FTS5   object's ingest step   (lines/s)");
    for (const size of SIZES) {
      const batches = size === 1000 ? (quick ? 20 : 60) : quick ? 100 : 300;
      const l = await limitRow(server, size, batches);
      limits.set(size, l);
      console.log(
        `${String(size).padStart(5)} ${fmt(l.bare).padStart(13)} ${fmt(l.indexed).padStart(13)} ${fmt(l.fts).padStart(11)} ${fmt(l.step).padStart(22)}`,
      );
    }
  } finally {
    server.stop();
  }
}

console.log(
  "\n2. PostgreSQL with the design's schema (multi-row INSERTs of the same lines, each its own flushed transaction)",
);
const pg = await postgresReference(hdfs, { lines: quick ? 12_000 : 60_000, port: port + 2 });
const pgOne = new Map<number, number>();
if (!pg) console.log("skipped: no PostgreSQL binaries found (apt-get install postgresql, or set PG_BIN)");
else {
  console.log(`${pg.version.split(",")[0]}\n${formatPostgresReference(pg)}`);
  for (const r of pg.rows) if (r.connections === 1) pgOne.set(r.batch, r.linesPerSecond);
}

const server = await startServer(port, ".wrangler/bench-ingest-state");
const best = new Map<number, number>();
try {
  const { orgKey, projectId } = await newProject(server);
  console.log(
    `\n3. fleetbeat over HTTP: POST /logs/ingest on wrangler dev, ${seconds} s per row, fresh devices per row${sameBody ? ", one identical body re-sent" : ""}`,
  );
  console.log(`GET /health, sequential: ${fmt(await healthRate(server.base))} requests/s`);
  console.log(
    "batch  body   devices × conns   requests/s     lines/s   mean ms   p99 ms   server CPU   client CPU   of limit",
  );
  let made = 0;
  for (const size of SIZES) {
    for (const gzipped of [false, true]) {
      for (const [devices, connections] of SHAPES) {
        const keys: string[] = [];
        for (let d = 0; d < devices; d++)
          keys.push((await newDevice(server.base, orgKey, projectId, `ingest-${made++}`)).device_key);
        await Promise.all(keys.map((k) => post(server.base, k, size, gzipped))); // the objects are up and their tables built
        const r = await httpRow(server, keys, connections, size, gzipped);
        best.set(size, Math.max(best.get(size) ?? 0, r.lines));
        console.log(
          `${String(size).padStart(5)}  ${(gzipped ? "gzip" : "json").padEnd(5)} ${`${devices} × ${connections}`.padStart(16)} ${r.requests.toFixed(1).padStart(12)} ${fmt(r.lines).padStart(11)} ${r.mean.toFixed(0).padStart(9)} ${r.p99.toFixed(0).padStart(8)} ${`${r.serverCpu.toFixed(0)}%`.padStart(12)} ${`${r.clientCpu.toFixed(0)}%`.padStart(12)} ${`${((r.lines / limits.get(size)!.step) * 100).toFixed(0)}%`.padStart(10)}`,
        );
      }
    }
  }
  await wrkRows(server, orgKey, projectId);
  console.log(
    `GET /health, sequential, after: ${fmt(await healthRate(server.base))} requests/s; load average ${loadAverage()}`,
  );
} finally {
  server.stop();
}

console.log("\nAgainst the targets (best HTTP row of each batch size):");
const b1000 = best.get(1000)!;
const b100 = best.get(100)!;
const step1000 = limits.get(1000)!.step;
console.log(
  `  1,000-line: ${fmt(b1000)} lines/s = ${((b1000 / step1000) * 100).toFixed(0)}% of the object's step (target ≥ 75%)` +
    (pgOne.has(1000)
      ? `, ${((b1000 / pgOne.get(1000)!) * 100).toFixed(0)}% of PostgreSQL with one connection (target ≥ 100%)`
      : ""),
);
console.log(
  `  100-line: ${fmt(b100)} lines/s = ${((b100 / b1000) * 100).toFixed(0)}% of the 1,000-line rate (target ≥ 50%)`,
);
