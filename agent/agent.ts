// A small device agent for fleetbeat: registration, heartbeats, crash-safe log shipping and
// commands over HTTPS. Runs wherever fetch does (Node 18+, Deno, Bun, a Worker).
//
//   const agent = new FleetbeatAgent({ backendUrl, deviceKey, spool: new FileSpool(fs, "/var/lib/fleetbeat") });
//   agent.log("ERROR", "arm", "gripper stalled", { context: { joint: 3 } });
//   await agent.flush();           // or agent.start() to flush and heartbeat on a timer
import type { AckStatus } from "../src/contract/commands";
import type { Level } from "../src/contract/levels";
import type { ReportedStatus } from "../src/contract/presence";
import type { Spool, SpoolLine } from "./spool";

/** Answers that say the batch itself is wrong; sending it again would not help. */
const REFUSED = new Set([400, 413, 415]);

export interface Registration {
  device_id: string;
  device_key: string;
  project_id: string;
  heartbeat_interval_ms: number;
  log_upload: { max_lines: number; max_bytes: number };
}

export interface AgentOptions {
  /** The server's origin, e.g. https://fleet.example.com (the capsule's backend_url). */
  backendUrl: string;
  deviceKey: string;
  spool: Spool;
  /** Lines per batch; a segment is sealed when it has this many. Keep batches under the
   *  registration's log_upload.max_bytes: with very long lines, use fewer. */
  batchLines?: number;
  sessionId?: string;
  fetch?: (request: Request) => Promise<Response>;
  /** Called for a batch the backend refused as malformed or too large (400, 413, 415): it is dropped. */
  onRejectedBatch?: (batchId: string, status: number, body: unknown) => void;
}

export interface FlushResult {
  sent: number;
  accepted: number;
  duplicates: number;
  /** Lines the backend rejected one by one (bad level, timestamp, …). */
  rejected: number;
  /** True when a batch could not be delivered now (network, 5xx, 429): it stays spooled. */
  pending: boolean;
}

/** Trades a capsule's registration token for the device's id and key. */
export async function register(
  backendUrl: string,
  body: { dsn: string; registration_token: string; name?: string; device_type?: string; environment?: string; device_info?: Record<string, unknown> },
  fetcher: (request: Request) => Promise<Response> = (r) => fetch(r),
): Promise<Registration> {
  const res = await fetcher(
    new Request(`${backendUrl}/api/v1/fleet/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  );
  const json: any = await res.json();
  if (res.status !== 201) throw new Error(`registration failed (${res.status}): ${json?.error?.message ?? "unknown error"}`);
  return json;
}

export class FleetbeatAgent {
  private readonly batchLines: number;
  private readonly fetcher: (request: Request) => Promise<Response>;
  private flushing: Promise<FlushResult> | null = null;
  private timers: ReturnType<typeof setInterval>[] = [];
  sessionId: string | undefined;

  constructor(private readonly options: AgentOptions) {
    this.batchLines = options.batchLines ?? 1000;
    this.fetcher = options.fetch ?? ((r) => fetch(r));
    this.sessionId = options.sessionId;
  }

  /** Spools one line at once (it survives a crash from here on); seals a full batch. */
  log(level: Level, module: string, message: string, extra: Partial<Omit<SpoolLine, "level" | "module" | "message">> = {}): void {
    this.options.spool.append({ timestamp_us: extra.timestamp_us ?? Date.now() * 1000, level, module, message, ...extra });
    if (this.options.spool.openCount() >= this.batchLines) this.options.spool.seal();
  }

  /**
   * Sends every spooled line, oldest batch first, each under its own batch_id. A batch leaves
   * the spool only after the backend answered for it, so a crash anywhere means a resend that
   * the backend recognises as a duplicate. One flush runs at a time.
   */
  flush(): Promise<FlushResult> {
    this.flushing ??= this.sendAll().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async sendAll(): Promise<FlushResult> {
    const spool = this.options.spool;
    spool.seal();
    const result: FlushResult = { sent: 0, accepted: 0, duplicates: 0, rejected: 0, pending: false };
    for (const batchId of spool.sealed()) {
      const logs = spool.read(batchId);
      let res: Response;
      try {
        res = await this.call("POST", "/logs/ingest", { batch_id: batchId, ...(this.sessionId ? { session_id: this.sessionId } : {}), logs });
      } catch {
        result.pending = true;
        break;
      }
      if (!res.ok && !REFUSED.has(res.status)) {
        // 401/403 (a rotated or revoked key), 429, 5xx: keep the batch and try again later.
        result.pending = true;
        break;
      }
      const body: any = await res.json().catch(() => null);
      if (res.ok) {
        result.sent += logs.length;
        result.accepted += body.accepted;
        result.rejected += body.rejected.length;
        if (body.duplicate) result.duplicates++;
      } else {
        this.options.onRejectedBatch?.(batchId, res.status, body);
      }
      spool.remove(batchId);
    }
    return result;
  }

  async heartbeat(body: { status?: ReportedStatus; metrics?: Record<string, number> } = {}) {
    const res = await this.call("POST", "/fleet/heartbeat", { ...body, ...(this.sessionId ? { session_id: this.sessionId } : {}) });
    if (!res.ok) throw new Error(`heartbeat failed (${res.status})`);
    return (await res.json()) as { server_time: string; pending_commands: number };
  }

  async startSession(sessionId: string, name = sessionId) {
    const res = await this.call("POST", "/sessions", { session_id: sessionId, name });
    if (res.status !== 201 && res.status !== 200) throw new Error(`session failed (${res.status})`);
    this.sessionId = sessionId;
  }

  async endSession(status: "completed" | "failed" | "aborted") {
    if (!this.sessionId) return;
    await this.flush();
    const res = await this.call("PATCH", `/sessions/${encodeURIComponent(this.sessionId)}`, { status });
    if (!res.ok) throw new Error(`ending the session failed (${res.status})`);
    this.sessionId = undefined;
  }

  /** Commands queued for this device; the backend marks them delivered. */
  async commands(deviceId: string): Promise<{ id: string; command: string; params: unknown }[]> {
    const res = await this.call("GET", `/fleet/devices/${deviceId}/commands`);
    if (!res.ok) throw new Error(`command poll failed (${res.status})`);
    return ((await res.json()) as any).commands;
  }

  async ack(deviceId: string, commandId: string, status: AckStatus, result?: Record<string, unknown>) {
    const res = await this.call("POST", `/fleet/devices/${deviceId}/commands/${commandId}/ack`, { status, ...(result ? { result } : {}) });
    if (!res.ok && res.status !== 409) throw new Error(`ack failed (${res.status})`);
  }

  /** Flushes every `flushMs` and heartbeats every `heartbeatMs` until stop(). Errors wait for the next tick. */
  start(opts: { flushMs?: number; heartbeatMs?: number } = {}): void {
    this.timers.push(setInterval(() => void this.flush().catch(() => {}), opts.flushMs ?? 1000));
    this.timers.push(setInterval(() => void this.heartbeat().catch(() => {}), opts.heartbeatMs ?? 30_000));
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private call(method: string, path: string, body?: unknown): Promise<Response> {
    return this.fetcher(
      new Request(`${this.options.backendUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${this.options.deviceKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
  }
}
