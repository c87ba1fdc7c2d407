// One live-tail viewer's state, kept in its WebSocket's attachment so it survives hibernation.
//
// Workers' WebSockets do not expose how much is still unsent, so flow control is explicit,
// and a viewer's cost is counted in what it has not acknowledged:
// - A viewer that acknowledges frames ({"type":"ack","seq":N}), or asked for a `window`, is
//   held to `window` unacknowledged frames and about UNACKED_BYTES_MAX unacknowledged bytes.
// - A viewer sent UNACKED_CAP_BYTES since its last acknowledgement is told what it missed and
//   closed with CLOSE_UNACKED (4008); it may reconnect. So a viewer that stops reading costs
//   at most that many bytes, and one that never acknowledges is closed at the cap, however
//   fast it reads.
// Lines for a viewer past its limit are counted, not queued, and it is told
// {"type":"dropped","count":N}: at once the first time, then at most once a second while it
// stays behind, and at once when it acknowledges again. A slow viewer costs the others and
// ingest nothing.
import type { TailFrame } from "../../src/contract/frames";
import type { LogView } from "../../src/contract/log-view";
import { type TailFilter, tailMatcher } from "../../src/contract/tail-filter";
import { closeQuietly } from "../sockets";

export const DEFAULT_WINDOW = 1000;
export const MAX_WINDOW = 10_000;
/** What an acknowledging viewer may have unacknowledged, estimated from its average frame size. */
export const UNACKED_BYTES_MAX = 1024 * 1024;
/** Bytes sent since the last acknowledgement past which a viewer is closed. */
export const UNACKED_CAP_BYTES = 4 * 1024 * 1024;
/** The close code for a viewer past UNACKED_CAP_BYTES (the contract's). */
export const CLOSE_UNACKED = 4008;
/** Frames are split so no single send is huge. */
export const MAX_LINES_PER_FRAME = 500;
/** A viewer that stays behind hears about its losses at most this often. */
export const DROPPED_REPORT_MS = 1000;

export interface ViewerState {
  filter: TailFilter;
  /** The org key whose ticket opened this stream: revoking the key closes it. */
  keyId: string;
  /** Flow control by acknowledgements (true once the viewer acks, or when it set a window). */
  acking: boolean;
  window: number;
  sent: number;
  acked: number;
  bytes: number;
  /** Bytes sent since the viewer last acknowledged anything. */
  sinceAck: number;
  missed: number;
  /** When the viewer may next be sent a `dropped` report without having acknowledged. */
  reportAt: number;
}

export function newViewer(filter: TailFilter, keyId: string, window?: number): ViewerState {
  return {
    filter,
    keyId,
    acking: window !== undefined,
    window: Math.min(Math.max(1, window ?? DEFAULT_WINDOW), MAX_WINDOW),
    sent: 0,
    acked: 0,
    bytes: 0,
    sinceAck: 0,
    missed: 0,
    reportAt: 0,
  };
}

/** Whether an acknowledging viewer has its window full; one that does not acknowledge never is. */
function behind(v: ViewerState): boolean {
  if (!v.acking) return false;
  const unacked = v.sent - v.acked;
  return unacked >= v.window || (v.sent > 0 && (unacked * v.bytes) / v.sent >= UNACKED_BYTES_MAX);
}

/**
 * Sends the lines this viewer wants, or counts them as missed when it is behind. Answers
 * whether the state changed, or "closed" when the viewer passed the cap and was closed.
 */
export function offer(
  ws: WebSocket,
  v: ViewerState,
  lines: LogView[],
  dropped: number,
  now: number,
): boolean | "closed" {
  const wanted = lines.filter(tailMatcher(v.filter));
  if (wanted.length === 0 && dropped === 0) return false;
  v.missed += dropped;
  for (let i = 0; i < wanted.length; i += MAX_LINES_PER_FRAME) {
    const chunk = wanted.slice(i, i + MAX_LINES_PER_FRAME);
    if (v.sinceAck >= UNACKED_CAP_BYTES) {
      v.missed += wanted.length - i;
      closeUnacked(ws, v);
      return "closed";
    }
    if (behind(v)) {
      v.missed += chunk.length;
      continue;
    }
    const size = send(ws, { type: "logs", seq: ++v.sent, logs: chunk });
    v.bytes += size;
    v.sinceAck += size;
  }
  reportDropped(ws, v, now);
  return true;
}

/** Past the cap: the viewer hears what it missed, then the socket closes; it may reconnect. */
function closeUnacked(ws: WebSocket, v: ViewerState): void {
  send(ws, { type: "dropped", count: v.missed });
  v.missed = 0;
  closeQuietly(ws, CLOSE_UNACKED, "unacknowledged bytes passed the cap; acknowledge frames, then reconnect");
}

/** Tells the viewer what it missed, if anything, unless it was told less than a second ago. */
export function reportDropped(ws: WebSocket, v: ViewerState, now: number, force = false): boolean {
  if (v.missed === 0 || (!force && now < v.reportAt)) return false;
  send(ws, { type: "dropped", count: v.missed });
  v.missed = 0;
  v.reportAt = now + DROPPED_REPORT_MS;
  return true;
}

/** An acknowledgement: from now on the window governs; if it had fallen behind, say how much it missed. */
export function acknowledge(ws: WebSocket, v: ViewerState, seq: number, now: number): void {
  v.acking = true;
  v.acked = Math.min(Math.max(v.acked, seq), v.sent);
  v.sinceAck = 0;
  if (!behind(v)) reportDropped(ws, v, now, true);
}

/** Sends a frame; answers its size in bytes (0 if the socket is closing). */
export function send(ws: WebSocket, frame: TailFrame): number {
  const text = JSON.stringify(frame);
  try {
    ws.send(text);
    return text.length;
  } catch {
    // The socket is closing; its close handler cleans up.
    return 0;
  }
}
