// What benchmarks measure inside the objects. This entry is the app exactly as `npm start` runs
// it, plus routes only benchmarks reach, served by subclasses of the two objects:
//   - `POST /__bench/limit`: the ingest benchmark's "limit", what a device's object itself does
//     for a batch, with no HTTP and no Worker in front (a DeviceHub with one extra method);
//   - `GET /__bench/deliveries?project_id=`: how many deliveries a project's object has taken
//     from devices and from fan-in objects (a ProjectHub that counts them), and how many all
//     fan-in objects have taken (a FanIn that counts them), for bench/counter-path.ts;
//   - `POST /__bench/fan-in`: sets the fan-in tier's thresholds (src/contract/fan-in.ts), so
//     bench/counter-path.ts can run it at 1/100 scale;
//   - `POST /__bench/archive?device_id=`: moves all the lines of a device's log shard to the
//     archive now, as its alarm does past the hot window, and answers the objects' sizes
//     (bench/archive.ts).
// Benchmarks start it with `wrangler dev bench/limit-entry.ts`, which keeps wrangler.toml's
// bindings; `npm start` and `wrangler deploy` never see this file.
import { DeviceHub as AppDeviceHub } from "../durable-objects/device-hub/hub";
import { FanIn as AppFanIn } from "../durable-objects/fan-in/hub";
import type { LogArchive } from "../durable-objects/log-shard/archive";
import { LogShard as AppLogShard } from "../durable-objects/log-shard/shard";
import { ProjectHub as AppProjectHub } from "../durable-objects/project-hub/hub";
import { FAN_IN } from "../src/contract/fan-in";
import { type StoredLine, validateLines } from "../src/contract/log-line";
import { DELIVERY } from "../src/contract/usage";
import { createDb } from "../src/db/client";
import { listDeviceIdsOfProject } from "../src/db/repos/devices";
import { shardsInUse } from "../src/db/repos/log-shards";
import entry from "../src/index";
import { logShard, shardOfDevice } from "../src/stubs/log-shard";

// The live tail's viewer groups, as the app has them.
export { TailGroup } from "../src/index";

/** A ProjectHub that counts the deliveries it takes (in memory: the benchmark reads it live). */
export class ProjectHub extends AppProjectHub {
  private fromDevices = 0;
  private fromFanIn = 0;

  override async deliver(...args: Parameters<AppProjectHub["deliver"]>): ReturnType<AppProjectHub["deliver"]> {
    this.fromDevices++;
    return super.deliver(...args);
  }

  override async deliverFanIn(
    ...args: Parameters<AppProjectHub["deliverFanIn"]>
  ): ReturnType<AppProjectHub["deliverFanIn"]> {
    this.fromFanIn++;
    return super.deliverFanIn(...args);
  }

  async deliveriesTaken(): Promise<{ devices: number; fan_in: number }> {
    return { devices: this.fromDevices, fan_in: this.fromFanIn };
  }
}

/** Deliveries taken by every fan-in object of this isolate (they all run in it locally). */
let fanInTaken = 0;

/** A FanIn that counts the deliveries it takes. */
export class FanIn extends AppFanIn {
  override async deliver(...args: Parameters<AppFanIn["deliver"]>): ReturnType<AppFanIn["deliver"]> {
    fanInTaken++;
    return super.deliver(...args);
  }
}

/** Milliseconds for all the batches of one variant, each batch committed to disk. */
export interface LimitFigures {
  /** The object's own ingest step (`DeviceHub.ingest`, called in the object), then `storage.sync()`. */
  step: number;
  /** One multi-row INSERT per batch into a copy of the logs table without any index. */
  bare: number;
  /** The same into a copy with the hot store's four indexes. */
  indexed: number;
  /** Indexed, plus feeding an FTS5 index once per batch, as the hot store does. */
  fts: number;
}

/** A copy of the hot store's logs table (durable-objects/device-hub/schema.ts) under another name. */
const logsTable = (name: string) =>
  `CREATE TABLE IF NOT EXISTS ${name} (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, level INTEGER NOT NULL,
     module TEXT NOT NULL, logger TEXT, message TEXT NOT NULL, thread_id TEXT, process_id TEXT, session_id TEXT,
     context TEXT, received_at INTEGER NOT NULL);`;
/** Its four indexes. */
const logsIndexes = (name: string) =>
  ["ts, id", "level, ts", "module, ts", "session_id, ts"]
    .map((cols, i) => `CREATE INDEX IF NOT EXISTS ${name}_${i} ON ${name} (${cols});`)
    .join("\n");

const SCRATCH = [
  logsTable("bench_bare"),
  logsTable("bench_indexed"),
  logsIndexes("bench_indexed"),
  logsTable("bench_fts_rows"),
  logsIndexes("bench_fts_rows"),
  "CREATE VIRTUAL TABLE IF NOT EXISTS bench_fts USING fts5 (message, content = 'bench_fts_rows', content_rowid = 'id');",
].join("\n");

export class LogShard extends AppLogShard {
  /** Archives every line (the edge an hour ahead: hours go whole), and answers how long it took and what the objects hold. */
  async archiveAll(): Promise<{ ms: number; objects: number; lines: number; raw_bytes: number; gz_bytes: number }> {
    const archive = (this as unknown as { archive: LogArchive }).archive;
    const started = performance.now();
    while ((await archive.archive((Date.now() + 3_600_000) * 1000, 0, 10)) > 0);
    return { ms: performance.now() - started, ...archive.totals() };
  }
}

export class DeviceHub extends AppDeviceHub {
  /**
   * Runs `batches` (already validated, each stamped later than the last) through each variant,
   * timing only the work. The scratch tables live beside the device's own and are dropped after.
   */
  async limit(batches: StoredLine[][]): Promise<LimitFigures> {
    const sql = this.ctx.storage.sql;
    sql.exec(SCRATCH);
    const time = async (one: (lines: StoredLine[]) => unknown): Promise<number> => {
      const started = performance.now();
      for (const lines of batches) {
        await one(lines);
        await this.ctx.storage.sync();
      }
      return performance.now() - started;
    };
    const insertInto = (table: string, lines: StoredLine[]) => {
      const rows = JSON.stringify(
        lines.map((l) => [l.ts, l.level, l.module, l.logger, l.message, l.thread_id, l.process_id, l.context]),
      );
      return sql.exec(
        `INSERT INTO ${table} (ts, level, module, logger, message, thread_id, process_id, context, session_id, received_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, NULL, ?
         FROM json_each(?)`,
        Date.now(),
        rows,
      ).rowsWritten;
    };
    const figures: LimitFigures = {
      bare: await time((lines) => this.ctx.storage.transactionSync(() => insertInto("bench_bare", lines))),
      indexed: await time((lines) => this.ctx.storage.transactionSync(() => insertInto("bench_indexed", lines))),
      fts: await time((lines) =>
        this.ctx.storage.transactionSync(() => {
          insertInto("bench_fts_rows", lines);
          const first = sql.exec<{ id: number }>("SELECT last_insert_rowid() AS id").one().id - lines.length + 1;
          sql.exec(
            "INSERT INTO bench_fts (rowid, message) SELECT id, message FROM bench_fts_rows WHERE id >= ?",
            first,
          );
        }),
      ),
      step: await time((lines) => this.ingest({ lines, rejected: [] })),
    };
    sql.exec("DROP TABLE bench_fts; DROP TABLE bench_fts_rows; DROP TABLE bench_indexed; DROP TABLE bench_bare;");
    return figures;
  }
}

export default {
  ...entry,
  async fetch(req, env, ctx) {
    const url = new URL(req.url);
    if (url.pathname === "/__bench/deliveries") {
      const ns = env.PROJECT_HUB as unknown as DurableObjectNamespace<ProjectHub>;
      const project = await ns.get(ns.idFromName(url.searchParams.get("project_id") ?? "")).deliveriesTaken();
      return Response.json({ ...project, fan_in_objects: fanInTaken });
    }
    if (url.pathname === "/__bench/archive") {
      const deviceId = url.searchParams.get("device_id") ?? "";
      const row = await env.DB.prepare("SELECT project_id FROM devices WHERE id = ?")
        .bind(deviceId)
        .first<{ project_id: string }>();
      const shard = shardOfDevice(env, row?.project_id ?? "", deviceId) as unknown as DurableObjectStub<LogShard>;
      return Response.json(await shard.archiveAll());
    }
    if (url.pathname === "/__bench/fan-in") {
      Object.assign(FAN_IN, await req.json());
      return Response.json(FAN_IN);
    }
    if (url.pathname === "/__bench/delivery") {
      // How often devices hand their counts on (src/contract/usage.ts): the bench runs it faster than production.
      Object.assign(DELIVERY, await req.json());
      return Response.json(DELIVERY);
    }
    if (url.pathname === "/__bench/flush") {
      // Every device and log shard of the project sends what it owes now, as a stats read asks its recent ones to.
      const projectId = url.searchParams.get("project_id") ?? "";
      const db = createDb(env.DB);
      const ids = await listDeviceIdsOfProject(db, projectId, { limit: 10_000 });
      const ns = env.DEVICE_HUB as unknown as DurableObjectNamespace<DeviceHub>;
      await Promise.all(ids.map((id) => ns.get(ns.idFromName(id)).sendCounts()));
      const shards = await shardsInUse(db, projectId);
      await Promise.all(shards.map((i) => logShard(env, projectId, i).flush()));
      return Response.json({ devices: ids.length, shards: shards.length });
    }
    if (req.method !== "POST" || url.pathname !== "/__bench/limit") return entry.fetch(req, env, ctx);
    // { device_id, logs: contract lines, batches, spacing_us }: the lines are validated here, once,
    // then stamped `spacing_us` apart from batch to batch, so no batch lands between earlier ones.
    const { device_id, logs, batches, spacing_us } = (await req.json()) as {
      device_id: string;
      logs: unknown[];
      batches: number;
      spacing_us: number;
    };
    const now = Date.now() * 1000;
    const { lines } = validateLines(logs, now, 0);
    const stamped = Array.from({ length: batches }, (_, b) => lines.map((l) => ({ ...l, ts: l.ts + b * spacing_us })));
    const ns = env.DEVICE_HUB as unknown as DurableObjectNamespace<DeviceHub>;
    return Response.json(await ns.get(ns.idFromName(device_id)).limit(stamped));
  },
} satisfies ExportedHandler<Env>;
