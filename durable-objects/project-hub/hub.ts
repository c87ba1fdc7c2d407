// ProjectHub: one Durable Object per project. It holds the project's exact usage counters
// (fed by each DeviceHub's outbox) and the live-tail viewers (hibernating WebSockets with
// their filters in their attachments).
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import type { LogView } from "../../src/contract/log-view";
import { TailFilter } from "../../src/contract/tail-filter";
import { sha256 } from "../../src/lib/crypto";
import { hotWindowMs } from "../../src/contract/limits";
import { hourOf } from "../device-hub/hours";
import { PROJECT_SCHEMA } from "./schema";
import { migrate } from "../sql-migrations";
import {
  BURST_BYTES,
  DROPPED_REPORT_MS,
  RATE_BYTES_PER_S,
  type ViewerState,
  acknowledge,
  newViewer,
  offer,
  reportDropped,
  send,
} from "./tail-viewer";
import { type OutboxRow, USAGE_FIELDS, type UsageField } from "../device-hub/outbox";

export const TICKET_TTL_MS = 60_000;
/** Beyond this many viewers a project refuses new ones (429). */
export const MAX_VIEWERS = 1000;

export type UsageCounters = Record<UsageField, number>;

// A filter change may come flat ({"type":"filter","level":[…]}) or nested the way the server
// echoes it ({"type":"filter","filter":{…}}); unknown keys are an error, never a silent reset.
const ViewerMessage = z.preprocess(
  (m) =>
    m && typeof m === "object" && "filter" in m && m.filter !== null && typeof m.filter === "object"
      ? { type: (m as { type?: unknown }).type, ...m.filter }
      : m,
  z.discriminatedUnion("type", [
    z.object({ type: z.literal("ack"), seq: z.number().int().nonnegative() }),
    z.object({ type: z.literal("filter") }).extend(TailFilter.shape).strict(),
  ]),
);

export class ProjectHub extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, PROJECT_SCHEMA);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /**
   * A device's delivery: its sealed outbox rows (applied at most once per sequence) and the
   * lines just accepted, fanned out to the viewers. Answers how many viewers are watching.
   */
  async deliver(deviceId: string, rows: OutboxRow[], lines: LogView[], dropped = 0): Promise<{ viewers: number }> {
    if (rows.length > 0) this.applyUsage(deviceId, rows);
    const sockets = this.ctx.getWebSockets();
    if (lines.length > 0 || dropped > 0) {
      const now = Date.now();
      let unreported = false;
      for (const ws of sockets) {
        const v = ws.deserializeAttachment() as ViewerState;
        if (offer(ws, v, lines, dropped, now)) ws.serializeAttachment(v);
        unreported ||= v.missed > 0;
      }
      // Losses not yet reported (a viewer was told less than a second ago) go out by alarm.
      if (unreported && (await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + DROPPED_REPORT_MS);
    }
    return { viewers: sockets.length };
  }

  /** Sends each viewer that is still behind the count of what it missed since it was last told. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    let unreported = false;
    for (const ws of this.ctx.getWebSockets()) {
      const v = ws.deserializeAttachment() as ViewerState;
      if (reportDropped(ws, v, now)) ws.serializeAttachment(v);
      unreported ||= v.missed > 0;
    }
    if (unreported) await this.ctx.storage.setAlarm(now + DROPPED_REPORT_MS);
  }

  private applyUsage(deviceId: string, rows: OutboxRow[]): void {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      const last = sql.exec<{ seq: number }>("SELECT seq FROM device_seqs WHERE device_id = ?", deviceId).toArray()[0]?.seq ?? 0;
      const fresh = rows.filter((r) => r.seq > last);
      if (fresh.length === 0) return;
      for (const r of fresh) {
        sql.exec(
          `INSERT INTO usage_days (day, ${USAGE_FIELDS.join(", ")}) VALUES (?, ${USAGE_FIELDS.map(() => "?").join(", ")})
           ON CONFLICT (day) DO UPDATE SET ${USAGE_FIELDS.map((f) => `${f} = ${f} + excluded.${f}`).join(", ")}`,
          r.day,
          ...USAGE_FIELDS.map((f) => r[f]),
        );
        sql.exec("INSERT OR IGNORE INTO active_devices (month, device_id) VALUES (?, ?)", r.day.slice(0, 7), deviceId);
      }
      const top = Math.max(...fresh.map((r) => r.seq));
      sql.exec(
        "INSERT INTO device_seqs (device_id, seq) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq",
        deviceId,
        top,
      );
    });
  }

  /** Records that a device has lines in these event-time hours (see log-hours.ts). */
  async indexHours(deviceId: string, hours: number[]): Promise<void> {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const h of hours) sql.exec("INSERT OR IGNORE INTO device_hours (hour, device_id) VALUES (?, ?)", h, deviceId);
      // Hours past the hot window (with a day's margin) hold no searchable line any more.
      sql.exec("DELETE FROM device_hours WHERE hour < ?", hourOf((Date.now() - hotWindowMs(this.env)) * 1000) - 24);
    });
  }

  /** Devices with lines whose event time falls in [fromHour, toHour]. */
  async devicesWithLines(fromHour: number, toHour: number): Promise<string[]> {
    return this.ctx.storage.sql
      .exec<{ device_id: string }>(
        "SELECT DISTINCT device_id FROM device_hours WHERE hour BETWEEN ? AND ? ORDER BY device_id",
        fromHour,
        toHour,
      )
      .toArray()
      .map((r) => r.device_id);
  }

  /** Counters of one month (YYYY-MM) and of one day (YYYY-MM-DD), by day of receipt. */
  async usage(month: string, day: string): Promise<{ month: UsageCounters; today: UsageCounters; active_devices: number }> {
    const sql = this.ctx.storage.sql;
    const sums = USAGE_FIELDS.map((f) => `coalesce(sum(${f}), 0) AS ${f}`).join(", ");
    const monthRow = sql.exec<UsageCounters>(`SELECT ${sums} FROM usage_days WHERE day >= ? AND day < ?`, `${month}-01`, `${month}-32`).one();
    const dayRow = sql.exec<UsageCounters>(`SELECT ${sums} FROM usage_days WHERE day = ?`, day).one();
    const active = sql.exec<{ n: number }>("SELECT count(*) AS n FROM active_devices WHERE month = ?", month).one().n;
    return { month: { ...monthRow }, today: { ...dayRow }, active_devices: active };
  }

  /** A single-use ticket for the live tail, valid TICKET_TTL_MS. */
  async mintTicket(secret: string): Promise<number> {
    const now = Date.now();
    const expiresAt = now + TICKET_TTL_MS;
    this.ctx.storage.sql.exec("DELETE FROM tickets WHERE expires_at < ?", now);
    this.ctx.storage.sql.exec("INSERT INTO tickets (hash, expires_at) VALUES (?, ?)", await sha256(secret), expiresAt);
    return expiresAt;
  }

  /** The live-tail WebSocket. The Worker has validated the filter; the ticket is checked (and used up) here. */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const ticket = url.searchParams.get("ticket") ?? "";
    const used = this.ctx.storage.sql
      .exec("DELETE FROM tickets WHERE hash = ? AND expires_at >= ? RETURNING hash", await sha256(ticket), Date.now())
      .toArray();
    if (used.length === 0) return errorResponse(401, "unauthorized", "ticket is unknown, used or expired");
    if (this.ctx.getWebSockets().length >= MAX_VIEWERS) {
      return errorResponse(429, "rate_limited", `at most ${MAX_VIEWERS} live viewers per project`);
    }
    const filter = TailFilter.parse(JSON.parse(decodeURIComponent(request.headers.get("x-tail-filter") ?? "%7B%7D")));
    const viewer = newViewer(filter, Date.now(), Number(url.searchParams.get("window") ?? undefined) || undefined);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment(viewer);
    send(server, { type: "ready", filter, flow: viewer.acking ? { window: viewer.window } : { rate_bytes_per_s: RATE_BYTES_PER_S, burst_bytes: BURST_BYTES } });
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    let parsed: z.ZodSafeParseResult<z.output<typeof ViewerMessage>>;
    try {
      parsed = ViewerMessage.safeParse(JSON.parse(typeof message === "string" ? message : new TextDecoder().decode(message)));
    } catch {
      send(ws, { type: "error", error: { code: "bad_request", message: "frames are JSON" } });
      return;
    }
    if (!parsed.success) {
      const details = parsed.error.issues.map((i) => ({ path: i.path.join(".") || "(root)", message: i.message, code: i.code }));
      send(ws, { type: "error", error: { code: "validation_failed", message: details.map((d) => `${d.path}: ${d.message}`).join("; "), details } });
      return;
    }
    const v = ws.deserializeAttachment() as ViewerState;
    const msg = parsed.data;
    if (msg.type === "ack") acknowledge(ws, v, msg.seq, Date.now());
    else {
      const { type: _type, ...filter } = msg;
      v.filter = filter;
      send(ws, { type: "filter", filter });
    }
    ws.serializeAttachment(v);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code);
    } catch {
      // already closed
    }
  }
}

function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}
