// Heartbeats over the device socket, kept without a row of their own. Over the socket a device's
// presence is the connection itself; a heartbeat brings only its time, status and metrics, and
// counts (a message in, its ack out, a heartbeat). Those wait in memory and in the socket's
// attachment (which survives the object hibernating between frames, up to 2 KB), and are saved
// with the state when a delivery to the project is due (its sealing goes in the same row), at
// the latest after SOCKET_BEATS' bounds, or with any other change the object saves. When the object wakes, what the attachment holds is laid over the saved state
// again, so an eviction loses nothing. Heartbeats that change what people must see at once (the
// status, the current session) are saved at once like any other change.
import { MINUTE_MS } from "./metrics";

/**
 * Heartbeats are saved when the device's counts are due at the project (every
 * DELIVERY.everyMs, 10 minutes: their sealing then goes in the same row), and at the latest
 * after `saveEvery` heartbeats or `saveAfterMs`; an open socket may stay silent `silenceMs`
 * before its device is offline (a closed one is seen at once). An object, so a test can run an
 * hour in seconds.
 */
export const SOCKET_BEATS = { saveEvery: 40, saveAfterMs: 20 * 60_000, silenceMs: 10 * 60_000 };
/** An attachment holds at most 2,048 bytes; past this size the state is saved instead. */
const ATTACHMENT_MAX_BYTES = 1_900;

type Aggregate = [sum: number, min: number, max: number, count: number];

/** What the socket's attachment holds: the heartbeats since the state was last saved. */
export interface Beats {
  /** How many, and the first and last time (ms). */
  n: number;
  first: number;
  last: number;
  /** The latest heartbeat's status and metrics (presence). */
  status: string;
  metrics: Record<string, number> | null;
  /** Per minute (ms): heartbeats, and each metric's aggregate. */
  minutes: Record<string, [number, Record<string, Aggregate>]>;
}

/** Adds one heartbeat to `beats` (a copy), or starts them. */
export function addBeat(beats: Beats | null, at: number, status: string, metrics: Record<string, number> | undefined): Beats {
  const b: Beats = beats ? structuredClone(beats) : { n: 0, first: at, last: at, status, metrics: null, minutes: {} };
  b.n++;
  b.last = at;
  b.status = status;
  if (metrics) b.metrics = metrics;
  const minute = String(at - (at % MINUTE_MS));
  const [samples, data] = b.minutes[minute] ?? [0, {}];
  for (const [name, v] of Object.entries(metrics ?? {})) {
    const a = Object.hasOwn(data, name) ? data[name] : undefined;
    const value: Aggregate = a ? [a[0] + v, Math.min(a[1], v), Math.max(a[2], v), a[3] + 1] : [v, v, v, 1];
    Object.defineProperty(data, name, { value, enumerable: true, writable: true, configurable: true });
  }
  b.minutes[minute] = [samples + 1, data];
  return b;
}

/** Whether the heartbeats held should be saved now rather than carried further. */
export function saveDue(b: Beats, now: number): boolean {
  return b.n >= SOCKET_BEATS.saveEvery || now - b.first >= SOCKET_BEATS.saveAfterMs || JSON.stringify(b).length > ATTACHMENT_MAX_BYTES;
}
