// WebSocket frames, both sockets: the device's own (GET /fleet/connect) and the live tail
// (GET /logs/stream). Every error frame carries the contract's error body.
import { z } from "zod";
import { ApiError, errorBody } from "./errors";
import type { LogView } from "./log-view";
import { TailFilter } from "./tail-filter";
import { validationError } from "./validation";

/** Frames the server sends a device. `id` echoes the id of the frame being answered. */
export type DeviceFrame =
  | { type: "ready"; server_time: string; live?: boolean; send_interval_s?: number }
  | AckFrame
  | { type: "command"; command: unknown }
  | { type: "live"; live: boolean; send_interval_s: number }
  | ErrorFrame;

/** The answer to a device's frame: what HTTP would answer for the same work. */
type AckFrame = { type: "ack"; id?: string | number } & AckBody;
export type AckBody = { of: "logs" | "heartbeat" | "command_ack" } & Record<string, unknown>;

/** Frames the server sends a live-tail viewer. */
export type TailFrame =
  | {
      type: "ready";
      filter: TailFilter;
      flow: { window: number; unacked_cap_bytes: number } | { unacked_cap_bytes: number };
    }
  | { type: "logs"; seq: number; logs: LogView[] }
  | { type: "dropped"; count: number }
  | { type: "filter"; filter: TailFilter }
  | ErrorFrame;

export type ErrorFrame = { type: "error"; id?: string | number } & ReturnType<typeof errorBody>;

/** An error frame for any failure; what is not an ApiError is an internal error, without details. */
export function errorFrame(err: unknown, id?: string | number): ErrorFrame {
  const e = err instanceof ApiError ? err : new ApiError("internal", "internal error");
  return { type: "error", ...(id !== undefined ? { id } : {}), ...errorBody(e.code, e.message, e.details) };
}

/**
 * The most bytes one message to either socket may carry: Cloudflare's limit on a WebSocket
 * message a Worker receives, held here too, so `wrangler dev` (which takes more) answers alike.
 */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** A message's size as it crossed the wire: UTF-8 bytes for text, byteLength for binary. */
function frameBytes(message: string | ArrayBuffer): number {
  if (typeof message !== "string") return message.byteLength;
  // Every UTF-16 unit is at least one byte; counting the rest avoids encoding a copy.
  let bytes = message.length;
  for (let i = 0; i < message.length; i++) {
    const unit = message.charCodeAt(i);
    // 2 bytes up to U+07FF, 3 above; a surrogate pair (4 bytes) is two units of 2.
    if (unit >= 0x80) bytes += unit >= 0x800 && (unit < 0xd800 || unit > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

/** A socket frame's JSON; 413 past MAX_FRAME_BYTES (checked before parsing), 400 when it is not JSON. */
export function parseFrame(message: string | ArrayBuffer): unknown {
  const size = frameBytes(message);
  if (size > MAX_FRAME_BYTES) {
    throw new ApiError(
      "payload_too_large",
      `a frame is at most ${MAX_FRAME_BYTES} bytes (1 MiB); this one was ${size}`,
      { limit: MAX_FRAME_BYTES, size },
    );
  }
  try {
    return JSON.parse(typeof message === "string" ? message : new TextDecoder().decode(message));
  } catch {
    throw new ApiError("bad_request", "frames are JSON");
  }
}

// A viewer's frames. A filter change may come flat ({"type":"filter","level":[…]}) or nested the
// way the server echoes it ({"type":"filter","filter":{…}}); unknown keys are an error, never a
// silent reset.
export const ViewerMessage = z.preprocess(
  (m) =>
    m && typeof m === "object" && "filter" in m && m.filter !== null && typeof m.filter === "object"
      ? { type: (m as { type?: unknown }).type, ...m.filter }
      : m,
  z.discriminatedUnion("type", [
    z.object({ type: z.literal("ack"), seq: z.number().int().nonnegative() }),
    z
      .object({ type: z.literal("filter") })
      .extend(TailFilter.shape)
      .strict(),
  ]),
);

/** A viewer's frame, or the validation error to answer it with. */
export function parseViewerMessage(frame: unknown): z.output<typeof ViewerMessage> {
  const parsed = ViewerMessage.safeParse(frame);
  if (parsed.success) return parsed.data;
  throw validationError(parsed.error.issues);
}
