// A project-wide search, export or Loki page asks the project's log shards, never its devices:
// its object calls are at most the shards the project uses, however many devices it has, and
// the rows each shard is asked for are bounded by the page. The stubs are wrapped to count
// every call the request makes (the Worker's app runs here with the wrapped bindings).
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { LOG_SHARDS } from "../../src/contract/log-shards";
import { createDb } from "../../src/db/client";
import { shardsInUse } from "../../src/db/repos/log-shards";
import { ingest, loghubLines, newDevice, readText, tenant } from "./helpers";

interface Calls {
  shard: number;
  device: number;
  project: number;
  /** The `limit` of each shard query. */
  limits: number[];
}

/** A namespace whose stubs count every method called on them. */
function counted<T extends object>(ns: T, on: (method: string, args: unknown[]) => void): T {
  return new Proxy(ns, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop !== "get" || typeof value !== "function")
        return typeof value === "function" ? value.bind(target) : value;
      return (...args: unknown[]) => {
        const stub = Reflect.apply(value as (...a: unknown[]) => object, target, args) as object;
        return new Proxy(stub, {
          get(s, m) {
            const f = Reflect.get(s, m, s) as unknown;
            if (typeof f !== "function") return f;
            return (...a: unknown[]) => {
              on(String(m), a);
              // An RPC method's own `apply` would be another RPC call: call it as it is.
              return Reflect.apply(f as (...x: unknown[]) => unknown, s, a);
            };
          },
        });
      };
    },
  });
}

/** Runs one API request through the app with counting bindings; answers its body and the calls it made. */
async function measured(
  path: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; calls: Calls }> {
  const calls: Calls = { shard: 0, device: 0, project: 0, limits: [] };
  const wrapped = {
    ...env,
    LOG_SHARD: counted(env.LOG_SHARD, (m, a) => {
      calls.shard++;
      if (m === "query") calls.limits.push((a[0] as { limit: number }).limit);
    }),
    DEVICE_HUB: counted(env.DEVICE_HUB, () => calls.device++),
    PROJECT_HUB: counted(env.PROJECT_HUB, () => calls.project++),
  } as Env;
  const ctx = createExecutionContext();
  const url = path.startsWith("/loki/") ? `http://fleetbeat.test${path}` : `http://fleetbeat.test/api/v1${path}`;
  const res = await app.fetch(
    new Request(url, { headers: { authorization: `Bearer ${token}`, ...headers } }),
    wrapped,
    ctx,
  );
  const body = await readText(res);
  await waitOnExecutionContext(ctx);
  return { status: res.status, body, calls };
}

/** A project with `devices` devices that each sent `lines` lines. */
async function fleet(devices: number, lines: number) {
  const t = await tenant();
  const keys = [t.deviceKey];
  for (let i = 1; i < devices; i++) keys.push((await newDevice(t.adminKey, t.projectId)).deviceKey);
  const end = Date.now() * 1000 - 1_000_000;
  await Promise.all(
    keys.map((key, i) =>
      ingest(key, { logs: loghubLines("HDFS", lines, { endUs: end - i * 1000, stepUs: 10_000, offset: i * lines }) }),
    ),
  );
  return { ...t, shards: (await shardsInUse(createDb(env.DB), t.projectId)).length };
}

const saved = LOG_SHARDS.count;
// Four shards, so a test-sized fleet fills them all, as 300 or 3,000 devices fill 64.
beforeAll(() => void (LOG_SHARDS.count = 4));
afterAll(() => void (LOG_SHARDS.count = saved));

describe("a project-wide read", () => {
  it("asks each shard the project uses once per page, the same with 8 devices as with 40, and no device", {
    timeout: 120_000,
  }, async () => {
    const small = await fleet(8, 10);
    const large = await fleet(40, 10);
    for (const p of [small, large]) {
      expect(p.shards).toBeLessThanOrEqual(LOG_SHARDS.count);
      const page = await measured(`/logs?project_id=${p.projectId}&limit=50`, p.viewerKey);
      expect(page.status).toBe(200);
      expect(JSON.parse(page.body).logs).toHaveLength(50);
      expect(page.calls.shard).toBe(p.shards);
      expect(page.calls.device).toBe(0);
      // What each shard is asked for is bounded by the page, not by its devices: rows held are at most shards × (page + 1).
      expect(Math.max(...page.calls.limits)).toBeLessThanOrEqual(51);
    }
    // The large fleet uses every shard, and no more calls than the small one would with as many shards.
    expect(large.shards).toBe(LOG_SHARDS.count);
  });

  it("exports page after page from the same shard streams, without asking every shard again for each page", {
    timeout: 120_000,
  }, async () => {
    const p = await fleet(40, 60); // 2,400 lines: three export pages of 1,000
    const out = await measured(`/logs/export?project_id=${p.projectId}&format=ndjson`, p.viewerKey);
    expect(out.status).toBe(200);
    expect(out.body.trim().split("\n")).toHaveLength(2400);
    // Each shard answers its share in a call or two (its fetch doubles up to the page), not once per page.
    expect(out.calls.shard).toBeLessThanOrEqual(2 * p.shards);
    expect(out.calls.device).toBe(0);
  });

  it("answers a Loki page with at most one call per shard the same way", { timeout: 120_000 }, async () => {
    const p = await fleet(40, 5);
    const end = BigInt(Date.now() + 1000) * 1_000_000n;
    const q = encodeURIComponent('{module=~".+"}');
    const out = await measured(
      `/loki/api/v1/query_range?query=${q}&start=${end - 3_600_000_000_000n}&end=${end}&limit=100&direction=backward`,
      p.viewerKey,
      { "x-scope-orgid": p.projectId },
    );
    expect(out.status).toBe(200);
    expect(out.calls.shard).toBeLessThanOrEqual(p.shards);
    expect(out.calls.device).toBe(0);
  });

  it("of one device asks that device's shard alone", async () => {
    const p = await fleet(8, 10);
    const one = await measured(`/logs?device_id=${p.deviceId}&limit=100`, p.viewerKey);
    expect(JSON.parse(one.body).logs).toHaveLength(10);
    expect(one.calls.shard).toBe(1);
    expect(one.calls.device).toBe(0);
  });
});
