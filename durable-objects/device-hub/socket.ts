// The device's own WebSocket (GET /fleet/connect), held by its DeviceHub with the
// hibernation API. The device sends {"type":"logs", ...ingest body}, {"type":"heartbeat", ...}
// and {"type":"command_ack", command_id, status, result?}; each gets {"type":"ack", ...} with
// what HTTP would answer, or an error frame with the contract's error body (a message over
// MAX_FRAME_BYTES, 1 MiB, gets payload_too_large before it is parsed). Commands are pushed as
// {"type":"command", command} the moment they are queued.

import type { z } from "zod";
import {
  type AckOutcome,
  type AckStatus,
  ackRefusal,
  CommandAckFrame,
  type CommandRecord,
  presentCommand,
} from "../../src/contract/commands";
import { ApiError, errorBody } from "../../src/contract/errors";
import { Heartbeat } from "../../src/contract/fleet";
import { type AckBody, type DeviceFrame, errorFrame, parseFrame } from "../../src/contract/frames";
import type { HeartbeatOutcome } from "../../src/contract/presence";
import { sessionTaken } from "../../src/contract/sessions";
import type { UsageDelta } from "../../src/contract/usage";
import { parseOrThrow } from "../../src/contract/validation";
import { envelopeOf, type IngestBatch, type IngestOutcome, ingest } from "../../src/ingest/ingest";
import { closeQuietly } from "../sockets";

/** What the socket asks of its DeviceHub; the same work HTTP requests do. */
export interface DeviceActions {
  /** A logs frame's valid batch; it counts the frame and its ack (with the batch in its shard, or itself). */
  ingest(batch: IngestBatch): Promise<IngestOutcome>;
  /** A heartbeat frame; it counts itself and its ack (socket-beats.ts). */
  heartbeat(
    input: z.output<typeof Heartbeat>,
  ): Promise<HeartbeatOutcome & { live?: boolean; send_interval_s?: number }>;
  ackCommand(id: string, status: AckStatus, result: unknown): Promise<AckOutcome>;
  /** Queued commands, now marked delivered. */
  takeQueuedCommands(): CommandRecord[];
  count(delta: UsageDelta): void;
  /** Hands the project what it is owed (the counts of the frames just handled). */
  deliverOwed(): Promise<void>;
}

export class DeviceSocket {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly device: DeviceActions,
    private readonly hotWindowMs: number,
  ) {}

  accept(request: Request, deviceId: string, advice?: { live: boolean; send_interval_s: number }): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json(errorBody("bad_request", "expected a WebSocket upgrade"), { status: 426 });
    }
    // One live connection per device: a reconnect replaces the old socket.
    this.closeAll(4000, "replaced by a newer connection");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    this.send(server, { type: "ready", server_time: new Date().toISOString(), ...advice });
    this.pushCommands(deviceId);
    return new Response(null, { status: 101, webSocket: client });
  }

  async onMessage(ws: WebSocket, deviceId: string, message: string | ArrayBuffer): Promise<void> {
    let id: string | number | undefined;
    let counted = false;
    try {
      const frame = parseFrame(message);
      if (typeof frame !== "object" || frame === null || Array.isArray(frame))
        throw new ApiError("bad_request", "frames are JSON objects");
      const fields = frame as Record<string, unknown>;
      if (typeof fields.id === "string" || typeof fields.id === "number") id = fields.id;
      if (fields.type === "heartbeat") {
        // A heartbeat counts itself and its ack, and usually waits for a later save.
        counted = true;
        const outcome = await this.device.heartbeat(parseOrThrow(Heartbeat, fields, "body"));
        if (!outcome.ok) throw sessionTaken();
        const { live, send_interval_s } = outcome;
        const body = {
          of: "heartbeat",
          server_time: new Date(outcome.server_time).toISOString(),
          pending_commands: outcome.pending_commands,
          live,
          send_interval_s,
        } as const;
        this.send(ws, { type: "ack", ...(id !== undefined ? { id } : {}), ...body }, false);
        return;
      }
      // The frame and the one answer it gets, counted before the work (which saves them with its own);
      // a logs frame's go with its batch, from the moment the batch reaches the device (DeviceActions.ingest).
      if (fields.type !== "logs") this.device.count({ device_messages_in: 1, device_messages_out: 1 });
      counted = fields.type !== "logs";
      const body = await this.handle(deviceId, fields, () => (counted = true));
      this.send(ws, { type: "ack", ...(id !== undefined ? { id } : {}), ...body }, false);
    } catch (err) {
      if (!(err instanceof ApiError)) console.error("device frame failed", err);
      if (!counted) this.device.count({ device_messages_in: 1, device_messages_out: 1 });
      this.send(ws, errorFrame(err, id), false);
    }
    // The frames just counted travel now; the reply is already on its way.
    await this.device.deliverOwed();
  }

  private async handle(deviceId: string, frame: Record<string, unknown>, batchReached: () => void): Promise<AckBody> {
    switch (frame.type) {
      case "logs": {
        const answer = await ingest(envelopeOf(frame), this.hotWindowMs, (batch) => {
          batchReached();
          return this.device.ingest(batch);
        });
        return { of: "logs", ...answer };
      }
      case "command_ack": {
        const { command_id, status, result } = parseOrThrow(CommandAckFrame, frame, "body");
        const outcome = await this.device.ackCommand(command_id, status, result);
        if (!outcome.ok) throw ackRefusal(deviceId, outcome);
        return {
          of: "command_ack",
          command_id,
          status: outcome.command.status,
          command: presentCommand(deviceId, outcome.command),
        };
      }
      default:
        throw new ApiError("bad_request", 'type must be "logs", "heartbeat" or "command_ack"');
    }
  }

  /** Sends every queued command to the connected device, marking each delivered. */
  pushCommands(deviceId: string): void {
    const [ws] = this.ctx.getWebSockets();
    if (!ws) return;
    for (const row of this.device.takeQueuedCommands())
      this.send(ws, { type: "command", command: presentCommand(deviceId, row) });
  }

  /** Tells the connected device whether it is watched now, and how often to send its logs. */
  pushAdvice(advice: { live: boolean; send_interval_s: number }): void {
    const [ws] = this.ctx.getWebSockets();
    if (ws) this.send(ws, { type: "live", ...advice });
  }

  closeAll(code: number, reason: string): void {
    for (const ws of this.ctx.getWebSockets()) closeQuietly(ws, code, reason);
  }

  /** Sends a frame; a pushed one counts as a message out here, an answer was counted with its frame. */
  private send(ws: WebSocket, frame: DeviceFrame, count = true): void {
    try {
      ws.send(JSON.stringify(frame));
      if (count) this.device.count({ device_messages_out: 1 });
    } catch {
      // the socket is closing
    }
  }
}
