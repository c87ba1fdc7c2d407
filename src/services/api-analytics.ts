// Every API request is recorded: its route pattern, status class and latency, into hourly
// mergeable histograms in the ProjectHub of the project it touched (or the org's own hub).
// Records are batched in the isolate and sent together, at most every FLUSH_MS or every
// FLUSH_RECORDS requests, so a request costs no extra call and no D1 write.
//
// The limits of this: records trail by up to FLUSH_MS, and an isolate that is evicted loses
// the records it had not sent yet. That is acceptable for latency figures, and it is the
// price of not paying a call per request. Org-key calls are also counted as api_calls here,
// with the same caveat. Device calls are counted exactly by the device's object instead.
import { type Histogram, addSample } from "../contract/latency-histogram";
import { createDb } from "../db/client";
import { findProjectOfOrg } from "../db/repos/projects";
import { utcDay } from "../lib/time";
import { orgHub, projectHub } from "../stubs/project-hub";

const FLUSH_MS = 2_000;
const FLUSH_RECORDS = 200;
const HOUR_MS = 3_600_000;

export interface ApiCall {
  /**
   * A device's project; or the org whose key made the call, with the project the call named
   * (checked at the flush to be the org's, else the call is the org's own); null when unauthenticated.
   */
  scope: { projectId: string } | { orgId: string; named?: string } | null;
  orgKey: boolean;
  route: string;
  status: number;
  ms: number;
  at: number;
}

interface Pending {
  records: Map<string, { hour: number; route: string; status_class: string; count: number; hist: Histogram }>;
  orgKeyCalls: Record<string, number>;
}

const pending = new Map<string, Pending>();
let pendingCount = 0;
let lastFlush = Date.now();

export function recordApiCall(env: Env, call: ApiCall, waitUntil: (p: Promise<unknown>) => void): void {
  if (!call.scope) return;
  const hub = "projectId" in call.scope ? `p ${call.scope.projectId}` : `o ${call.scope.orgId} ${call.scope.named ?? ""}`;
  let p = pending.get(hub);
  if (!p) pending.set(hub, (p = { records: new Map(), orgKeyCalls: {} }));
  const hour = Math.floor(call.at / HOUR_MS);
  const statusClass = `${Math.floor(call.status / 100)}xx`;
  const key = `${hour} ${call.route} ${statusClass}`;
  let r = p.records.get(key);
  if (!r) p.records.set(key, (r = { hour, route: call.route, status_class: statusClass, count: 0, hist: {} }));
  r.count++;
  addSample(r.hist, call.ms);
  if (call.orgKey) {
    const day = utcDay(call.at);
    p.orgKeyCalls[day] = (p.orgKeyCalls[day] ?? 0) + 1;
  }
  pendingCount++;
  if (pendingCount >= FLUSH_RECORDS || Date.now() - lastFlush >= FLUSH_MS) waitUntil(flushApiCalls(env));
}

/** Sends every pending record now (also before the stats API reads them). */
export async function flushApiCalls(env: Env): Promise<void> {
  const batches = [...pending];
  pending.clear();
  pendingCount = 0;
  lastFlush = Date.now();
  const db = createDb(env.DB);
  await Promise.all(
    batches.map(async ([hub, p]) => {
      const [kind, id, named] = hub.split(" ") as [string, string, string | undefined];
      const own = kind === "o" && named ? (await findProjectOfOrg(db, id, named)) !== undefined : false;
      const stub = kind === "p" ? projectHub(env, id) : own ? projectHub(env, named!) : orgHub(env, id);
      try {
        await stub.recordApi([...p.records.values()], p.orgKeyCalls);
      } catch (err) {
        console.error("API records were not delivered", err);
      }
    }),
  );
}
