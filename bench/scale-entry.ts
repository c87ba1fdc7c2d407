// What `npm run bench:scale` (bench/scale.ts) counts inside the app. This entry is the app
// exactly as `npm start` runs it, with every binding wrapped so that each use is counted, in the
// Worker and in every Durable Object (each class is subclassed only to hand its constructor the
// wrapped bindings and to count the WebSocket messages and alarms it takes):
//   - D1: every statement, and the `meta.rows_written` of every result (a write through `raw()`
//     or `first()`, which answer no meta, is run through `run()` instead), split by table;
//   - Durable Objects: every stub call (RPC or fetch) by the object it reaches, plus the
//     WebSocket messages and alarms each object takes: requests per object, with the busiest
//     second of each;
//   - R2 operations (archive writes under `logs/` apart), queue sends;
//   - lines shipped to viewer groups (`TailGroup.offer`), by the device whose lines they are.
// Counts go to the isolate's totals (everything runs in one isolate under `wrangler dev`) and,
// for a request carrying `x-bench-scope: <id>`, a cron run or a queue invocation, to a scope of
// its own as well: the calls that one request made. Routes only the benchmark reaches:
//   - `GET /__bench/stats`: the totals;
//   - `GET /__bench/scope?id=`: one request's scope (read it after its body is consumed);
//   - `POST /__bench/scheduled?cron=`: runs the cron handler now, as the trigger would;
//   - `GET /__bench/queue`: each queue-consumer invocation so far, with its counts;
//   - `POST /__bench/flush?project_id=`: every device and log shard of the project sends what it owes now;
//   - `POST /__bench/archive?project_id=`: every shard of the project moves all its lines to the archive now;
//   - `GET /__bench/archive-stats`: the R2 archive objects, read back: objects, lines, device-hours.
// `wrangler dev bench/scale-entry.ts` keeps wrangler.toml's bindings; `npm start` and
// `wrangler deploy` never see this file.

import type { z } from "zod";
import { DeviceHub as AppDeviceHub } from "../durable-objects/device-hub/hub";
import { FanIn as AppFanIn } from "../durable-objects/fan-in/hub";
import type { LogArchive } from "../durable-objects/log-shard/archive";
import { LogShard as AppLogShard } from "../durable-objects/log-shard/shard";
import { ProjectHub as AppProjectHub } from "../durable-objects/project-hub/hub";
import { TailGroup as AppTailGroup } from "../durable-objects/tail-group/hub";
import type { GenerateCapsule, Register } from "../src/contract/fleet";
import { shardOf } from "../src/contract/log-shards";
import { createDb } from "../src/db/client";
import { listDeviceIdsOfProject } from "../src/db/repos/devices";
import { shardsInUse } from "../src/db/repos/log-shards";
import entry from "../src/index";
import { issueToken, registerDevice } from "../src/services/registration";
import { logShard } from "../src/stubs/log-shard";

/** What one scope counted. */
interface Scope {
  d1_queries: number;
  d1_rows_written: number;
  d1_rows_by_table: Record<string, number>;
  /** Stub calls, by binding. */
  object_calls: Record<string, number>;
  /** Stub calls, by binding and method. */
  object_methods: Record<string, number>;
  /** The `limit` of each LogShard.query, and the rows the shards answered. */
  shard_query_limits: number[];
  shard_rows: number;
  /** Calls to each log shard. */
  shards_called: Record<string, number>;
  r2_ops: Record<string, number>;
  r2_archive_puts: number;
  queue_sends: number;
  /** Lines offered to viewer groups, by the device whose lines they are. */
  tail_lines: Record<string, number>;
  tail_calls: number;
}

const newScope = (): Scope => ({
  d1_queries: 0,
  d1_rows_written: 0,
  d1_rows_by_table: {},
  object_calls: {},
  object_methods: {},
  shard_query_limits: [],
  shard_rows: 0,
  shards_called: {},
  r2_ops: {},
  r2_archive_puts: 0,
  queue_sends: 0,
  tail_lines: {},
  tail_calls: 0,
});

/** Subrequests a scope made: object calls, R2 operations and queue sends (D1 queries are counted apart). */
const subrequests = (s: Scope) =>
  Object.values(s.object_calls).reduce((a, b) => a + b, 0) +
  Object.values(s.r2_ops).reduce((a, b) => a + b, 0) +
  s.queue_sends;

const totals = newScope();
/** Requests each object took: stub calls to it, WebSocket messages, alarms; with its busiest second. */
const objects = new Map<
  string,
  { n: number; sec: number; cur: number; peak: number; methods?: Record<string, number> }
>();
/** Object names by id, as idFromName made them. */
const names = new Map<string, string>();
const scopes = new Map<string, Scope>();
const queueRuns: Array<
  Scope & {
    messages: number;
    projects: number;
    types: Record<string, number>;
    ms: number;
    subrequests: number;
    failed?: string;
  }
> = [];

const add = (rec: Record<string, number>, key: string, n = 1) => void (rec[key] = (rec[key] ?? 0) + n);

function hit(binding: string, id: DurableObjectId, what?: string) {
  // Stub calls are counted by method where they are made (every scope); socket messages and alarms here.
  if (what?.startsWith("(")) add(totals.object_methods, `${binding}.${what}`);
  const hex = id.toString();
  const key = `${binding}:${names.get(hex) ?? hex}`;
  const sec = Math.floor(Date.now() / 1000);
  let o = objects.get(key);
  if (!o) objects.set(key, (o = { n: 0, sec, cur: 0, peak: 0 }));
  o.n++;
  // By method too, for the objects a project shares (a device's own object is one device's load).
  if (binding !== "DEVICE_HUB") add((o.methods ??= {}), what ?? "?");
  if (o.sec !== sec) {
    o.sec = sec;
    o.cur = 0;
  }
  o.cur++;
  if (o.cur > o.peak) o.peak = o.cur;
}

const WRITE =
  /^\s*(?:insert(?:\s+or\s+\w+)?\s+into|update(?:\s+or\s+\w+)?|delete\s+from|replace\s+into)\s+["`[]?([A-Za-z_][\w]*)/i;

/** Counts one D1 result (or a statement without meta) into every scope. */
function d1Counted(scopesHere: Scope[], sql: string, meta: { rows_written?: number } | undefined) {
  const table = WRITE.exec(sql)?.[1] ?? "(read)";
  for (const s of scopesHere) {
    s.d1_queries++;
    const w = meta?.rows_written ?? 0;
    s.d1_rows_written += w;
    if (w) add(s.d1_rows_by_table, table, w);
  }
}

const realStatement = new WeakMap<object, D1PreparedStatement>();
/** The SQL of each wrapped statement, for batches. */
const sqlOf = new WeakMap<object, string>();

function wrapStatement(stmt: D1PreparedStatement, sql: string, sc: Scope[]): D1PreparedStatement {
  const isWrite = WRITE.test(sql);
  const wrapped = {
    bind: (...values: unknown[]) => wrapStatement(stmt.bind(...values), sql, sc),
    async run() {
      const r = await stmt.run();
      d1Counted(sc, sql, r.meta);
      return r;
    },
    async all() {
      const r = await stmt.all();
      d1Counted(sc, sql, r.meta);
      return r;
    },
    async first(column?: string) {
      if (!isWrite) {
        d1Counted(sc, sql, undefined);
        return column === undefined ? stmt.first() : stmt.first(column);
      }
      const r = await stmt.run<Record<string, unknown>>();
      d1Counted(sc, sql, r.meta);
      const row = r.results?.[0];
      return row === undefined ? null : column === undefined ? row : row[column];
    },
    async raw(options?: { columnNames?: boolean }) {
      if (!isWrite) {
        d1Counted(sc, sql, undefined);
        return options?.columnNames ? stmt.raw({ columnNames: true }) : stmt.raw();
      }
      const r = await stmt.run<Record<string, unknown>>();
      d1Counted(sc, sql, r.meta);
      const rows = (r.results ?? []).map((row) => Object.values(row));
      return options?.columnNames ? [Object.keys(r.results?.[0] ?? {}), ...rows] : rows;
    },
  };
  realStatement.set(wrapped, stmt);
  sqlOf.set(wrapped, sql);
  return wrapped as unknown as D1PreparedStatement;
}

function wrapD1(db: D1Database, sc: Scope[]): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrapStatement(target.prepare(sql), sql, sc);
      if (prop === "batch")
        return async (stmts: D1PreparedStatement[]) => {
          const results = await target.batch(stmts.map((s) => realStatement.get(s) ?? s));
          for (const [i, r] of results.entries()) d1Counted(sc, sqlOf.get(stmts[i]!) ?? "", r.meta);
          return results;
        };
      if (prop === "exec")
        return async (sql: string) => {
          const r = await target.exec(sql);
          for (const s of sc) s.d1_queries += r.count;
          return r;
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

function wrapNamespace(binding: string, ns: DurableObjectNamespace, sc: Scope[]): DurableObjectNamespace {
  const stubOf = (stub: object, id: DurableObjectId) =>
    new Proxy(stub, {
      get(s, m) {
        const f = Reflect.get(s, m, s) as unknown;
        if (typeof f !== "function" || m === "then") return f;
        return (...a: unknown[]) => {
          hit(binding, id, String(m));
          for (const x of sc) {
            add(x.object_calls, binding);
            add(x.object_methods, `${binding}.${String(m)}`);
          }
          if (binding === "TAIL_GROUP" && m === "offer") {
            const lines = (a[0] ?? []) as Array<{ device_id?: string }>;
            for (const x of sc) {
              x.tail_calls++;
              for (const l of lines) add(x.tail_lines, l.device_id ?? String(a[2] ?? "?"));
            }
          }
          // An RPC method's own `apply` would be another RPC call: call it as it is.
          const out = Reflect.apply(f as (...x: unknown[]) => unknown, s, a);
          if (binding === "LOG_SHARD" && m === "query") {
            for (const x of sc) if (x !== totals) add(x.shards_called, names.get(id.toString()) ?? id.toString());
            for (const x of sc) if (x !== totals) x.shard_query_limits.push((a[0] as { limit?: number })?.limit ?? 0);
            return Promise.resolve(out).then((r) => {
              const rows = (r as { rows?: unknown[] })?.rows?.length ?? 0;
              for (const x of sc) x.shard_rows += rows;
              return r;
            });
          }
          return out;
        };
      },
    });
  return new Proxy(ns, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== "function") return v;
      if (prop === "idFromName")
        return (name: string) => {
          const id = target.idFromName(name);
          names.set(id.toString(), name);
          return id;
        };
      if (prop === "get")
        return (id: DurableObjectId, opts?: DurableObjectNamespaceGetDurableObjectOptions) =>
          stubOf(target.get(id, opts), id);
      if (prop === "getByName")
        return (name: string, opts?: DurableObjectNamespaceGetDurableObjectOptions) => {
          const id = target.idFromName(name);
          names.set(id.toString(), name);
          return stubOf(target.get(id, opts), id);
        };
      return v.bind(target);
    },
  });
}

function wrapR2(r2: R2Bucket, sc: Scope[]): R2Bucket {
  return new Proxy(r2, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== "function") return v;
      return (...a: unknown[]) => {
        for (const s of sc) {
          add(s.r2_ops, String(prop));
          if ((prop === "put" || prop === "createMultipartUpload") && String(a[0]).startsWith("logs/"))
            s.r2_archive_puts++;
        }
        return Reflect.apply(v as (...x: unknown[]) => unknown, target, a);
      };
    },
  });
}

function wrapQueue(q: Queue, sc: Scope[]): Queue {
  return new Proxy(q, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== "function") return v;
      return (...a: unknown[]) => {
        const n = prop === "sendBatch" ? ((a[0] as unknown[]) ?? []).length : 1;
        for (const s of sc) s.queue_sends += n;
        return Reflect.apply(v as (...x: unknown[]) => unknown, target, a);
      };
    },
  });
}

const NAMESPACES = ["DEVICE_HUB", "PROJECT_HUB", "FAN_IN", "LOG_SHARD", "TAIL_GROUP"] as const;

/** `env` with every binding counted into the totals and `scope` (when given). */
function counted(env: Env, scope?: Scope): Env {
  const sc = scope ? [totals, scope] : [totals];
  const over: Record<string, unknown> = {
    DB: wrapD1(env.DB, sc),
    STORAGE: wrapR2(env.STORAGE, sc),
    JOBS: wrapQueue(env.JOBS, sc),
  };
  for (const b of NAMESPACES) over[b] = wrapNamespace(b, env[b] as unknown as DurableObjectNamespace, sc);
  return new Proxy(env, { get: (t, p) => (typeof p === "string" && p in over ? over[p] : Reflect.get(t, p)) });
}

/** The isolate's own counted bindings: one object per binding, so the app's per-binding caches (drizzle) hold. */
let shared: { env: Env; counted: Env } | undefined;
const countedShared = (env: Env) => {
  if (shared?.env !== env) shared = { env, counted: counted(env) };
  return shared.counted;
};

/** D1 use by each object (its own scope), so D1's writes can be put down to projects. */
const objectScopes = new Map<string, Scope>();
/** Objects constructed, by class: an object evicted while idle is constructed again when next called. */
const constructed: Record<string, number> = {};
/** `env` counted into the totals and into the scope of the object `ctx` is for. */
function countedFor(binding: string, ctx: DurableObjectState, env: Env): Env {
  add(constructed, binding);
  const hex = ctx.id.toString();
  const key = `${binding}:${names.get(hex) ?? (ctx.id as { name?: string }).name ?? hex}`;
  let scope = objectScopes.get(key);
  if (!scope) objectScopes.set(key, (scope = newScope()));
  return counted(env, scope);
}

export class DeviceHub extends AppDeviceHub {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, countedFor("DEVICE_HUB", ctx, env));
  }
  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    hit("DEVICE_HUB", this.ctx.id, "(socket message)");
    return super.webSocketMessage(ws, message);
  }
  override async alarm(): Promise<void> {
    hit("DEVICE_HUB", this.ctx.id, "(alarm)");
    return super.alarm();
  }
}

export class ProjectHub extends AppProjectHub {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, countedFor("PROJECT_HUB", ctx, env));
  }
  override async webSocketMessage(ws: WebSocket): Promise<void> {
    hit("PROJECT_HUB", this.ctx.id, "(socket message)");
    return super.webSocketMessage(ws);
  }
  override async alarm(): Promise<void> {
    hit("PROJECT_HUB", this.ctx.id, "(alarm)");
    return super.alarm();
  }
}

export class FanIn extends AppFanIn {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, countedFor("FAN_IN", ctx, env));
  }
  override async alarm(): Promise<void> {
    hit("FAN_IN", this.ctx.id, "(alarm)");
    return super.alarm();
  }
}

export class TailGroup extends AppTailGroup {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, countedFor("TAIL_GROUP", ctx, env));
  }
  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    hit("TAIL_GROUP", this.ctx.id, "(socket message)");
    return super.webSocketMessage(ws, message);
  }
  override async alarm(): Promise<void> {
    hit("TAIL_GROUP", this.ctx.id, "(alarm)");
    return super.alarm();
  }
}

export class LogShard extends AppLogShard {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, countedFor("LOG_SHARD", ctx, env));
  }
  override async alarm(): Promise<void> {
    hit("LOG_SHARD", this.ctx.id, "(alarm)");
    return super.alarm();
  }
  /** Archives every line (the edge an hour ahead: hours go whole), as bench/limit-entry.ts does. */
  async archiveAll(): Promise<{ objects: number; lines: number }> {
    const archive = (this as unknown as { archive: LogArchive }).archive;
    while ((await archive.archive((Date.now() + 3_600_000) * 1000, 0, 10)) > 0);
    const t = archive.totals();
    return { objects: t.objects, lines: t.lines };
  }
}

/** The archive objects in R2, read back: how many, their lines, and the device-hours those lines fall in. */
async function archiveStats(r2: R2Bucket) {
  let cursor: string | undefined;
  let objectCount = 0;
  let lines = 0;
  const deviceHours = new Set<string>();
  const perShardHour = new Map<string, number>();
  do {
    const page = await r2.list({ prefix: "logs/", ...(cursor ? { cursor } : {}) });
    for (const o of page.objects) {
      objectCount++;
      const body = await r2.get(o.key);
      if (!body) continue;
      const text = await new Response(body.body.pipeThrough(new DecompressionStream("gzip"))).text();
      for (const row of text.split("\n")) {
        if (!row) continue;
        const r = JSON.parse(row) as { device_id: string; ts: number };
        lines++;
        deviceHours.add(`${r.device_id}/${Math.floor(r.ts / 3_600_000_000)}`);
      }
      const shardHour = o.key.replace(/-\d+\.ndjson\.gz$/, "");
      perShardHour.set(shardHour, (perShardHour.get(shardHour) ?? 0) + 1);
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return { objects: objectCount, lines, device_hours: deviceHours.size, shard_hours: perShardHour.size };
}

export default {
  async fetch(req, env, ctx) {
    const url = new URL(req.url);
    const p = url.pathname;
    if (p === "/__bench/stats") {
      const objs: Record<string, [number, number]> = {};
      const methods: Record<string, Record<string, number>> = {};
      for (const [k, o] of objects) {
        objs[k] = [o.n, o.peak];
        if (o.methods) methods[k] = o.methods;
      }
      const d1: Record<string, [number, number]> = {};
      for (const [k, sc] of objectScopes) if (sc.d1_queries) d1[k] = [sc.d1_queries, sc.d1_rows_written];
      return Response.json({
        at: Date.now(),
        totals,
        objects: objs,
        methods,
        constructed,
        d1_by_object: d1,
        scopes: scopes.size,
      });
    }
    if (p === "/__bench/scope") {
      const s = scopes.get(url.searchParams.get("id") ?? "");
      return s
        ? Response.json({ ...s, subrequests: subrequests(s) })
        : Response.json({ error: "no such scope" }, { status: 404 });
    }
    if (p === "/__bench/queue") return Response.json(queueRuns);
    if (p === "/__bench/scheduled") {
      const scope = newScope();
      const cron = url.searchParams.get("cron") ?? "";
      await entry.scheduled(
        { cron, scheduledTime: Date.now(), noRetry() {} } as ScheduledController,
        counted(env, scope),
      );
      return Response.json({ ...scope, subrequests: subrequests(scope) });
    }
    if (p === "/__bench/flush") {
      const projectId = url.searchParams.get("project_id") ?? "";
      const e = countedShared(env);
      const db = createDb(e.DB);
      const ids = await listDeviceIdsOfProject(db, projectId, { limit: 10_000 });
      const ns = e.DEVICE_HUB as unknown as DurableObjectNamespace<DeviceHub>;
      for (let i = 0; i < ids.length; i += 50)
        await Promise.all(ids.slice(i, i + 50).map((id) => ns.get(ns.idFromName(id)).sendCounts()));
      const shards = await shardsInUse(db, projectId);
      await Promise.all(shards.map((i) => logShard(e, projectId, i).flush()));
      return Response.json({ devices: ids.length, shards: shards.length });
    }
    if (p === "/__bench/archive") {
      const projectId = url.searchParams.get("project_id") ?? "";
      const e = countedShared(env);
      const shards = await shardsInUse(createDb(e.DB), projectId);
      const done = await Promise.all(
        shards.map((i) => (logShard(e, projectId, i) as unknown as DurableObjectStub<LogShard>).archiveAll()),
      );
      return Response.json({
        shards: shards.length,
        objects: done.reduce((n, d) => n + d.objects, 0),
        lines: done.reduce((n, d) => n + d.lines, 0),
      });
    }
    if (p === "/__bench/archive-stats") return Response.json(await archiveStats(env.STORAGE));
    if (p === "/__bench/shard-of") {
      const ids = (await req.json()) as string[];
      return Response.json(Object.fromEntries(ids.map((id) => [id, shardOf(id)])));
    }
    if (p === "/__bench/register") {
      // The registration fast path: what POST /capsules/generate and POST /fleet/register do for
      // each device (the same service functions: a token, then a registration with it: the same
      // D1 rows and DeviceHub provisioning), in-process, without HTTP, auth or API records.
      const { project_id, devices } = (await req.json()) as {
        project_id: string;
        devices: Array<{ dsn: string; name: string; device_type: string; sample: string }>;
      };
      const e = countedShared(env);
      const db = createDb(e.DB);
      const project = await e.DB.prepare("SELECT org_id FROM projects WHERE id = ?")
        .bind(project_id)
        .first<{ org_id: string }>();
      if (!project) return Response.json({ error: "no such project" }, { status: 404 });
      const out: unknown[] = new Array(devices.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < devices.length) {
            const i = next++;
            const d = devices[i]!;
            const capsule = {
              project_id,
              device_type: d.device_type,
              environment: "testing",
              name: d.name,
              dsn: d.dsn,
              expires_in_s: 86_400,
            } as z.output<typeof GenerateCapsule>;
            const { secret } = await issueToken(db, project.org_id, project_id, capsule);
            const body = {
              dsn: d.dsn,
              registration_token: secret,
              name: d.name,
              device_type: d.device_type,
              environment: "testing",
              device_info: { simulated: true, sample: d.sample },
            } as z.output<typeof Register>;
            out[i] = (await registerDevice(e, db, body)).answer;
          }
        }),
      );
      return Response.json(out);
    }
    const id = req.headers.get("x-bench-scope");
    if (id) {
      const scope = newScope();
      scopes.set(id, scope);
      return entry.fetch(req, counted(env, scope), ctx);
    }
    return entry.fetch(req, countedShared(env), ctx);
  },
  async scheduled(controller, env) {
    await entry.scheduled(controller, countedShared(env));
  },
  async queue(batch, env) {
    const scope = newScope();
    const started = Date.now();
    const types: Record<string, number> = {};
    let projects = 0;
    for (const m of batch.messages) {
      const body = m.body as { type?: string; projects?: unknown[] };
      add(types, String(body?.type ?? "?"));
      projects += Array.isArray(body?.projects) ? body.projects.length : 0;
    }
    const run = Object.assign(scope, {
      messages: batch.messages.length,
      projects,
      types,
      ms: 0,
      subrequests: 0,
    }) as (typeof queueRuns)[number];
    queueRuns.push(run);
    try {
      await entry.queue(batch, counted(env, scope));
    } catch (err) {
      run.failed = String(err);
      throw err;
    } finally {
      run.ms = Date.now() - started;
      run.subrequests = subrequests(scope);
    }
  },
} satisfies ExportedHandler<Env>;
