// One live-tail viewer's state, kept in its WebSocket's attachment so it survives hibernation.
//
// Flow control: each `logs` frame carries `seq`; the viewer acknowledges with
// {"type":"ack","seq":N}. A viewer with `window` frames unacknowledged is behind: lines for it
// are counted, not queued, and when it acknowledges again it first gets
// {"type":"dropped","count":N}. A slow viewer costs the others and ingest nothing.
import { type TailFilter, tailMatcher } from "../src/logs/tail-filter";
import type { LogView } from "../src/logs/present";

export const DEFAULT_WINDOW = 256;
export const MAX_WINDOW = 10_000;
/** Frames are split so no single send is huge. */
export const MAX_LINES_PER_FRAME = 500;

export interface ViewerState {
  filter: TailFilter;
  window: number;
  sent: number;
  acked: number;
  missed: number;
}

export function newViewer(filter: TailFilter, window = DEFAULT_WINDOW): ViewerState {
  return { filter, window: Math.min(Math.max(1, window), MAX_WINDOW), sent: 0, acked: 0, missed: 0 };
}

/** Sends the lines this viewer wants, or counts them as missed when it is behind. */
export function offer(ws: WebSocket, v: ViewerState, lines: LogView[], dropped: number): boolean {
  const wanted = lines.filter(tailMatcher(v.filter));
  if (wanted.length === 0 && dropped === 0) return false;
  v.missed += dropped;
  for (let i = 0; i < wanted.length; i += MAX_LINES_PER_FRAME) {
    const chunk = wanted.slice(i, i + MAX_LINES_PER_FRAME);
    if (v.sent - v.acked >= v.window) {
      v.missed += chunk.length;
      continue;
    }
    send(ws, { type: "logs", seq: ++v.sent, logs: chunk });
  }
  return true;
}

/** An acknowledgement: if the viewer had fallen behind, tell it how much it missed. */
export function acknowledge(ws: WebSocket, v: ViewerState, seq: number): void {
  v.acked = Math.min(Math.max(v.acked, seq), v.sent);
  if (v.missed > 0 && v.sent - v.acked < v.window) {
    send(ws, { type: "dropped", count: v.missed });
    v.missed = 0;
  }
}

export function send(ws: WebSocket, frame: unknown): void {
  try {
    ws.send(JSON.stringify(frame));
  } catch {
    // The socket is closing; its close handler cleans up.
  }
}
