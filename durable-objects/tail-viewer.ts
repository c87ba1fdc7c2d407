// One live-tail viewer's state, kept in its WebSocket's attachment so it survives hibernation.
//
// Flow control: each `logs` frame carries `seq`; the viewer acknowledges with
// {"type":"ack","seq":N}. Workers' WebSockets do not expose how much is still unsent, so a
// viewer is "behind" when it has `window` frames, or about UNACKED_BYTES_MAX bytes,
// unacknowledged. Lines for a viewer that is behind are counted, not queued, and it is told
// {"type":"dropped","count":N}: at once when it acknowledges again, and otherwise at most
// once a second while it stays behind. A slow viewer costs the others and ingest nothing.
import { type TailFilter, tailMatcher } from "../src/logs/tail-filter";
import type { LogView } from "../src/logs/present";

export const DEFAULT_WINDOW = 1000;
export const MAX_WINDOW = 10_000;
/** What a viewer may have unacknowledged, estimated from its average frame size. */
export const UNACKED_BYTES_MAX = 1024 * 1024;
/** Frames are split so no single send is huge. */
export const MAX_LINES_PER_FRAME = 500;
/** A viewer that stays behind hears about its losses at most this often. */
export const DROPPED_REPORT_MS = 1000;

export interface ViewerState {
  filter: TailFilter;
  window: number;
  sent: number;
  acked: number;
  bytes: number;
  missed: number;
  /** When the viewer may next be sent a `dropped` report without having acknowledged. */
  reportAt: number;
}

export function newViewer(filter: TailFilter, window = DEFAULT_WINDOW): ViewerState {
  return { filter, window: Math.min(Math.max(1, window), MAX_WINDOW), sent: 0, acked: 0, bytes: 0, missed: 0, reportAt: 0 };
}

function behind(v: ViewerState): boolean {
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
    if (behind(v)) {
      v.missed += chunk.length;
      continue;
    }
    v.bytes += send(ws, { type: "logs", seq: ++v.sent, logs: chunk });
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

/** An acknowledgement: if the viewer had fallen behind, tell it how much it missed. */
export function acknowledge(ws: WebSocket, v: ViewerState, seq: number, now: number): void {
  v.acked = Math.min(Math.max(v.acked, seq), v.sent);
  if (!behind(v)) reportDropped(ws, v, now, true);
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
