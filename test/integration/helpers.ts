// Calls the Worker the way a client would, through its fetch handler, and builds the
// org / project / device a test needs. Each test makes its own, so files never share state.
import { env, exports } from "cloudflare:workers";
import type { LogView } from "../../src/contract/log-view";

export const ADMIN = env.ADMIN_TOKEN;
const BASE = "http://fleetbeat.test/api/v1";

/**
 * A response body or frame as tests read it when they name no type: parsed JSON, walked
 * without a guard at each step (`res.json.devices[0].id`). Loose on purpose and only here:
 * every test asserts the values it reads, while a strict JSON type (with
 * noUncheckedIndexedAccess) needs a narrowing at each step of each path, in nearly every test
 * file. The helpers below name the shape they read; a test can too, with `call<T>`.
 */
export type LooseJson = any;

export interface Answer<T = LooseJson> {
  status: number;
  headers: Headers;
  /** The parsed body; null when there is none (a 204), whatever T says. */
  json: T;
}

/** A body as text, decoded from its bytes: workerd warns when .text() meets a non-text type (NDJSON). */
export async function readText(res: Response): Promise<string> {
  return new TextDecoder().decode(await res.arrayBuffer());
}

export async function call<T = LooseJson>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: BodyInit } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] ??= "application/json";
  const res = await exports.default.fetch(`${BASE}${path}`, {
    method,
    headers,
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await readText(res);
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as T) : (null as T) };
}

// The parts of the answers that the helpers below read.
interface OrgCreated {
  org: { id: string };
  api_key: { key: string };
}
interface KeyCreated {
  key: string;
}
interface ProjectCreated {
  project: { id: string };
}
interface CapsuleGenerated {
  capsule: { fleet: { registration_token: string } };
}
interface DeviceRegistered {
  device_id: string;
  device_key: string;
}
interface LogPage {
  logs: LogView[];
  next_cursor: string | null;
}
interface TicketIssued {
  ticket: string;
}

export async function newOrg(tier: "free" | "pro" | "enterprise" = "pro") {
  const res = await call<OrgCreated>("POST", "/orgs", { token: ADMIN, body: { name: "Acme Robotics", tier } });
  if (res.status !== 201) throw new Error(`org: ${res.status} ${JSON.stringify(res.json)}`);
  return { orgId: res.json.org.id, adminKey: res.json.api_key.key };
}

export async function newKey(adminKey: string, role: "admin" | "operator" | "viewer") {
  const res = await call<KeyCreated>("POST", "/keys", { token: adminKey, body: { role, name: `${role} key` } });
  if (res.status !== 201) throw new Error(`key: ${res.status}`);
  return res.json.key;
}

export async function newProject(adminKey: string, name = "warehouse") {
  const res = await call<ProjectCreated>("POST", "/projects", { token: adminKey, body: { name } });
  if (res.status !== 201) throw new Error(`project: ${res.status}`);
  return res.json.project.id;
}

export async function capsule(adminKey: string, projectId: string, extra: Record<string, unknown> = {}) {
  const res = await call<CapsuleGenerated>("POST", "/capsules/generate", {
    token: adminKey,
    body: { project_id: projectId, device_type: "amr", environment: "production", ...extra },
  });
  if (res.status !== 201) throw new Error(`capsule: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json.capsule.fleet.registration_token;
}

export async function newDevice(
  adminKey: string,
  projectId: string,
  dsn = `SN-${crypto.randomUUID().slice(0, 8)}`,
  extra: Record<string, unknown> = {},
) {
  const token = await capsule(adminKey, projectId, extra);
  const res = await call<DeviceRegistered>("POST", "/fleet/register", { body: { dsn, registration_token: token } });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.json)}`);
  return { deviceId: res.json.device_id, deviceKey: res.json.device_key, dsn };
}

/** A whole tenant: org, admin and viewer keys, a project and one registered device. */
export async function tenant() {
  const { orgId, adminKey } = await newOrg();
  const viewerKey = await newKey(adminKey, "viewer");
  const projectId = await newProject(adminKey);
  const device = await newDevice(adminKey, projectId);
  return { orgId, adminKey, viewerKey, projectId, ...device };
}

/** Every line GET /logs answers for `query`, following next_cursor to the end. */
export async function allLogs(token: string, query: string): Promise<LogView[]> {
  const out: LogView[] = [];
  let cursor: string | null = null;
  do {
    const res: Answer<LogPage> = await call<LogPage>("GET", `/logs?${query}${cursor ? `&cursor=${cursor}` : ""}`, {
      token,
    });
    if (res.status !== 200) throw new Error(`GET /logs?${query}: ${res.status} ${JSON.stringify(res.json)}`);
    out.push(...res.json.logs);
    cursor = res.json.next_cursor;
  } while (cursor);
  return out;
}

/** `n` Loghub lines of one dataset, stamped one millisecond apart ending about now. */
export function loghubLines(
  dataset: string,
  n: number,
  opts: { endUs?: number; stepUs?: number; offset?: number } = {},
) {
  const sample = env.LOGHUB[dataset]!;
  const step = opts.stepUs ?? 1000;
  const end = opts.endUs ?? Date.now() * 1000 - 1_000_000;
  return Array.from({ length: n }, (_, i) => {
    const s = sample[((opts.offset ?? 0) + i) % sample.length]!;
    return { ...s, timestamp_us: end - (n - 1 - i) * step };
  });
}

/** One well-formed line, stamped now. */
export const line = (level: string, message: string, extra: Record<string, unknown> = {}) => ({
  timestamp: new Date().toISOString(),
  level,
  module: "test",
  message,
  ...extra,
});

export async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export const ingest = (deviceKey: string, body: unknown) => call("POST", "/logs/ingest", { token: deviceKey, body });

/** A WebSocket opened through the Worker, with its frames collected as parsed JSON. */
export async function openSocket(path: string, headers: Record<string, string> = {}) {
  const res = await exports.default.fetch(`${BASE}${path}`, { headers: { upgrade: "websocket", ...headers } });
  const ws = res.webSocket;
  const frames: LooseJson[] = [];
  const waiters: (() => void)[] = [];
  ws?.accept();
  ws?.addEventListener("message", (e) => {
    frames.push(JSON.parse(e.data as string) as LooseJson);
    for (const w of waiters.splice(0)) w();
  });
  /** Resolves once the frames satisfy `pred` (or rejects after `ms`). */
  const until = async (pred: (frames: LooseJson[]) => boolean, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!pred(frames)) {
      if (Date.now() > deadline) throw new Error(`timed out; frames: ${JSON.stringify(frames).slice(0, 500)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return frames;
  };
  const send = (frame: unknown) => ws!.send(JSON.stringify(frame));
  return { status: res.status, json: ws ? null : await res.json<LooseJson>(), ws, frames, until, send };
}

export async function tailTicket(token: string, projectId: string) {
  const res = await call<TicketIssued>("POST", "/logs/stream/ticket", { token, body: { project_id: projectId } });
  if (res.status !== 200) throw new Error(`ticket: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json.ticket;
}
