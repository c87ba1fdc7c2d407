// Counting what code asks of an env's bindings: D1 statements (each of a batch too), calls on
// Durable Object stubs (named, by the object's name and the method), R2 operations, and queue
// sends (a HeldQueue counts its own). The wrapped env is handed to the code under test in place
// of the real one; the bindings behind it are the real ones. A test may also have chosen
// statements or object calls fail, to see what a failure leaves.
import type { HeldQueue } from "./jobs";

/** Failures to inject: a matching statement or object call throws instead of running. */
export interface Faults {
  statement?: (sql: string, values: unknown[]) => boolean;
  call?: (name: string, method: string) => boolean;
}

/** What a wrapped env was asked: D1 statements, and calls to everything else. */
export interface Counts {
  d1: number;
  objects: number;
  r2: number;
  sends: number;
  /** Each object call as `<object name>.<method>`. */
  calls: string[];
}

export const subrequests = (c: Counts) => c.d1 + c.objects + c.r2 + c.sends;

interface Wrapped {
  inner: D1PreparedStatement;
  sql: string;
  values: unknown[];
}

const injected = () => Promise.reject(new Error("injected failure"));

/** A D1 binding that counts each statement it runs (each of a batch too). */
function countedD1(d1: D1Database, counts: Counts, faults: Faults): D1Database {
  const wrap = (stmt: D1PreparedStatement, sql: string, values: unknown[]): D1PreparedStatement => {
    const fails = () => faults.statement?.(sql, values) ?? false;
    const run = <T>(go: () => Promise<T>) => (counts.d1++, fails() ? injected() : go());
    return {
      inner: stmt,
      sql,
      values,
      bind: (...bound: unknown[]) => wrap(stmt.bind(...bound), sql, bound),
      first: (column?: string) => run(() => (column === undefined ? stmt.first() : stmt.first(column))),
      all: () => run(() => stmt.all()),
      run: () => run(() => stmt.run()),
      raw: (options?: { columnNames?: boolean }) => run(() => stmt.raw(options as { columnNames: true })),
    } as unknown as D1PreparedStatement;
  };
  const parts = (s: D1PreparedStatement) => s as unknown as Wrapped;
  return {
    prepare: (query: string) => wrap(d1.prepare(query), query, []),
    batch: (statements: D1PreparedStatement[]) => {
      counts.d1 += statements.length;
      if (statements.some((s) => faults.statement?.(parts(s).sql, parts(s).values))) return injected();
      return d1.batch(statements.map((s) => parts(s).inner));
    },
    exec: (query: string) => (counts.d1++, d1.exec(query)),
    withSession: () => {
      throw new Error("not used by the jobs");
    },
    dump: () => d1.dump(),
  } as unknown as D1Database;
}

/** Every method call on `target` (and on what its methods answer, for R2's multipart uploads) counts once. */
function countedCalls<T extends object>(target: T, count: () => void): T {
  return new Proxy(target, {
    get(t, key) {
      const value = Reflect.get(t, key);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        count();
        const out = Reflect.apply(value, t, args);
        // resumeMultipartUpload answers an object at once, whose abort() is the call that reaches R2.
        return out && typeof out === "object" && !(out instanceof Promise) && "abort" in out
          ? countedCalls(out, count)
          : out;
      };
    },
  });
}

/** An object namespace whose stubs count each method called on them (idFromName and get are local). */
function countedNamespace(ns: DurableObjectNamespace, counts: Counts, faults: Faults): DurableObjectNamespace {
  return new Proxy(ns, {
    get(t, key) {
      const value = Reflect.get(t, key);
      if (key !== "get") return typeof value === "function" ? value.bind(t) : value;
      return (id: DurableObjectId) => {
        const stub = t.get(id);
        const name = id.name ?? id.toString();
        return new Proxy(stub, {
          get(s, k) {
            const v = Reflect.get(s, k);
            if (typeof v !== "function" || typeof k !== "string" || k === "then") return v;
            return (...args: unknown[]) => {
              counts.objects++;
              counts.calls.push(`${name}.${k}`);
              if (faults.call?.(name, k)) return injected();
              return Reflect.apply(v as (...a: unknown[]) => unknown, s, args);
            };
          },
        });
      };
    },
  });
}

/** `e` with its D1, object namespaces and R2 bucket counted (and `faults` injected), and its queue's sends if it is a HeldQueue. */
export function counted<E extends Env>(e: E, faults: Faults = {}): { env: E; counts: () => Counts; reset: () => void } {
  const counts: Counts = { d1: 0, objects: 0, r2: 0, sends: 0, calls: [] };
  const sendsOf = () => ("sends" in e.JOBS ? (e.JOBS as unknown as HeldQueue).sends : 0);
  const sendsBefore = { n: sendsOf() };
  const wrapped = {
    ...e,
    DB: countedD1(e.DB, counts, faults),
    PROJECT_HUB: countedNamespace(e.PROJECT_HUB as unknown as DurableObjectNamespace, counts, faults),
    DEVICE_HUB: countedNamespace(e.DEVICE_HUB as unknown as DurableObjectNamespace, counts, faults),
    STORAGE: countedCalls(e.STORAGE, () => counts.r2++),
  } as unknown as E;
  return {
    env: wrapped,
    counts: () => ({ ...counts, calls: [...counts.calls], sends: sendsOf() - sendsBefore.n }),
    reset: () => {
      counts.d1 = counts.objects = counts.r2 = 0;
      counts.calls = [];
      sendsBefore.n = sendsOf();
    },
  };
}
