// Query benchmark: p50/p99 of GET /logs over a large hot store, and the memory of the export.
// On `wrangler dev` (workerd, local D1 and Durable Objects) with its own state, it loads
// 1,000,000 Loghub lines into one device (timestamps over the last 6 days, so all stay hot)
// and 100 devices × 10,000 lines into one project, then times, per scope: a level filter, a
// one-hour range, full text (a word in ~1% of lines and a rare one) and a deep cursor page.
// It counts the device calls a project-wide page makes by replaying the page's merge (the
// algorithm of src/services/page-merge.ts) against the devices one by one. Last it samples the
// resident memory of the workerd processes while ingesting and while exporting the device's
// 1,000,000 lines as NDJSON, read as a stream and counted, never kept.
//
//   npm run bench:query            (-- --quick for a tenth of the data; PORT_BENCH, default 8881)
import { promisify } from "node:util";
import { gzip as gzipCb } from "node:zlib";
import { inspector } from "./inspector.ts";
import { loadAverage, mib, withMemory } from "./procs.ts";
import { api as call, corpus, newDevice as register, startServer } from "./server.ts";

const gzip = promisify(gzipCb);
const quick = process.argv.includes("--quick");
const scale = quick ? 0.1 : 1;
const ONE_DEVICE_LINES = 1_000_000 * scale;
const PROJECT_DEVICES = 100;
const LINES_PER_DEVICE = 10_000 * scale;
const BATCH = 5_000;
const CONCURRENT = 4;
const SAMPLES = 50;
const TARGET_P99_MS = 100;
const SPAN_US = 6 * 24 * 3600 * 1e6;

const port = Number(process.env.PORT_BENCH ?? 8881);
const persist = ".wrangler/bench-query-state";

// ---- loading ----

/** Lines `from..to` of `total`, spread evenly over the last 6 days, oldest first. */
function batchBody(start: number, end: number, total: number, origin: number, offset: number, batchId: string) {
  const logs = [];
  for (let i = start; i < end; i++) {
    logs.push({ ...corpus[(i + offset) % corpus.length]!, timestamp_us: Math.floor(origin + (i * SPAN_US) / total) });
  }
  return JSON.stringify({ batch_id: batchId, logs });
}

async function ingest(
  deviceKey: string,
  total: number,
  origin: number,
  offset: number,
  progress: (done: number) => void,
) {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < total) {
      const start = next;
      next = Math.min(total, next + BATCH);
      const body = await gzip(batchBody(start, next, total, origin, offset, `b-${start}`));
      const res = await fetch(`${base}/logs/ingest`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${deviceKey}`,
          "content-type": "application/json",
          "content-encoding": "gzip",
        },
        body,
      });
      const json: any = await res.json();
      if (!res.ok || json.accepted !== Math.min(BATCH, total - start))
        throw new Error(`ingest: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
      done += json.accepted;
      progress(done);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT }, worker));
}

// ---- words for q ----

/** Share of corpus lines that `q` matches as FTS5 would here (words in any case, the last as a prefix). */
function wordShares() {
  const lines = new Map<string, number>();
  for (const line of corpus) {
    const words = new Set(
      line.message
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .filter((w) => /^[a-z]{5,}$/.test(w)),
    );
    for (const w of words) lines.set(w, (lines.get(w) ?? 0) + 1);
  }
  // Prefix matching: a word's share includes the longer words it begins.
  const share = (w: string) => {
    const withPrefix = new Set<number>();
    corpus.forEach((line, i) => {
      if (
        line.message
          .toLowerCase()
          .split(/[^\p{L}\p{N}]+/u)
          .some((t) => t.startsWith(w))
      )
        withPrefix.add(i);
    });
    return withPrefix.size / corpus.length;
  };
  const pick = (words: string[], fits: (s: number) => boolean) => {
    for (const w of words) {
      const s = share(w);
      if (fits(s)) return { w, s };
    }
    throw new Error("no word fits");
  };
  const byCloseness = [...lines.entries()].sort(
    (a, b) => Math.abs(a[1] / corpus.length - 0.01) - Math.abs(b[1] / corpus.length - 0.01),
  );
  const common = pick(
    byCloseness.map(([w]) => w),
    (s) => s > 0.007 && s < 0.014,
  );
  const rare = pick(
    [...lines.entries()].filter(([, n]) => n === 1).map(([w]) => w),
    (s) => s * corpus.length === 1,
  );
  return { common, rare };
}

// ---- timing ----

async function get(path: string, token: string) {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const json: any = await res.json();
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json as { logs: any[]; next_cursor: string | null };
}

async function timed(path: string, token: string, n = SAMPLES) {
  await get(path, token); // warm-up
  const ms: number[] = [];
  let lines = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    lines = (await get(path, token)).logs.length;
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(n * 0.5)]!, p99: ms[Math.min(n - 1, Math.ceil(n * 0.99) - 1)]!, lines };
}

function row(name: string, r: { p50: number; p99: number; lines: number }, extra = "") {
  const verdict = r.p99 <= TARGET_P99_MS ? "meets" : "MISSES";
  console.log(
    `  ${name.padEnd(52)} ${String(r.lines).padStart(5)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)}   ≤ ${TARGET_P99_MS} ms: ${verdict}${extra}`,
  );
}

/** The query kinds, for one scope (`device_id=…` or `project_id=…`). */
async function queryKinds(
  scope: string,
  token: string,
  mid: number,
  words: ReturnType<typeof wordShares>,
  pageDepth: number,
) {
  const kinds: [string, string][] = [
    ["latest 100, no filter", `${scope}`],
    ["level=ERROR, limit 100", `${scope}&level=ERROR`],
    [
      "1 hour in the middle, limit 100",
      `${scope}&from=${Math.floor(mid / 1000) - 1_800_000}&to=${Math.floor(mid / 1000) + 1_800_000}`,
    ],
    [
      `q=${words.common.w} (~${(words.common.s * 100).toFixed(1)}% of lines), limit 100`,
      `${scope}&q=${words.common.w}`,
    ],
    [`q=${words.rare.w} (rare), limit 100`, `${scope}&q=${words.rare.w}`],
  ];
  console.log(`  ${"query".padEnd(52)} lines   p50 ms   p99 ms`);
  const paths: Record<string, string> = {};
  for (const [name, query] of kinds) {
    paths[name] = `/logs?${query}`;
    row(name, await timed(`/logs?${query}`, token));
  }
  // Deep cursor: walk pageDepth pages of 1,000, then time the deepest page again and again.
  let cursor: string | null = null;
  const walk: number[] = [];
  for (let p = 0; p < pageDepth; p++) {
    const t = performance.now();
    const page: { logs: any[]; next_cursor: string | null } = await get(
      `/logs?${scope}&limit=1000${cursor ? `&cursor=${cursor}` : ""}`,
      token,
    );
    walk.push(performance.now() - t);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  const deepPath = `/logs?${scope}&limit=1000&cursor=${cursor}`;
  paths.deep = deepPath;
  console.log(
    `  (walked ${walk.length} pages of 1,000: first page ${walk[0]!.toFixed(1)} ms, page ${walk.length} ${walk.at(-1)!.toFixed(1)} ms)`,
  );
  row(`page ${pageDepth + 1} of 1,000 (deep cursor)`, await timed(deepPath, token));
  row(
    `page ${pageDepth + 1} of 1,000 (deep cursor), limit 100`,
    await timed(deepPath.replace("limit=1000", "limit=100"), token),
  );
  return paths;
}

// ---- calls per project-wide page: the merge of page-merge.ts, replayed device by device ----

function encodeCursor(value: Record<string, string | number>) {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

async function callsPerPage(
  query: string,
  deviceIds: string[],
  limit: number,
  token: string,
  after?: Record<string, string | number>,
) {
  const want = limit + 1;
  let calls = 0;
  let rowsFetched = 0;
  type Stream = { id: string; rows: any[]; after?: Record<string, string | number>; chunk: number; done: boolean };
  const fetchMore = async (d: Stream) => {
    calls++;
    const cursor = d.after ? `&cursor=${encodeCursor(d.after)}` : "";
    const rows = (await get(`/logs?${query}&device_id=${d.id}&limit=${d.chunk}${cursor}`, token)).logs;
    rowsFetched += rows.length;
    d.rows.push(...rows);
    d.done = rows.length < d.chunk;
    const last = d.rows.at(-1);
    if (last)
      d.after = { ts: last.timestamp_us, device_id: d.id, id: Number(last.id.slice(last.id.lastIndexOf(":") + 1)) };
    d.chunk = Math.min(d.chunk * 2, want);
  };
  const share = Math.max(20, Math.ceil((2 * want) / Math.max(1, deviceIds.length)));
  const streams: Stream[] = deviceIds.map((id) => ({ id, rows: [], after, chunk: Math.min(share, want), done: false }));
  let steps = 1;
  const firstCalls = streams.length;
  for (const d of streams) await fetchMore(d);
  const key = (l: any) => [l.timestamp_us, l.device_id, Number(l.id.slice(l.id.lastIndexOf(":") + 1))] as const;
  const before = (a: any, b: any) => {
    const [x, y] = [key(a), key(b)];
    if (x[0] !== y[0]) return x[0] > y[0]; // desc
    if (x[1] !== y[1]) return x[1] > y[1];
    return x[2] > y[2];
  };
  let out = 0;
  while (out < want) {
    const starved = streams.filter((d) => d.rows.length === 0 && !d.done);
    if (starved.length > 0) steps++;
    for (const d of starved) await fetchMore(d);
    let best: Stream | undefined;
    for (const d of streams) if (d.rows.length > 0 && (!best || before(d.rows[0], best.rows[0]))) best = d;
    if (!best) break;
    best.rows.shift();
    out++;
  }
  return { calls, firstCalls, steps, rowsFetched, lines: Math.min(out, limit) };
}

// ---- export ----

async function exportNdjson(deviceId: string, token: string) {
  const res = await fetch(`${base}/logs/export?device_id=${deviceId}&format=ndjson`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!res.ok || !res.body) throw new Error(`export: ${res.status}`);
  let bytes = 0;
  let lines = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
  }
  return { bytes, lines };
}

// ---- the run ----

const began = performance.now();
const elapsed = () => `${((performance.now() - began) / 1000).toFixed(0)} s`;
const inspectorPort = Number(process.env.BENCH_INSPECTOR_PORT ?? 9242);
const server = await startServer(port, persist, { inspectorPort });
// The isolate's JS heap in use, in MiB: the memory a Worker's or an object's 128 MB limit is about.
const cdp = await inspector(inspectorPort);
const heap = async () => ((await cdp.send("Runtime.getHeapUsage")) as { usedSize: number }).usedSize / 2 ** 20;
const { base, admin } = server;
const api = (method: string, path: string, token: string | null, body?: unknown) =>
  call(base, method, path, token, body);
const newDevice = (orgKey: string, projectId: string, dsn: string) => register(base, orgKey, projectId, dsn);
try {
  const root = server.pid;
  const measure = <T>(run: () => Promise<T>) => withMemory(root, run, heap);
  const org = await api("POST", "/orgs", admin, { name: "bench-query", tier: "enterprise" });
  const orgKey: string = org.api_key.key;
  const words = wordShares();
  const t0 = performance.now();
  for (let i = 0; i < 300; i++) await (await fetch(`${base}/health`)).json();
  const health = 300 / ((performance.now() - t0) / 1000);
  console.log(
    `fleetbeat query benchmark${quick ? " (--quick: a tenth of the data)" : ""}: wrangler dev on this machine, ${corpus.length} Loghub lines as text, reused\n` +
      `GET /health, sequential: ${health.toFixed(0)} requests/s; load average before: ${loadAverage()}\n` +
      `p99 of ${SAMPLES} sequential requests is their slowest; each query is sent once before timing\n`,
  );

  // 1. One device.
  const { project } = await api("POST", "/projects", orgKey, { name: "one-device" });
  const device = await newDevice(orgKey, project.id, "bench-one");
  const origin = Date.now() * 1000 - SPAN_US - 3600e6; // the newest line an hour old
  let lastPrint = 0;
  const load = await measure(async () => {
    const t = performance.now();
    await ingest(device.device_key, ONE_DEVICE_LINES, origin, 0, (done) => {
      if (performance.now() - lastPrint > 10_000) {
        lastPrint = performance.now();
        console.log(`  … ${done} lines loaded (${elapsed()})`);
      }
    });
    return (performance.now() - t) / 1000;
  });
  console.log(
    `One device, ${ONE_DEVICE_LINES.toLocaleString("en")} lines over 6 days: loaded in ${load.result.toFixed(1)} s = ${(ONE_DEVICE_LINES / load.result).toFixed(0)} lines/s ` +
      `(${BATCH}-line gzip batches, ${CONCURRENT} in flight)\n  memory while ingesting: ${mib(load.mem)}\n`,
  );
  const mid = origin + SPAN_US / 2;
  await queryKinds(`device_id=${device.device_id}`, orgKey, mid, words, 50);

  // 2. Memory of the export of the device's lines.
  const exp = await measure(async () => {
    const t = performance.now();
    const r = await exportNdjson(device.device_id, orgKey);
    return { ...r, seconds: (performance.now() - t) / 1000 };
  });
  console.log(
    `\nExport of the device as NDJSON (one request, read as a stream and counted): ${exp.result.lines.toLocaleString("en")} lines, ` +
      `${(exp.result.bytes / 2 ** 20).toFixed(0)} MiB in ${exp.result.seconds.toFixed(1)} s (${(exp.result.lines / exp.result.seconds).toFixed(0)} lines/s)\n` +
      `  memory while exporting: ${mib(exp.mem)}\n  (workerd under wrangler dev also grows with request count by itself; the export is one request)\n`,
  );

  // 3. A project of 100 devices.
  const fleet = await api("POST", "/projects", orgKey, { name: "fleet" });
  const devices: { device_id: string; device_key: string }[] = [];
  for (let i = 0; i < PROJECT_DEVICES; i++) devices.push(await newDevice(orgKey, fleet.project.id, `bench-fleet-${i}`));
  const t = performance.now();
  const fleetLoad = await measure(async () => {
    let next = 0;
    const worker = async () => {
      while (next < devices.length) {
        const i = next++;
        // Each device its own slice of the corpus, over the same 6 days.
        await ingest(devices[i]!.device_key, LINES_PER_DEVICE, origin + i * 1000, i * 997, () => {});
        if (i % 20 === 19) console.log(`  … ${i + 1} devices loaded (${elapsed()})`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENT }, worker));
  });
  const fleetSeconds = (performance.now() - t) / 1000;
  const fleetLines = PROJECT_DEVICES * LINES_PER_DEVICE;
  console.log(
    `\nProject of ${PROJECT_DEVICES} devices × ${LINES_PER_DEVICE.toLocaleString("en")} lines: loaded in ${fleetSeconds.toFixed(1)} s = ${(fleetLines / fleetSeconds).toFixed(0)} lines/s\n` +
      `  memory while ingesting: ${mib(fleetLoad.mem)}\n`,
  );
  const paths = await queryKinds(`project_id=${fleet.project.id}`, orgKey, mid, words, 50);

  // Calls per project-wide page, counted by replaying the merge against each device.
  console.log(
    `\n  device calls per project-wide page (the merge of page-merge.ts replayed here one device at a time; the server keeps ≤ 32 in flight):`,
  );
  const ids = devices.map((d) => d.device_id);
  for (const [name, path] of Object.entries(paths)) {
    const query = path
      .replace(`/logs?project_id=${fleet.project.id}`, "")
      .replace(/&limit=\d+/, "")
      .replace(/^&/, "");
    const limit = Number(/limit=(\d+)/.exec(path)?.[1] ?? 100);
    const cursor = /cursor=([^&]*)/.exec(query)?.[1];
    const after = cursor ? JSON.parse(Buffer.from(cursor, "base64url").toString()) : undefined;
    const c = await callsPerPage(query.replace(/&?cursor=[^&]*/, ""), ids, limit, orgKey, after);
    console.log(
      `    ${name.padEnd(52)} limit ${String(limit).padStart(4)}: ${c.calls} calls (first ${c.firstCalls} = ${Math.ceil(c.firstCalls / 32)} waves of ≤ 32, then ${c.calls - c.firstCalls} more in ${c.steps - 1} refill step(s)), ${c.rowsFetched} rows fetched for ${c.lines} returned`,
    );
  }
  console.log(`\nload average after: ${loadAverage()}; total ${elapsed()}`);
} finally {
  cdp.close();
  server.stop();
}
