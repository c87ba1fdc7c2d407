// Every API request is recorded: its route pattern, status class and latency, into hourly
// mergeable histograms in the ProjectHub of the project it touched (or the org's own hub).
// Records are batched in the isolate and sent together, API_FLUSH.ms after the first of them or
// at FLUSH_RECORDS, so a request costs no extra call and no D1 write. The request that starts
// a batch keeps the isolate up (waitUntil) until it is sent, so records never wait for a later
// request. Each batch has an id the hub applies once, and a batch whose call failed is sent
// again, with the same id, up to SEND_ATTEMPTS times and then with the next flush: so org-key
// calls, which are counted as api_calls here, are neither lost to a failed call nor doubled by
// a retry. What this cannot survive is the isolate dying in the API_FLUSH.ms before its batch goes.
// Device calls are counted exactly by the device's object instead.
import { addSample, type Histogram } from "../contract/latency-histogram";
import { createDb } from "../db/client";
import { findProjectOfOrg } from "../db/repos/projects";
import { utcDay } from "../lib/time";
import { orgHub, projectHub } from "../stubs/project-hub";

// 20 s, not 2: a busy isolate flushes a tenth as often (each flush writes rows in every hub it
// touches, docs/COSTS.md), within the 30 s that waitUntil keeps an isolate up after its answer.
/** An object, so a test can wait less. */
export const API_FLUSH = { ms: 20_000 };
const FLUSH_RECORDS = 200;
const SEND_ATTEMPTS = 3;
const RETRY_BASE_MS = 100;
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
/** The flush the first pending record scheduled (null when nothing waits). */
let scheduled: Promise<void> | null = null;
/** Batches whose call failed every attempt, kept with their ids for the next flush. */
let unsent: { hub: string; batchId: string; batch: Pending }[] = [];

export function recordApiCall(env: Env, call: ApiCall, waitUntil: (p: Promise<unknown>) => void): void {
  if (!call.scope) return;
  const hub =
    "projectId" in call.scope ? `p ${call.scope.projectId}` : `o ${call.scope.orgId} ${call.scope.named ?? ""}`;
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
  if (pendingCount >= FLUSH_RECORDS) waitUntil(flushApiCalls(env));
  else if (!scheduled) {
    scheduled = new Promise<void>((resolve) => setTimeout(resolve, API_FLUSH.ms)).then(() => flushApiCalls(env));
    waitUntil(scheduled);
  }
}

/** Sends every pending record now (also before the stats API reads them). */
export async function flushApiCalls(env: Env): Promise<void> {
  scheduled = null;
  const batches = [...unsent, ...[...pending].map(([hub, batch]) => ({ hub, batchId: crypto.randomUUID(), batch }))];
  pending.clear();
  pendingCount = 0;
  unsent = [];
  const db = createDb(env.DB);
  await Promise.all(
    batches.map(async (b) => {
      const [kind, id, named] = b.hub.split(" ") as [string, string, string | undefined];
      for (let attempt = 1; ; attempt++) {
        try {
          const own = kind === "o" && named ? (await findProjectOfOrg(db, id, named)) !== undefined : false;
          const stub = kind === "p" ? projectHub(env, id) : own ? projectHub(env, named!) : orgHub(env, id);
          await stub.recordApi(b.batchId, [...b.batch.records.values()], b.batch.orgKeyCalls);
          return;
        } catch (err) {
          if (attempt >= SEND_ATTEMPTS) {
            console.error("API records were not delivered; they go again with the next flush", err);
            unsent.push(b);
            return;
          }
          await new Promise((r) => setTimeout(r, RETRY_BASE_MS * 2 ** attempt));
        }
      }
    }),
  );
}
