// PostgreSQL reference row for the ingest benchmark: lines/s that a plain PostgreSQL table with
// the usual indexes (device and time, level, module, a GIN full-text index) takes from multi-row
// INSERTs of the same Loghub lines, at 100- and 1,000-line batches, over 1 connection and over 4
// (one device each). The cluster is a throwaway one in a temporary folder, on a Unix socket only,
// with PostgreSQL's default settings (fsync and synchronous_commit on; each INSERT commits);
// run on its own it also prints the same rows with synchronous_commit off. Where no PostgreSQL
// binaries are found it says so and exits 0, so callers may treat the row as optional.
//
//   npm run bench:postgres     (PG_BENCH_LINES lines per row, default 60,000; PG_BIN to pick the bin folder)
//
// bench/ingest.ts can print the row in its own run: `await postgresReference(lines)` returns
// null when PostgreSQL is absent, else the figures (and prints nothing itself).
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import postgres from "postgres";
import { DATASETS, loadLoghub } from "../agent/samples/loghub.ts";
import type { SampleLine } from "../agent/samples/sample-line.ts";
import { cpuSeconds, loadAverage } from "./procs.ts";

const SCHEMA = `
CREATE TABLE session_logs (id BIGSERIAL PRIMARY KEY, session_id INT, device_id INT NOT NULL,
  timestamp TIMESTAMPTZ NOT NULL, level TEXT NOT NULL, module_name TEXT NOT NULL,
  logger_name TEXT, message TEXT NOT NULL, context JSONB,
  message_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', message)) STORED);
CREATE INDEX ON session_logs (device_id, timestamp);
CREATE INDEX ON session_logs (level);
CREATE INDEX ON session_logs (module_name);
CREATE INDEX ON session_logs USING GIN (message_tsv);
`;

const COLUMNS = [
  "session_id",
  "device_id",
  "timestamp",
  "level",
  "module_name",
  "logger_name",
  "message",
  "context",
] as const;
type Row = Record<(typeof COLUMNS)[number], string | number | null>;

/** A line as the contract's POST /logs/ingest takes it, with an ISO timestamp. */
interface ContractLine {
  timestamp: string;
  level: string;
  module: string;
  logger: string;
  message: string;
  context: Record<string, string>;
}

export interface PostgresOptions {
  /** Lines inserted per row (batch size × connections), split evenly over the connections. */
  lines?: number;
  /** A row stops early after this long. */
  seconds?: number;
  batches?: readonly number[];
  connections?: readonly number[];
  /** The folder holding initdb and pg_ctl; found under /usr/lib/postgresql otherwise. */
  bin?: string;
  /** Unix socket "port" (only names the socket file; nothing listens on TCP). */
  port?: number;
  /** false to commit without waiting for the WAL flush (synchronous_commit = off). Default true. */
  synchronousCommit?: boolean;
}

export interface PostgresRow {
  batch: number;
  connections: number;
  lines: number;
  seconds: number;
  linesPerSecond: number;
  /** CPU of this Node process (the load generator) over the row, in % of one core. */
  clientCpu: number;
  /** CPU of the cluster's processes over the row, in % of one core; null if /proc was unreadable. */
  serverCpu: number | null;
}

export interface PostgresReference {
  version: string;
  synchronousCommit: boolean;
  rows: PostgresRow[];
}

/** The newest Debian-style PostgreSQL bin folder, or null. */
function findPostgresBin(): string | null {
  const candidates = process.env.PG_BIN
    ? [process.env.PG_BIN]
    : existsSync("/usr/lib/postgresql")
      ? readdirSync("/usr/lib/postgresql")
          .filter((v) => /^\d+$/.test(v))
          .sort((a, b) => Number(b) - Number(a))
          .map((v) => `/usr/lib/postgresql/${v}/bin`)
      : [];
  return candidates.find((dir) => existsSync(path.join(dir, "initdb")) && existsSync(path.join(dir, "pg_ctl"))) ?? null;
}

/** Loghub lines as the contract's lines: recent ISO timestamps (µs apart), a logger, the sample's context. */
function contractLines(samples: readonly SampleLine[], count: number, startMs = Date.now()): ContractLine[] {
  return Array.from({ length: count }, (_, i) => {
    const s = samples[i % samples.length]!;
    const us = startMs * 1000 + i;
    const iso = new Date(Math.floor(us / 1000)).toISOString();
    return {
      timestamp: `${iso.slice(0, 23)}${String(us % 1000).padStart(3, "0")}Z`,
      level: s.level,
      module: s.module,
      logger: `loghub.${s.context.dataset ?? "sample"}`,
      message: s.message,
      // The table has no thread column; the thread rides in the context, as its bytes do in the hot store.
      context: s.thread_id === undefined ? s.context : { ...s.context, thread_id: s.thread_id },
    };
  });
}

function toRow(line: ContractLine, deviceId: number): Row {
  return {
    session_id: deviceId,
    device_id: deviceId,
    timestamp: line.timestamp,
    level: line.level,
    module_name: line.module,
    logger_name: line.logger,
    message: line.message,
    context: JSON.stringify(line.context),
  };
}

/** A started throwaway cluster: its socket folder, and how to stop it and delete everything. */
interface Cluster {
  socketDir: string;
  port: number;
  dataDir: string;
  stop(): void;
}

function startCluster(bin: string, port: number): Cluster {
  const root = mkdtempSync(path.join(tmpdir(), "fleetbeat-pg-"));
  const dataDir = path.join(root, "data");
  // initdb refuses root: as root, the cluster runs as the postgres user Debian's package creates.
  let asUser: string[] = [];
  if (process.getuid?.() === 0) {
    const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
    const [uid, gid] = [id("-u"), id("-g")];
    if (!Number.isInteger(uid) || uid <= 0) {
      rmSync(root, { recursive: true, force: true });
      throw new Error("running as root and there is no postgres user to run the cluster as");
    }
    chownSync(root, uid, gid);
    asUser = ["runuser", "-u", "postgres", "--"];
  }
  const run = (exe: string, args: string[]) => {
    const [cmd, ...rest] = [...asUser, path.join(bin, exe), ...args];
    const r = spawnSync(cmd!, rest, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${exe} failed: ${r.stderr || r.stdout}`);
  };
  // pg_ctl detaches the server from the terminal, so an interrupted run stops it here.
  const onSignal = (signal: NodeJS.Signals) => {
    stop();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  const stop = () => {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
    try {
      if (existsSync(path.join(dataDir, "postmaster.pid"))) run("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "stop"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  try {
    run("initdb", ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
    const conf = path.join(dataDir, "postgresql.conf");
    writeFileSync(
      conf,
      `${readFileSync(conf, "utf8")}\nlisten_addresses = ''\nunix_socket_directories = '${root}'\nport = ${port}\n`,
    );
    run("pg_ctl", ["-D", dataDir, "-l", path.join(root, "server.log"), "-w", "start"]);
  } catch (e) {
    stop();
    throw e;
  }
  return { socketDir: root, port, dataDir, stop };
}

/** CPU seconds used so far by the postmaster and its children (backends, writers). */
function clusterCpuSeconds(dataDir: string): number | null {
  try {
    return cpuSeconds(Number(readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]));
  } catch {
    return null;
  }
}

function connect(cluster: Cluster, synchronousCommit = true) {
  return postgres({
    host: cluster.socketDir,
    port: cluster.port,
    user: "postgres",
    database: "postgres",
    max: 1,
    onnotice: () => {},
    connection: { synchronous_commit: synchronousCommit ? "on" : "off" },
  });
}

async function measureRow(
  cluster: Cluster,
  lines: readonly ContractLine[],
  batch: number,
  connections: number,
  seconds: number,
  firstDevice: number,
  synchronousCommit: boolean,
) {
  const clients = Array.from({ length: connections }, () => connect(cluster, synchronousCommit));
  try {
    const perConnection = Math.floor(lines.length / connections / batch) * batch;
    if (perConnection === 0)
      throw new Error(`${lines.length} lines do not fill one ${batch}-line batch per connection`);
    // Every connection sends its own device's lines; rows are built before the clock starts, as ingest.ts builds its bodies.
    const work = clients.map((_, c) => {
      const rows = lines.slice(c * perConnection, (c + 1) * perConnection).map((l) => toRow(l, firstDevice + c));
      return Array.from({ length: perConnection / batch }, (_, b) => rows.slice(b * batch, (b + 1) * batch));
    });
    const insert = (sql: postgres.Sql, rows: Row[]) => sql`INSERT INTO session_logs ${sql(rows, ...COLUMNS)}`;
    // Warm-up: connect, prepare the statement, then start from an empty table.
    await Promise.all(clients.map((sql, c) => insert(sql, work[c]![0]!)));
    await clients[0]!`TRUNCATE session_logs`;
    await clients[0]!`CHECKPOINT`;

    const serverBefore = clusterCpuSeconds(cluster.dataDir);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const sent = await Promise.all(
      clients.map(async (sql, c) => {
        let n = 0;
        for (const rows of work[c]!) {
          if (performance.now() > deadline) break;
          await insert(sql, rows);
          n += rows.length;
        }
        return n;
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const serverAfter = clusterCpuSeconds(cluster.dataDir);
    const [{ count }] = await clients[0]!<[{ count: string }]>`SELECT count(*) FROM session_logs`;
    const total = sent.reduce((a, b) => a + b, 0);
    if (Number(count) !== total) throw new Error(`sent ${total} lines, table holds ${count}`);
    return {
      batch,
      connections,
      lines: total,
      seconds: elapsed,
      linesPerSecond: total / elapsed,
      clientCpu: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100,
      serverCpu: serverBefore === null || serverAfter === null ? null : ((serverAfter - serverBefore) / elapsed) * 100,
    };
  } finally {
    await Promise.all(clients.map((sql) => sql.end({ timeout: 5 })));
  }
}

/**
 * Starts a throwaway cluster, measures each batch size × connection count on the given lines,
 * stops the cluster and deletes its folder. Null when no PostgreSQL binaries are installed.
 */
export async function postgresReference(
  samples: readonly SampleLine[],
  opts: PostgresOptions = {},
): Promise<PostgresReference | null> {
  const bin = opts.bin ?? findPostgresBin();
  if (!bin) return null;
  const lines = contractLines(samples, opts.lines ?? 60_000);
  const cluster = startCluster(bin, opts.port ?? 8870);
  try {
    const admin = connect(cluster);
    let version: string;
    try {
      [{ version }] = await admin<[{ version: string }]>`SELECT version()`;
      await admin.unsafe(SCHEMA);
    } finally {
      await admin.end({ timeout: 5 });
    }
    const synchronousCommit = opts.synchronousCommit ?? true;
    const rows: PostgresRow[] = [];
    let device = 1;
    for (const batch of opts.batches ?? [100, 1000]) {
      for (const connections of opts.connections ?? [1, 4]) {
        rows.push(await measureRow(cluster, lines, batch, connections, opts.seconds ?? 60, device, synchronousCommit));
        device += connections;
      }
    }
    return { version, synchronousCommit, rows };
  } finally {
    cluster.stop();
  }
}

/** Rows as a table in the style of bench/ingest.ts; "commit" says whether each INSERT waited for its WAL flush. */
export function formatPostgresReference(...refs: PostgresReference[]): string {
  const out = ["batch   connections   commit     lines   lines/s   client CPU   server CPU"];
  for (const ref of refs) {
    for (const r of ref.rows) {
      out.push(
        `${String(r.batch).padStart(5)} ${String(r.connections).padStart(13)}   ${(ref.synchronousCommit ? "flushed" : "async").padEnd(7)} ${String(r.lines).padStart(7)} ${r.linesPerSecond.toFixed(0).padStart(9)} ${`${r.clientCpu.toFixed(0)}%`.padStart(12)} ${(r.serverCpu === null ? "n/a" : `${r.serverCpu.toFixed(0)}%`).padStart(12)}`,
      );
    }
  }
  return out.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const samples = DATASETS.flatMap((d) => loadLoghub(d));
  const lines = Number(process.env.PG_BENCH_LINES ?? 60_000);
  const load = loadAverage();
  const durable = await postgresReference(samples, { lines });
  if (!durable) {
    console.log(
      `PostgreSQL reference: skipped, no PostgreSQL binaries (initdb, pg_ctl) in ${process.env.PG_BIN ?? "/usr/lib/postgresql/*/bin; set PG_BIN to use others"}.`,
    );
  } else {
    // The same rows without waiting for each commit's WAL flush: how much of the figure is the disk.
    const async = (await postgresReference(samples, { lines, synchronousCommit: false }))!;
    console.log(`PostgreSQL reference: ${durable.version}`);
    console.log(
      `throwaway cluster on a Unix socket, default settings, multi-row INSERTs of ${samples.length} Loghub lines, each INSERT its own transaction`,
    );
    console.log(
      `load average before the run: ${load} (${availableParallelism()} cores); lines/s summed over the connections; CPU in % of one core, client = this Node process\n`,
    );
    console.log(formatPostgresReference(durable, async));
  }
}
