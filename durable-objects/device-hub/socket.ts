// The device's own WebSocket (GET /fleet/connect), held by its DeviceHub with the
// hibernation API. The device sends {"type":"logs", ...ingest body} and
// {"type":"heartbeat", ...}; each gets {"type":"ack", ...} with what HTTP would answer.
// Commands are pushed as {"type":"command", command} the moment they are queued.
import { ApiError } from "../../src/contract/errors";
import { envelopeOf } from "../../src/http/ingest-body";
import { validateLines } from "../../src/contract/log-line";
import { hotWindowMs } from "../../src/contract/limits";
import { parseOrThrow } from "../../src/http/validate";
import { CommandAckFrame } from "../../src/contract/commands";
import { Heartbeat } from "../../src/contract/fleet";
import { presentCommand } from "../../src/services/presenters";
import type { DeviceHub } from "./hub";

type Frame = Record<string, unknown>;

export class DeviceSocket {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly hub: DeviceHub,
    private readonly env: Env,
  ) {}

  accept(request: Request, deviceId: string): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: { code: "bad_request", message: "expected a WebSocket upgrade" } }, { status: 426 });
    }
    // One live connection per device: a reconnect replaces the old socket.
    this.closeAll(4000, "replaced by a newer connection");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    this.send(server, { type: "ready", server_time: new Date().toISOString() });
    this.pushCommands(deviceId);
    return new Response(null, { status: 101, webSocket: client });
  }

  async onMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.hub.count({ device_messages_in: 1 });
    const text = typeof message === "string" ? message : new TextDecoder().decode(message);
    let frame: Frame;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      frame = parsed as Frame;
    } catch {
      return this.send(ws, { type: "error", error: { code: "bad_request", message: "frames are JSON objects" } });
    }
    const id = typeof frame.id === "string" || typeof frame.id === "number" ? frame.id : undefined;
    try {
      this.send(ws, { type: "ack", ...(id !== undefined ? { id } : {}), ...(await this.handle(frame)) });
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError("internal", "internal error");
      if (!(err instanceof ApiError)) console.error("device frame failed", err);
      this.send(ws, { type: "error", ...(id !== undefined ? { id } : {}), error: { code: e.code, message: e.message, details: e.details } });
    }
    // The frames just counted travel now; the reply is already on its way.
    void this.hub.deliverOwed();
  }

  private async handle(frame: Frame): Promise<Frame> {
    switch (frame.type) {
      case "logs": {
        const envelope = envelopeOf(frame);
        const nowUs = Date.now() * 1000;
        const { lines, rejected } = validateLines(envelope.logs, nowUs, nowUs - hotWindowMs(this.env) * 1000);
        const outcome = await this.hub.ingest({ session_id: envelope.session_id, batch_id: envelope.batch_id, lines, rejected });
        if (!outcome.ok) throw new ApiError("conflict", "another device of this project already uses this session_id");
        return { of: "logs", ...outcome.answer };
      }
      case "heartbeat": {
        const { server_time, pending_commands } = await this.hub.heartbeat(parseOrThrow(Heartbeat, frame, "body"));
        return { of: "heartbeat", server_time: new Date(server_time).toISOString(), pending_commands };
      }
      case "command_ack": {
        const { command_id: commandId, status, result } = parseOrThrow(CommandAckFrame, frame, "body");
        const outcome = await this.hub.ackCommand(commandId, status, result);
        if (!outcome.ok) throw new ApiError(outcome.code, `command ${outcome.code.replace("_", " ")}`);
        return { of: "command_ack", command_id: commandId, status: outcome.command.status };
      }
      default:
        throw new ApiError("bad_request", 'type must be "logs", "heartbeat" or "command_ack"');
    }
  }

  /** Sends every queued command to the connected device, marking each delivered. */
  pushCommands(deviceId: string): void {
    const [ws] = this.ctx.getWebSockets();
    if (!ws) return;
    for (const row of this.hub.takeQueuedCommands()) this.send(ws, { type: "command", command: presentCommand(deviceId, row) });
  }

  closeAll(code: number, reason: string): void {
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.close(code, reason);
      } catch {
        // already closing
      }
    }
  }

  onClose(ws: WebSocket, code: number): void {
    try {
      ws.close(code === 1005 ? 1000 : code);
    } catch {
      // already closed
    }
  }

  private send(ws: WebSocket, frame: Frame): void {
    try {
      ws.send(JSON.stringify(frame));
      this.hub.count({ device_messages_out: 1 });
    } catch {
      // the socket is closing
    }
  }
}
