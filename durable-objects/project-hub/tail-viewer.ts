// One live-tail viewer's state, kept in its WebSocket's attachment so it survives hibernation.
//
// Workers' WebSockets do not expose how much is still unsent, so flow control is explicit:
// - A viewer that acknowledges frames ({"type":"ack","seq":N}), or asked for a `window`, is
//   held to `window` unacknowledged frames and about UNACKED_BYTES_MAX unacknowledged bytes.
// - A viewer that never acknowledges is held to a rate instead: RATE_BYTES_PER_S, with
//   bursts up to BURST_BYTES; a fast reader is never cut off, a stuck one costs bounded bytes.
// Lines for a viewer past its limit are counted, not queued, and it is told
// {"type":"dropped","count":N}: at once the first time, then at most once a second while it
// stays behind, and at once when it acknowledges again. A slow viewer costs the others and
// ingest nothing.
import { type TailFilter, tailMatcher } from "../../src/contract/tail-filter";
import type { LogView } from "../../src/contract/log-view";

export const DEFAULT_WINDOW = 1000;
export const MAX_WINDOW = 10_000;
/** What an acknowledging viewer may have unacknowledged, estimated from its average frame size. */
export const UNACKED_BYTES_MAX = 1024 * 1024;
/** What a viewer that does not acknowledge may receive: a steady rate and a burst. */
export const RATE_BYTES_PER_S = 1024 * 1024;
export const BURST_BYTES = 4 * 1024 * 1024;
/** Frames are split so no single send is huge. */
export const MAX_LINES_PER_FRAME = 500;
/** A viewer that stays behind hears about its losses at most this often. */
export const DROPPED_REPORT_MS = 1000;

export interface ViewerState {
  filter: TailFilter;
  /** Flow control by acknowledgements (true once the viewer acks, or when it set a window). */
  acking: boolean;
  window: number;
  sent: number;
  acked: number;
  bytes: number;
  /** The byte budget of a viewer that does not acknowledge, and when it was last refilled. */
  tokens: number;
  refilledAt: number;
  missed: number;
  /** When the viewer may next be sent a `dropped` report without having acknowledged. */
  reportAt: number;
}

export function newViewer(filter: TailFilter, now: number, window?: number): ViewerState {
  return {
    filter,
    acking: window !== undefined,
    window: Math.min(Math.max(1, window ?? DEFAULT_WINDOW), MAX_WINDOW),
    sent: 0,
    acked: 0,
    bytes: 0,
    tokens: BURST_BYTES,
    refilledAt: now,
    missed: 0,
    reportAt: 0,
  };
}

function behind(v: ViewerState, now: number): boolean {
  if (!v.acking) {
    v.tokens = Math.min(BURST_BYTES, v.tokens + ((now - v.refilledAt) * RATE_BYTES_PER_S) / 1000);
    v.refilledAt = now;
    return v.tokens <= 0;
  }
  const unacked = v.sent - v.acked;
  return unacked >= v.window || (v.sent > 0 && (unacked * v.bytes) / v.sent >= UNACKED_BYTES_MAX);
}

/** Sends the lines this viewer wants, or counts them as missed when it is behind. */
export function offer(ws: WebSocket, v: ViewerState, lines: LogView[], dropped: number, now: number): boolean {
  const wanted = lines.filter(tailMatcher(v.filter));
  if (wanted.length === 0 && dropped === 0) return false;
  v.missed += dropped;
  for (let i = 0; i < wanted.length; i += MAX_LINES_PER_FRAME) {
    const chunk = wanted.slice(i, i + MAX_LINES_PER_FRAME);
    if (behind(v, now)) {
      v.missed += chunk.length;
      continue;
    }
    const size = send(ws, { type: "logs", seq: ++v.sent, logs: chunk });
    v.bytes += size;
    if (!v.acking) v.tokens -= size;
  }
  reportDropped(ws, v, now);
  return true;
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
  if (!behind(v, now)) reportDropped(ws, v, now, true);
}

/** Sends a frame; answers its size in bytes (0 if the socket is closing). */
export function send(ws: WebSocket, frame: unknown): number {
  const text = JSON.stringify(frame);
  try {
    ws.send(text);
    return text.length;
  } catch {
    // The socket is closing; its close handler cleans up.
    return 0;
  }
}
