// GET /api/v1/metrics: a project's devices and counters in the Prometheus text format, for a
// scrape (Prometheus, Grafana Agent / Alloy) with an org key. Devices come from the D1
// registry a page at a time, as GET /fleet/devices lists them, with the live presence the
// project's object keeps laid over them (fleet-presence.ts): the status as of the device's last
// transition, last seen and metrics as of its last delivery (at most DELIVERY.everyMs old). One
// scrape makes at most SCRAPE_MAX_DEVICES / SCRAPE_PAGE + 1 reads of D1 and three calls to the
// project's object, whatever the number of devices. Counters are those the project's object
// holds: a device hands its counts on at most once per delivery interval (src/contract/usage.ts),
// and a scrape does not ask for them sooner.
import type { z } from "zod";
import type { DeviceStatus } from "../contract/fleet";
import { SCRAPE_MAX_DEVICES, SCRAPE_PAGE, type ScrapeQuery } from "../contract/scrape";
import { USAGE_FIELDS } from "../contract/usage";
import type { Db } from "../db/client";
import { countLiveDevices, listDevicePresence } from "../db/repos/devices";
import { formatExposition, type Labels, type MetricFamily } from "../lib/prometheus-text";
import { utcDay } from "../lib/time";
import { projectHub } from "../stubs/project-hub";
import { projectPresence } from "./fleet-presence";

type Status = (typeof DeviceStatus.options)[number];
const STATUSES: readonly Status[] = ["online", "offline", "maintenance", "error"];

/** Heartbeat metrics the agent sends (agent/metrics.ts), each as a family of its own with its unit. */
const KNOWN_METRICS: Record<string, { name: string; help: string }> = {
  cpu_usage: { name: "fleetbeat_device_cpu_usage_percent", help: "CPU busy share (%) in the device's last heartbeat" },
  memory_usage: {
    name: "fleetbeat_device_memory_usage_percent",
    help: "Memory in use (%) in the device's last heartbeat",
  },
  disk_usage: { name: "fleetbeat_device_disk_usage_percent", help: "Disk in use (%) in the device's last heartbeat" },
  battery_level: {
    name: "fleetbeat_device_battery_level_percent",
    help: "Battery charge (%) in the device's last heartbeat",
  },
  temperature: {
    name: "fleetbeat_device_temperature_celsius",
    help: "Temperature (degrees Celsius) in the device's last heartbeat",
  },
};

const USAGE_HELP: Record<(typeof USAGE_FIELDS)[number], string> = {
  logs: "Log lines accepted",
  log_bytes: "Bytes of log lines accepted",
  sessions: "Sessions opened",
  heartbeats: "Heartbeats received",
  device_messages_in: "Messages from devices (requests and WebSocket frames)",
  device_messages_out: "Messages to devices",
  commands: "Commands queued",
  api_calls: "API calls made with org keys",
  artifact_bytes: "Bytes of session files uploaded",
  error_lines: "ERROR and FATAL log lines accepted",
};

const family = (name: string, help: string, type: MetricFamily["type"] = "gauge"): MetricFamily => ({
  name,
  help,
  type,
  samples: [],
});
const seconds = (ms: number) => ms / 1000;

export async function scrapeProject(
  env: Env,
  db: Db,
  orgId: string,
  q: z.output<typeof ScrapeQuery>,
  now: number,
): Promise<string> {
  const day = utcDay(now);
  // The project's object and its device counts, while the pages of devices are read.
  const hub = projectHub(env, q.project_id);
  const projectPart = Promise.all([
    hub.usage(day.slice(0, 7), day),
    countLiveDevices(db, q.project_id),
    hub.storageRows(),
  ]);

  const up = family(
    "fleetbeat_device_up",
    "1 when the device is not offline (online, maintenance or error), 0 when it is offline",
  );
  const status = family("fleetbeat_device_status", "The device's status: 1 for the status it has, 0 for the others");
  const lastSeen = family(
    "fleetbeat_device_last_seen_timestamp_seconds",
    "When the device was last heard from (heartbeat, logs or socket), unix seconds",
  );
  const lastHeartbeat = family(
    "fleetbeat_device_last_heartbeat_timestamp_seconds",
    "When the device last sent a heartbeat, unix seconds",
  );
  const known = Object.fromEntries(Object.entries(KNOWN_METRICS).map(([k, m]) => [k, family(m.name, m.help)]));
  const other = family(
    "fleetbeat_device_metric",
    "Any other metric of the device's last heartbeat, by its name in the metric label",
  );

  let truncated = false;
  const rows: Awaited<ReturnType<typeof listDevicePresence>> = [];
  for (let afterId: string | undefined; ; ) {
    // One row past the cap tells whether there are more.
    const limit = Math.min(SCRAPE_PAGE, SCRAPE_MAX_DEVICES + 1 - rows.length);
    const page = await listDevicePresence(
      db,
      orgId,
      { project_id: q.project_id, environment: q.environment, type: q.type },
      { afterId, limit },
    );
    const before = rows.length;
    rows.push(...page.slice(0, SCRAPE_MAX_DEVICES - before));
    if (page.length < limit) break;
    if (before + page.length > SCRAPE_MAX_DEVICES) {
      truncated = true;
      break;
    }
    afterId = page[page.length - 1]!.id;
  }
  // The live picture of every device of the answer, and the active count, in one call.
  const live = await projectPresence(
    env,
    q.project_id,
    rows.map((d) => d.id),
  );
  for (const d of rows) {
    const l = live.devices[d.id];
    const labels: Labels = { device_id: d.id, dsn: d.dsn, device_type: d.deviceType, environment: d.environment };
    const now = l
      ? { status: l.status, lastSeenAt: l.last_seen_at, lastHeartbeatAt: l.last_heartbeat_at, metrics: l.metrics }
      : d;
    up.samples.push({ labels, value: now.status === "offline" ? 0 : 1 });
    for (const s of STATUSES)
      status.samples.push({ labels: { ...labels, status: s }, value: now.status === s ? 1 : 0 });
    if (now.lastSeenAt != null) lastSeen.samples.push({ labels, value: seconds(now.lastSeenAt) });
    if (now.lastHeartbeatAt != null) lastHeartbeat.samples.push({ labels, value: seconds(now.lastHeartbeatAt) });
    for (const [name, value] of Object.entries(now.metrics ?? {})) {
      if (typeof value !== "number") continue;
      const f = Object.hasOwn(known, name) ? known[name] : undefined;
      if (f) f.samples.push({ labels, value });
      else other.samples.push({ labels: { ...labels, metric: name }, value });
    }
  }
  const exported = rows.length;

  const [usage, liveDevices, storageRows] = await projectPart;
  const project: Labels = { project_id: q.project_id };
  const counters = USAGE_FIELDS.map((f) => ({
    ...family(
      `fleetbeat_project_${f}_total`,
      `${USAGE_HELP[f]} this UTC month (starts again from 0 when the month turns)`,
      "counter",
    ),
    samples: [{ labels: project, value: usage.month[f] }],
  }));
  const gauge = (name: string, help: string, value: number): MetricFamily => ({
    ...family(name, help),
    samples: [{ labels: project, value }],
  });

  return formatExposition([
    up,
    status,
    lastSeen,
    lastHeartbeat,
    ...Object.values(known),
    other,
    ...counters,
    gauge(
      "fleetbeat_project_storage_bytes",
      "Bytes the project stores in R2 (session files and archived logs), as last counted",
      usage.storage_bytes,
    ),
    {
      ...family(
        "fleetbeat_storage_rows_written_total",
        "Rows the project's own Durable Objects wrote to their storage since they began (Cloudflare bills each; docs/COSTS.md): its devices' objects and its log shards, as they last delivered, and the project's own",
        "counter",
      ),
      samples: [
        { labels: { ...project, object: "device" }, value: storageRows.devices },
        { labels: { ...project, object: "log_shard" }, value: storageRows.log_shards },
        { labels: { ...project, object: "project" }, value: storageRows.project },
      ],
    },
    gauge("fleetbeat_project_devices", "The project's devices that are not decommissioned", liveDevices),
    gauge(
      "fleetbeat_project_active_devices",
      "The project's devices that are not offline (online, maintenance or error)",
      live.active,
    ),
    gauge("fleetbeat_scrape_devices", "Devices in this answer", exported),
    gauge(
      "fleetbeat_scrape_truncated",
      `1 when the project has more than ${SCRAPE_MAX_DEVICES} matching devices and this answer lists only the first; narrow it with environment or type`,
      truncated ? 1 : 0,
    ),
  ]);
}
