// Regexes that stalled the server (issue 20), over real HTTP: against a line of 1,000 x, each
// of these kept a backtracking engine busy for minutes, and heartbeats and /health waited
// behind it. With RE2 each query_range answers the right line within QUERY_MS, and /health,
// polled all the while, within HEALTH_MS. (The fast tier's test/integration/loki.test.ts sends
// the same shapes through the Worker's fetch; this one goes through wrangler dev's sockets.)
import { expect } from "vitest";
import { api, type Server, sleep } from "../support/server.ts";

const QUERY_MS = 2000;
const HEALTH_MS = 1000;
/** How often /health is asked while the queries run. */
const HEALTH_EVERY_MS = 100;

/** The shapes of issue 20; the classes each hold x, as a stall needs. */
const SHAPES: [string, string][] = [
  ["16 × .* then =x", `${".*".repeat(16)}=x`],
  ["10 × (.*) then Z", `${"(.*)".repeat(10)}Z`],
  ["10 × [ax]*[bx]*… then Q", `${[..."abcdefghij"].map((c) => `[${c}x]*`).join("")}Q`],
  ["11 × \\w* then Q", `${"\\w*".repeat(11)}Q`],
];
const XS = "x".repeat(1000);
/** The line every shape matches; the 1,000 x alone, none does. */
const XS_MATCHED = `${XS} =x Z Q`;

export interface RegexAttackTimes {
  queries: { shape: string; status: number; ms: number }[];
  health: { polls: number; maxMs: number };
}

/**
 * Registers a device in the tenant's project (with the tenant's admin key), ingests the two
 * lines, then sends each shape through the Loki API with the viewer key while /health is
 * polled; returns how long each query and the slowest /health took.
 */
export async function regexAttacks(
  server: Server,
  tenant: { adminKey: string; viewerKey: string; projectId: string },
): Promise<RegexAttackTimes> {
  const base = server.api;
  const capsule = await must(
    api(base, "POST", "/capsules/generate", {
      token: tenant.adminKey,
      body: { project_id: tenant.projectId, device_type: "amr", environment: "testing" },
    }),
    201,
    "capsule",
  );
  const device = await must(
    api(base, "POST", "/fleet/register", {
      body: { dsn: "REGEX-0001", registration_token: capsule.capsule.fleet.registration_token },
    }),
    201,
    "register",
  );
  const now = Date.now() * 1000;
  const logs = [XS, XS_MATCHED].map((message, i) => ({
    timestamp_us: now - 2000 + i,
    level: "INFO",
    module: "regex",
    message,
  }));
  const ingested = await must(
    api(base, "POST", "/logs/ingest", { token: device.device_key, body: { batch_id: "regex-1", logs } }),
    200,
    "ingest",
  );
  expect(ingested.accepted, "both lines ingested").toBe(2);

  const health = { polls: 0, maxMs: 0 };
  let querying = true;
  const polling = (async () => {
    while (querying) {
      const started = Date.now();
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(60_000) });
      await res.arrayBuffer();
      health.maxMs = Math.max(health.maxMs, Date.now() - started);
      health.polls++;
      await sleep(HEALTH_EVERY_MS);
    }
  })();

  const origin = base.replace(/\/api\/v1$/, "");
  const headers = { authorization: `Bearer ${tenant.viewerKey}`, "x-scope-orgid": tenant.projectId };
  const queries: RegexAttackTimes["queries"] = [];
  try {
    for (const [shape, regex] of SHAPES) {
      const params = new URLSearchParams({
        query: `{level=~".*"} |~ ${JSON.stringify(regex)}`,
        start: String(BigInt(now - 3_600_000_000) * 1000n),
        end: String(BigInt(now + 60_000_000) * 1000n),
        limit: "100",
      });
      const started = Date.now();
      const res = await fetch(`${origin}/loki/api/v1/query_range?${params}`, {
        headers,
        signal: AbortSignal.timeout(60_000),
      });
      const body: any = await res.json();
      const ms = Date.now() - started;
      queries.push({ shape, status: res.status, ms });
      expect(res.status, `${shape}: ${JSON.stringify(body).slice(0, 300)}`).toBe(200);
      const found = (body.data.result as { values: [string, string][] }[]).flatMap((s) => s.values.map(([, l]) => l));
      expect(found, `${shape} matched the line that holds its ending, not the 1,000 x`).toEqual([XS_MATCHED]);
      expect(ms, `${shape} answered in ${ms} ms`).toBeLessThan(QUERY_MS);
    }
  } finally {
    querying = false;
    await polling;
  }
  expect(health.polls, "/health was polled while the queries ran").toBeGreaterThan(0);
  expect(health.maxMs, `the slowest /health took ${health.maxMs} ms`).toBeLessThan(HEALTH_MS);
  return { queries, health };
}

async function must(p: Promise<{ status: number; json: any }>, status: number, what: string): Promise<any> {
  const res = await p;
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}
