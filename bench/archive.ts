// The log archive: how small Loghub lines get in R2, and how fast reads go through archived
// chunks, against the same lines read from the hot store in the same run.
//
// One device gets LINES Loghub lines (all datasets, spread over two days of event time), in
// 1,000-line gzip batches, 4 in flight. Its NDJSON export is read once from the hot store;
// then every line is archived (bench/limit-entry.ts: what the device's alarm does past the hot
// window), and the same export is read again, now from the chunks, and compared byte for byte.
//
//   npm run bench:archive     (-- --quick: a tenth of the lines; PORT_BENCH, default 8852)
import { gzipSync } from "node:zlib";
import { corpus, newDevice, newProject, startServer } from "./server.ts";

const quick = process.argv.includes("--quick");
const port = Number(process.env.PORT_BENCH ?? 8852);
const LINES = quick ? 20_000 : 200_000;
const BATCH = 1000;
const SPAN_US = 2 * 86_400_000_000;

const server = await startServer(port, ".wrangler/bench-archive-state", { entry: "bench/limit-entry.ts" });
const root = server.base.replace("/api/v1", "");
try {
  const org = await newProject(server);
  const device = await newDevice(server.base, org.orgKey, org.projectId, "archive-bench");
  const start = Date.now() * 1000 - SPAN_US - 60_000_000;
  const bodies = Array.from({ length: LINES / BATCH }, (_, b) =>
    gzipSync(
      JSON.stringify({
        batch_id: `a-${b}`,
        logs: Array.from({ length: BATCH }, (_, i) => {
          const n = b * BATCH + i;
          return { ...corpus[n % corpus.length]!, timestamp_us: start + Math.floor((n * SPAN_US) / LINES) };
        }),
      }),
    ),
  );
  const loadStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const res = await fetch(`${server.base}/logs/ingest`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${device.device_key}`,
            "content-type": "application/json",
            "content-encoding": "gzip",
          },
          body,
        });
        if (!res.ok) throw new Error(`ingest: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
    }),
  );
  const loadS = (performance.now() - loadStarted) / 1000;

  const exportAll = async () => {
    const t0 = performance.now();
    const res = await fetch(`${server.base}/logs/export?device_id=${device.device_id}&format=ndjson&order=asc`, {
      headers: { authorization: `Bearer ${org.orgKey}` },
    });
    const text = await res.text();
    const s = (performance.now() - t0) / 1000;
    const lines = text.length === 0 ? 0 : text.split("\n").length - 1;
    return { text, lines, s };
  };
  const hot = await exportAll();
  const archived = (await (
    await fetch(`${root}/__bench/archive?device_id=${device.device_id}`, { method: "POST" })
  ).json()) as {
    ms: number;
    objects: number;
    lines: number;
    raw_bytes: number;
    gz_bytes: number;
  };
  const cold = await exportAll();

  const share = (archived.gz_bytes / archived.raw_bytes) * 100;
  console.log(
    `fleetbeat archive benchmark: ${LINES.toLocaleString("en")} Loghub lines (${corpus.length.toLocaleString("en")} distinct, 16 datasets) over two days of event time, one device`,
  );
  console.log(`loaded in ${loadS.toFixed(1)} s (${Math.round(LINES / loadS).toLocaleString("en")} lines/s)`);
  console.log(
    `archived ${archived.lines.toLocaleString("en")} lines into ${archived.objects} objects in ${(archived.ms / 1000).toFixed(1)} s ` +
      `(${Math.round(archived.lines / (archived.ms / 1000)).toLocaleString("en")} lines/s): raw NDJSON ${(archived.raw_bytes / 2 ** 20).toFixed(1)} MiB, ` +
      `gzip ${(archived.gz_bytes / 2 ** 20).toFixed(1)} MiB = ${share.toFixed(1)}% of raw (target ≤ 15%: ${share <= 15 ? "meets" : "misses"})`,
  );
  console.log(
    `export of every line, NDJSON: hot store ${hot.lines.toLocaleString("en")} lines in ${hot.s.toFixed(1)} s (${Math.round(hot.lines / hot.s).toLocaleString("en")} lines/s); ` +
      `archive ${cold.lines.toLocaleString("en")} lines in ${cold.s.toFixed(1)} s (${Math.round(cold.lines / cold.s).toLocaleString("en")} lines/s, ` +
      `${((hot.s / cold.s) * 100).toFixed(0)}% of the hot rate); the two exports are ${hot.text === cold.text ? "identical" : "DIFFERENT"}`,
  );
} finally {
  server.stop();
}
