// What Cloudflare bills, counted inside workerd (bench/meter-entry.ts for `wrangler dev`, and
// bench/cost-lifetime.workers.ts in the workers test pool). It patches, once per isolate, the
// prototypes every object and the Worker reach storage through, so it needs nothing of the
// project's own code and counts the code before the cost work (a checkout of fb6c2ad) the same
// way as today's:
//   - object storage: SqlStorage.exec (cursor.rowsWritten is final when exec returns: SQLite
//     makes every change of a statement in its first step; rowsRead is read when the event
//     ends, after the code has walked the cursor), the key-value APIs (a put, or a delete that
//     found its key, is one row written; a get is one row read), and setAlarm/deleteAlarm,
//     counted as one row written each (a model: Cloudflare keeps the alarm in the object's
//     storage; durable-objects/storage.ts counts it the same way);
//   - D1: the rows_read/rows_written and size_after of every result, from the binding's session
//     (D1DatabaseSession._send/_queryOrThrow, which prepare/batch/exec/raw/first all go through);
//   - R2: class A (put, list, createMultipartUpload, uploadPart, complete) and class B (get,
//     head) operations by project (their keys start `artifacts/<project>/` or `logs/<project>/`),
//     bytes put; deletes and aborts are free;
//   - requests: each call into an object (an RPC method, fetch, alarm) is one request, counted
//     where the object takes it (instrument() below); incoming WebSocket messages are counted
//     apart (billed at 20 per request); the Worker's requests by the entry.
// Every count is charged to the event it happens in (AsyncLocalStorage): its scope (the object's
// name, a device or project id; for a Worker request the first object it names) and its label
// (the route, or Class.method). The bench reads the totals with GET /__meter and diffs them.
import { AsyncLocalStorage } from "node:async_hooks";

export const FIELDS = [
  "worker_requests",
  "object_requests",
  "ws_messages",
  "events",
  "rows_written",
  "rows_written_sql",
  "rows_written_kv",
  "rows_written_alarm",
  "rows_read",
  "d1_rows_read",
  "d1_rows_written",
  "d1_queries",
  "queue_messages",
  "wall_ms",
] as const;
export type Field = (typeof FIELDS)[number];
export type Tally = Record<Field, number>;

export interface R2Tally {
  class_a: number;
  class_b: number;
  deletes: number;
  bytes_put: number;
}

interface Ctx {
  /** The object's name (device id, project id, fan-in name), or for the Worker the first object it names. */
  scope: string | undefined;
  label: string;
  /** The object this event runs in (its name), or null for the Worker. */
  self: string | null;
  started: number;
  tally: Tally;
  cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[];
  /** The object's storage, to read its size when the event ends. */
  sql: SqlStorage | null;
  ended: boolean;
}

const als = new AsyncLocalStorage<Ctx>();
/** The object being constructed: its constructor runs synchronously, outside any event of ours. */
let constructing: Ctx | null = null;
const current = (): Ctx | undefined => constructing ?? als.getStore();
const totals = new Map<string, Tally>();
const r2 = new Map<string, R2Tally>();
/** Each object's SQLite size (bytes) when its last event ended. */
const sizes = new Map<string, number>();
/** Which object an instance of storage belongs to, for work outside any event. */
const owners = new WeakMap<object, string>();
let d1SizeAfter = 0;
/** When each object's alarm is set for (ms), as it last set it: the lifetime simulation runs them when due. */
const alarmAt = new Map<string, number>();
/** Each object's class (DeviceHub, LogShard, …), by its name: the lifetime simulation finds its binding by it. */
const classOf = new Map<string, string>();
/** Rows written by what (a statement's start, a key-value key, the alarm), per scope and label: where the rows go. */
const writes = new Map<string, number>();
/** While true (the meter's own R2 listing), nothing is counted. */
let paused = false;

const emptyTally = (): Tally => Object.fromEntries(FIELDS.map((f) => [f, 0])) as Tally;
const emptyR2 = (): R2Tally => ({ class_a: 0, class_b: 0, deletes: 0, bytes_put: 0 });

function totalFor(scope: string | undefined, label: string): Tally {
  const key = `${scope ?? "-"}\t${label}`;
  let t = totals.get(key);
  if (!t) totals.set(key, (t = emptyTally()));
  return t;
}

/** Adds `n` to `field` of the event under way (or, outside any, of the object that owns `owner`). */
function add(field: Field, n: number, owner?: object): void {
  if (paused || n === 0) return;
  const c = current();
  if (c && !c.ended) c.tally[field] += n;
  else if (c) totalFor(c.scope, c.label)[field] += n;
  else totalFor(owner ? owners.get(owner) : undefined, "(outside any event)")[field] += n;
}

/** A statement or key as a kind of write: its first words, ids and numbers left out. */
function kindOf(what: string): string {
  return what.replace(/\s+/g, " ").trim().slice(0, 60).replace(/\d+/g, "N");
}

/** Notes that `n` rows were written (or, for D1, `d1:` ones) by `what`, in the event under way. */
function wrote(what: string, n: number, owner?: object): void {
  if (paused || n === 0) return;
  const c = current();
  const key = `${c?.scope ?? (owner ? owners.get(owner) : undefined) ?? "-"}\t${c?.label ?? "(outside any event)"}\t${kindOf(what)}`;
  writes.set(key, (writes.get(key) ?? 0) + n);
}

function open(label: string, self: string | null, sql: SqlStorage | null): Ctx {
  return {
    scope: self ?? undefined,
    label,
    self,
    started: Date.now(),
    tally: emptyTally(),
    cursors: [],
    sql,
    ended: false,
  };
}

/** Ends an event: reads what its cursors read, its wall time, and adds its tally to the totals. */
function close(c: Ctx): void {
  if (c.ended) return;
  for (const cursor of c.cursors) c.tally.rows_read += cursor.rowsRead;
  c.cursors = [];
  c.tally.wall_ms += Date.now() - c.started;
  c.tally.events += 1;
  if (c.sql && c.self) {
    try {
      sizes.set(c.self, c.sql.databaseSize);
    } catch {}
  }
  const t = totalFor(c.scope, c.label);
  for (const f of FIELDS) t[f] += c.tally[f];
  c.ended = true;
}

/** Runs `work` as event `c`, closing it when `work` settles. */
function within<T>(c: Ctx, work: () => T): T {
  return als.run(c, () => {
    let out: T;
    try {
      out = work();
    } catch (err) {
      close(c);
      throw err;
    }
    if (out instanceof Promise) {
      return out.then(
        (v) => (close(c), v),
        (err) => {
          close(c);
          throw err;
        },
      ) as T;
    }
    close(c);
    return out;
  });
}

// ---- the prototypes ------------------------------------------------------------------------

const patched = new WeakSet<object>();

/** Replaces `proto[name]` by `wrap(original)`, once. */
function patch<T extends object>(
  proto: T,
  name: string,
  wrap: (orig: (...a: any[]) => any) => (this: any, ...a: any[]) => any,
): void {
  const orig = (proto as Record<string, unknown>)[name];
  if (typeof orig !== "function") return;
  (proto as Record<string, unknown>)[name] = wrap(orig as (...a: any[]) => any);
}

function once(proto: object, install: () => void): void {
  if (patched.has(proto)) return;
  patched.add(proto);
  install();
}

/** Object storage: SQL, the key-value APIs and the alarm. */
export function meterStorage(storage: DurableObjectStorage, name: string): void {
  owners.set(storage, name);
  owners.set(storage.sql, name);
  if (storage.kv) owners.set(storage.kv, name);
  once(Object.getPrototypeOf(storage.sql), () =>
    patch(
      Object.getPrototypeOf(storage.sql),
      "exec",
      (orig) =>
        function (this: SqlStorage, ...args: unknown[]) {
          const cursor = orig.apply(this, args) as SqlStorageCursor<Record<string, SqlStorageValue>>;
          // Miniflare's own wrapper notes each object's name in a table of its own when it is made: not the app's, nor production's.
          if (paused || (typeof args[0] === "string" && args[0].includes("__miniflare"))) return cursor;
          add("rows_written", cursor.rowsWritten, this);
          add("rows_written_sql", cursor.rowsWritten, this);
          if (typeof args[0] === "string") wrote(args[0], cursor.rowsWritten, this);
          const c = current();
          if (c && !c.ended) c.cursors.push(cursor);
          else add("rows_read", cursor.rowsRead, this);
          return cursor;
        },
    ),
  );
  if (storage.kv) {
    const kvProto = Object.getPrototypeOf(storage.kv);
    once(kvProto, () => {
      patch(
        kvProto,
        "put",
        (orig) =>
          function (this: object, ...args: unknown[]) {
            const out = orig.apply(this, args);
            add("rows_written", 1, this);
            add("rows_written_kv", 1, this);
            wrote(`kv put ${String(args[0])}`, 1, this);
            return out;
          },
      );
      patch(
        kvProto,
        "delete",
        (orig) =>
          function (this: object, ...args: unknown[]) {
            const existed = orig.apply(this, args);
            if (existed) {
              add("rows_written", 1, this);
              add("rows_written_kv", 1, this);
              wrote(`kv delete ${String(args[0])}`, 1, this);
            }
            return existed;
          },
      );
      patch(
        kvProto,
        "get",
        (orig) =>
          function (this: object, ...args: unknown[]) {
            add("rows_read", 1, this);
            return orig.apply(this, args);
          },
      );
    });
  }
  const proto = Object.getPrototypeOf(storage);
  once(proto, () => {
    // The asynchronous key-value API (the same hidden table): a put or delete of n keys writes n rows.
    patch(
      proto,
      "put",
      (orig) =>
        async function (this: object, key: unknown, ...rest: unknown[]) {
          const out = await orig.call(this, key, ...rest);
          const n = typeof key === "string" ? 1 : Object.keys(key as object).length;
          add("rows_written", n, this);
          add("rows_written_kv", n, this);
          return out;
        },
    );
    patch(
      proto,
      "delete",
      (orig) =>
        async function (this: object, ...args: unknown[]) {
          const out = await orig.apply(this, args);
          const n = typeof out === "number" ? out : out ? 1 : 0;
          add("rows_written", n, this);
          add("rows_written_kv", n, this);
          return out;
        },
    );
    patch(
      proto,
      "get",
      (orig) =>
        async function (this: object, key: unknown, ...rest: unknown[]) {
          add("rows_read", Array.isArray(key) ? key.length : 1, this);
          return orig.call(this, key, ...rest);
        },
    );
    for (const name of ["setAlarm", "deleteAlarm"]) {
      patch(
        proto,
        name,
        (orig) =>
          async function (this: object, ...args: unknown[]) {
            const out = await orig.apply(this, args);
            add("rows_written", 1, this);
            add("rows_written_alarm", 1, this);
            wrote(name, 1, this);
            const owner = owners.get(this);
            if (owner !== undefined) {
              const at = args[0];
              if (name === "deleteAlarm") alarmAt.delete(owner);
              else alarmAt.set(owner, at instanceof Date ? at.getTime() : Number(at));
            }
            return out;
          },
      );
    }
  });
}

/** What an R2 key (or prefix) holds, and for which project: `artifacts/<project>` or `logs/<project>` (the archive). */
function projectOfKey(key: unknown): string {
  if (typeof key !== "string") return "?";
  const m = /^(artifacts|logs)\/([^/]+)/.exec(key);
  return m ? `${m[1]}/${m[2]}` : "?";
}

function r2Add(key: unknown, field: keyof R2Tally, n = 1): void {
  if (paused) return;
  const p = projectOfKey(key);
  let t = r2.get(p);
  if (!t) r2.set(p, (t = emptyR2()));
  t[field] += n;
}

function bytesOf(value: unknown): number {
  if (typeof value === "string") return new TextEncoder().encode(value).byteLength;
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  return 0;
}

function meterMultipart(upload: R2MultipartUpload): void {
  const proto = Object.getPrototypeOf(upload);
  once(proto, () => {
    patch(
      proto,
      "uploadPart",
      (orig) =>
        function (this: R2MultipartUpload, part: number, value: unknown, ...rest: unknown[]) {
          r2Add(this.key, "class_a");
          r2Add(this.key, "bytes_put", bytesOf(value));
          return orig.call(this, part, value, ...rest);
        },
    );
    patch(
      proto,
      "complete",
      (orig) =>
        function (this: R2MultipartUpload, ...args: unknown[]) {
          r2Add(this.key, "class_a");
          return orig.apply(this, args);
        },
    );
    patch(
      proto,
      "abort",
      (orig) =>
        function (this: R2MultipartUpload, ...args: unknown[]) {
          r2Add(this.key, "deletes");
          return orig.apply(this, args);
        },
    );
  });
}

/** The bindings: D1, R2, and the object namespaces (a Worker request's scope is the first object it names). */
export function meterBindings(env: Env): void {
  const d1Proto = findOwner(env.DB.withSession(), "_send");
  once(d1Proto, () => {
    const count = (results: unknown) => {
      for (const r of Array.isArray(results) ? results : [results]) {
        const meta = (r as { meta?: { rows_read?: number; rows_written?: number; size_after?: number } } | null)?.meta;
        if (!meta) continue;
        add("d1_queries", 1);
        add("d1_rows_read", meta.rows_read ?? 0);
        add("d1_rows_written", meta.rows_written ?? 0);
        if (meta.size_after) d1SizeAfter = meta.size_after;
      }
    };
    for (const name of ["_send", "_queryOrThrow"]) {
      patch(
        d1Proto,
        name,
        (orig) =>
          async function (this: object, ...args: unknown[]) {
            const out = await orig.apply(this, args);
            count(out);
            // Which statements wrote: _send(endpoint, query | queries, …), _queryOrThrow({ queries: [{ sql }] }).
            const sqls =
              name === "_send"
                ? [args[1]].flat()
                : ((args[0] as { queries?: { sql: string }[] }).queries ?? []).map((q) => q.sql);
            const results = [out].flat() as { meta?: { rows_written?: number } }[];
            for (const [i, q] of sqls.entries()) wrote(`d1: ${String(q)}`, results[i]?.meta?.rows_written ?? 0);
            return out;
          },
      );
    }
  });

  const bucket = env.STORAGE;
  const r2Proto = Object.getPrototypeOf(bucket);
  once(r2Proto, () => {
    patch(
      r2Proto,
      "put",
      (orig) =>
        async function (this: R2Bucket, key: string, value: unknown, ...rest: unknown[]) {
          r2Add(key, "class_a");
          const out = (await orig.call(this, key, value, ...rest)) as R2Object | null;
          r2Add(key, "bytes_put", out?.size ?? bytesOf(value));
          return out;
        },
    );
    for (const name of ["get", "head"]) {
      patch(
        r2Proto,
        name,
        (orig) =>
          function (this: R2Bucket, key: string, ...rest: unknown[]) {
            r2Add(key, "class_b");
            return orig.call(this, key, ...rest);
          },
      );
    }
    patch(
      r2Proto,
      "list",
      (orig) =>
        function (this: R2Bucket, options?: R2ListOptions) {
          r2Add(options?.prefix ?? "", "class_a");
          return orig.call(this, options);
        },
    );
    patch(
      r2Proto,
      "delete",
      (orig) =>
        function (this: R2Bucket, keys: string | string[]) {
          for (const k of Array.isArray(keys) ? keys : [keys]) r2Add(k, "deletes");
          return orig.call(this, keys);
        },
    );
    patch(
      r2Proto,
      "createMultipartUpload",
      (orig) =>
        async function (this: R2Bucket, key: string, ...rest: unknown[]) {
          r2Add(key, "class_a");
          const upload = (await orig.call(this, key, ...rest)) as R2MultipartUpload;
          meterMultipart(upload);
          return upload;
        },
    );
    patch(
      r2Proto,
      "resumeMultipartUpload",
      (orig) =>
        function (this: R2Bucket, ...args: unknown[]) {
          const upload = orig.apply(this, args) as R2MultipartUpload;
          meterMultipart(upload);
          return upload;
        },
    );
  });

  const nsProto = Object.getPrototypeOf(env.DEVICE_HUB);
  once(nsProto, () => {
    for (const name of ["idFromName", "getByName"]) {
      patch(
        nsProto,
        name,
        (orig) =>
          function (this: object, objectName: string, ...rest: unknown[]) {
            const c = current();
            if (c && c.self === null && c.scope === undefined) c.scope = objectName;
            return orig.call(this, objectName, ...rest);
          },
      );
    }
  });
}

function findOwner(obj: object, name: string): object {
  for (let p = Object.getPrototypeOf(obj); p; p = Object.getPrototypeOf(p)) if (Object.hasOwn(p, name)) return p;
  throw new Error(`no ${name} on the D1 session`);
}

// ---- the events ----------------------------------------------------------------------------

/** Notes that a queue consumer took `n` messages (each is written, read and deleted: three billed operations). */
export function queueMessages(n: number): void {
  add("queue_messages", n);
}

/** A Worker event (a request, a cron run), counted as one Worker request when `request`. */
export function workerEvent<T>(label: string, request: boolean, work: () => T): T {
  const c = open(label, null, null);
  if (request) c.tally.worker_requests = 1;
  return within(c, work);
}

/** The type of a device frame (`{"type":"heartbeat",…}`), read from its start. */
function frameType(message: unknown): string {
  if (typeof message !== "string") return "binary";
  return /"type"\s*:\s*"([a-z_]+)"/.exec(message.slice(0, 200))?.[1] ?? "?";
}

type ObjectClass = new (...args: any[]) => object;

/**
 * A subclass of an object class that meters it: its storage is patched when the first one is
 * made, and each call the runtime makes into it (an RPC method, fetch, alarm, a WebSocket
 * message) is an event of its own. A call the object makes to itself stays in its caller's event.
 */
export function instrument<C extends ObjectClass>(App: C, className: string): C {
  const nameOf = (ctx: DurableObjectState) => ctx.id.name ?? ctx.id.toString();
  class Metered extends App {
    constructor(...args: any[]) {
      const [ctx, env] = args as [DurableObjectState, Env];
      const name = nameOf(ctx);
      classOf.set(name, className);
      meterStorage(ctx.storage, name);
      meterBindings(env);
      // The constructor's own work (migrations, reading the state) is an event of its own, not a request.
      const outer = constructing;
      const c = open(`${className}.constructor`, name, ctx.storage.sql);
      constructing = c;
      try {
        super(ctx, env);
      } finally {
        close(c);
        constructing = outer;
      }
    }
  }
  const seen = new Set<string>(["constructor"]);
  for (let proto = App.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    if (proto.constructor?.name === "DurableObject" || proto.constructor?.name === "DurableObjectBase") break;
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (seen.has(name)) continue;
      seen.add(name);
      const desc = Object.getOwnPropertyDescriptor(proto, name);
      if (!desc || typeof desc.value !== "function") continue;
      const orig = desc.value as (...a: unknown[]) => unknown;
      const ws = name === "webSocketMessage" || name === "webSocketClose" || name === "webSocketError";
      Object.defineProperty(Metered.prototype, name, {
        configurable: true,
        writable: true,
        value: function (this: { ctx: DurableObjectState }, ...args: unknown[]) {
          const self = nameOf(this.ctx);
          if (current()?.self === self) return orig.apply(this, args);
          const label = name === "webSocketMessage" ? `${className}.ws:${frameType(args[1])}` : `${className}.${name}`;
          // The runtime clears an alarm as it runs it.
          if (name === "alarm") alarmAt.delete(self);
          const c = open(label, self, this.ctx.storage.sql);
          if (ws) c.tally.ws_messages = name === "webSocketMessage" ? 1 : 0;
          else c.tally.object_requests = 1;
          return within(c, () => orig.apply(this, args));
        },
      });
    }
  }
  return Metered as unknown as C;
}

// ---- reading ---------------------------------------------------------------------------------

export interface Reading {
  at: number;
  totals: ({ scope: string; label: string } & Tally)[];
  /** By `artifacts/<project>` and `logs/<project>` (the archive). */
  r2: Record<string, R2Tally>;
  /** Each object's SQLite size in bytes, as of its last event. */
  object_bytes: Record<string, number>;
  /** Rows written, by scope, label and what wrote them (`d1: …` for D1). */
  writes: { scope: string; label: string; what: string; rows: number }[];
  d1_size_after: number;
}

export function reading(): Reading {
  return {
    at: Date.now(),
    totals: [...totals].map(([key, t]) => {
      const [scope, label] = key.split("\t") as [string, string];
      return { scope, label, ...t };
    }),
    r2: Object.fromEntries([...r2].map(([p, t]) => [p, { ...t }])),
    object_bytes: Object.fromEntries(sizes),
    writes: [...writes].map(([key, rows]) => {
      const [scope, label, what] = key.split("\t") as [string, string, string];
      return { scope, label, what, rows };
    }),
    d1_size_after: d1SizeAfter,
  };
}

/** Bytes stored in R2 now, by `artifacts/<project>` and `logs/<project>`, listed without being counted. */
export async function r2Stored(bucket: R2Bucket): Promise<Record<string, { objects: number; bytes: number }>> {
  paused = true;
  try {
    const out: Record<string, { objects: number; bytes: number }> = {};
    let cursor: string | undefined;
    do {
      const page = await bucket.list({ cursor, limit: 1000 });
      for (const o of page.objects) {
        const p = projectOfKey(o.key);
        const t = (out[p] ??= { objects: 0, bytes: 0 });
        t.objects++;
        t.bytes += o.size;
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return out;
  } finally {
    paused = false;
  }
}

/** When `object`'s alarm is set for (ms), or undefined. */
export function alarmOf(object: string): number | undefined {
  return alarmAt.get(object);
}

/** Every alarm set now, with its object's name and class, earliest first. */
export function alarms(): { name: string; className: string; at: number }[] {
  return [...alarmAt]
    .map(([name, at]) => ({ name, className: classOf.get(name) ?? "?", at }))
    .sort((a, b) => a.at - b.at);
}

/** Forgets `object`'s alarm (the runtime had none to run). */
export function forgetAlarm(object: string): void {
  alarmAt.delete(object);
}

export function resetMeter(): void {
  totals.clear();
  r2.clear();
  writes.clear();
}
