// What alert evaluation adds to the hot path, measured where it runs: the device object's
// part (durable-objects/device-hub/alerts.ts) judging a 100-line batch and a heartbeat, with
// no rules and with a realistic set of rules concerning the device, against the work the
// object already does for the same batch (tallying its lines, src/contract/tallies.ts) as the
// limit measured in the same run. In-process, so the figures are the evaluation's own
// CPU time, not the network's. Evaluation reads and writes only the object's own memory and
// key-value store (a Map here): no D1, no extra RPC.
//
//   npm run bench:alerts   (bundled first with esbuild: src/ imports without file extensions)

import { DeviceAlerts } from "../durable-objects/device-hub/alerts.ts";
import { Timers } from "../durable-objects/timers.ts";
import type { AlertRule } from "../src/contract/alerts.ts";
import { lineTallies } from "../src/contract/tallies.ts";
import { corpus } from "./server.ts";

const ITERATIONS = 20_000;

/** A synchronous key-value store as a Durable Object's, in memory. */
class MapKv {
  private readonly map = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    const v = this.map.get(key);
    return v === undefined ? undefined : (structuredClone(v) as T);
  }
  put(key: string, value: unknown): void {
    this.map.set(key, structuredClone(value));
  }
}

const rule = (id: string, kind: AlertRule["kind"], params: Record<string, unknown>): AlertRule => ({
  id,
  org_id: "org_x",
  project_id: "prj_x",
  name: id,
  kind,
  params,
  device_id: null,
  device_type: null,
  min_firing_s: 0,
  silenced_until: null,
  created_at: 0,
  updated_at: 0,
  targets: [],
});

const RULES = [
  rule("alr_errors", "error_rate", { count: 1_000_000, window_s: 300, scope: "device" }),
  rule("alr_arm_errors", "error_rate", { count: 1_000_000, window_s: 60, module: "arm", scope: "device" }),
  rule("alr_battery", "metric_threshold", { metric: "battery_level", op: "<", value: 15, for_s: 300 }),
  rule("alr_hot", "metric_threshold", { metric: "temperature", op: ">", value: 80, for_s: 60 }),
  rule("alr_offline", "device_offline", { for_s: 300 }),
];

function device(rules: AlertRule[]) {
  const kv = new MapKv();
  const state = { deviceId: "dev_x", orgId: "org_x", projectId: "prj_x", offline: false, metrics: null } as never;
  const storage = { getAlarm: async () => null, setAlarm: async () => undefined } as unknown as DurableObjectStorage;
  const alerts = new DeviceAlerts(kv as unknown as SyncKvStorage, {} as Env, () => state, new Timers(storage));
  kv.put("alert_rules", { version: 1, rules });
  return alerts;
}

/** Microseconds per call of `work`, after a warm-up. */
function perCall(work: (i: number) => void): number {
  for (let i = 0; i < ITERATIONS / 10; i++) work(i);
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) work(i);
  return ((performance.now() - started) * 1000) / ITERATIONS;
}

const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
// Ninety ordinary lines and ten errors, as a batch from a device having a bad minute.
const errors = corpus.filter((l) => l.level === "ERROR" || l.level === "FATAL");
const batch = [...corpus.filter((l) => !errors.includes(l)).slice(0, 90), ...errors.slice(0, 10)].map((l) => ({
  module: l.module,
  level: LEVELS.indexOf(l.level),
  message: l.message,
}));
const metrics = { cpu_usage: 40, memory_usage: 61, disk_usage: 30, battery_level: 70, temperature: 55 };

const none = device([]);
const five = device(RULES);
const rows = [
  ["the limit: tallying the batch's lines (work ingest already does)", perCall(() => lineTallies(batch))],
  ["a 100-line batch, no rules", perCall((i) => none.onLines(batch, 1_000_000 + i))],
  [`a 100-line batch, ${RULES.length} rules`, perCall((i) => five.onLines(batch, 1_000_000 + i))],
  ["a heartbeat, no rules", perCall((i) => none.onHeartbeat(metrics, 1_000_000 + i))],
  [`a heartbeat, ${RULES.length} rules`, perCall((i) => five.onHeartbeat(metrics, 1_000_000 + i))],
] as const;

console.log(
  `alert evaluation in the device's object (${ITERATIONS} calls each, ${batch.filter((l) => l.level >= 3).length} of 100 lines ERROR/FATAL)`,
);
for (const [what, us] of rows) console.log(`  ${what.padEnd(64)} ${us.toFixed(2).padStart(8)} µs`);
const limit = rows[0][1];
console.log(
  `  with ${RULES.length} rules a batch costs ${(rows[2][1] / limit).toFixed(2)}× what tallying it already costs; no D1 read or write, no RPC`,
);
console.log(
  "  (storage here is a Map; in the object, a batch with errors a rule counts adds one write to its own SQLite-backed store, a heartbeat adds one only when a condition starts or ends)",
);
