// Heartbeats over the device socket, kept without a row of their own. Over the socket a device's
// presence is the connection itself; a heartbeat brings only its time, status and metrics, and
// counts (a message in, its ack out, a heartbeat). Those wait in memory and in the socket's
// attachment (which survives the object hibernating between frames, up to 2 KB), and are saved
// with the state when a delivery to the project is due (its sealing goes in the same row), at
// the latest after SOCKET_BEATS' bounds, or with any other change the object saves. The
// attachment also holds the delivery the project took after that save: the seal was saved
// before it went, and marking it taken waits for the next save, so without the mark a woken
// object would send it again and seal anew (two more rows each interval). When the object wakes,
// what the attachment holds is laid over the saved state again, so an eviction loses nothing.
// Heartbeats that change what people must see at once (the status, the current session) are
// saved at once like any other change.
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

/**
 * What the socket's attachment holds: the heartbeats since the state was last saved. Compact,
 * so ten minutes of heartbeats with a handful of metrics fit in its 2 KB: metric names once,
 * minutes by their offset from the first, each with its aggregates in the names' order.
 */
export interface Beats {
  /** How many, and the first and last time (ms). */
  n: number;
  first: number;
  last: number;
  /** The latest heartbeat's status and metrics (presence). */
  status: string;
  metrics: Record<string, number> | null;
  /** The metric names the minutes' aggregates follow. */
  names: string[];
  /**
   * Per minute (its offset in minutes from the first's): heartbeats, then each name's aggregate (0: none that
   * minute).
   */
  minutes: Record<string, [samples: number, ...aggregates: (Aggregate | 0)[]]>;
}

/**
 * What the socket's attachment holds: heartbeats not saved yet, and the delivery taken since the last save
 * (its sequence, when).
 */
export interface Held {
  beats: Beats | null;
  taken: [seq: number, at: number] | null;
}

/** The attachment as it was written: a Held, null, or (before the taken mark) the heartbeats alone. */
export function heldOf(attachment: unknown): Held {
  if (!attachment || typeof attachment !== "object") return { beats: null, taken: null };
  if ("n" in attachment) return { beats: attachment as Beats, taken: null };
  const held = attachment as Partial<Held>;
  return { beats: held.beats ?? null, taken: held.taken ?? null };
}

/** Sums kept to a thousandth: floating-point noise would otherwise fill the attachment. */
const tidy = (n: number) => Math.round(n * 1000) / 1000;

/** Adds one heartbeat to `beats` (a copy), or starts them. */
export function addBeat(
  beats: Beats | null,
  at: number,
  status: string,
  metrics: Record<string, number> | undefined,
): Beats {
  const b: Beats = beats
    ? structuredClone(beats)
    : { n: 0, first: at, last: at, status, metrics: null, names: [], minutes: {} };
  b.n++;
  b.last = at;
  b.status = status;
  if (metrics) b.metrics = metrics;
  const key = String(Math.floor(at / MINUTE_MS) - Math.floor(b.first / MINUTE_MS));
  const minute = (b.minutes[key] ??= [0]);
  minute[0]++;
  for (const [name, v] of Object.entries(metrics ?? {})) {
    let i = b.names.indexOf(name);
    if (i < 0) i = b.names.push(name) - 1;
    const a = minute[i + 1] as Aggregate | 0 | undefined;
    minute[i + 1] = a ? [tidy(a[0] + v), Math.min(a[1], v), Math.max(a[2], v), a[3] + 1] : [v, v, v, 1];
  }
  for (let i = 1; i < minute.length; i++) minute[i] ??= 0;
  return b;
}

/**
 * The held minutes as the metric history takes them: the minute's start (ms), its heartbeats, each metric's
 * aggregate.
 */
export function minutesOf(b: Beats): [minute: number, samples: number, data: Record<string, Aggregate>][] {
  const base = Math.floor(b.first / MINUTE_MS) * MINUTE_MS;
  return Object.entries(b.minutes).map(([offset, [samples, ...aggregates]]) => {
    const data: Record<string, Aggregate> = {};
    aggregates.forEach((a, i) => {
      if (a)
        Object.defineProperty(data, b.names[i]!, { value: a, enumerable: true, writable: true, configurable: true });
    });
    return [base + Number(offset) * MINUTE_MS, samples, data];
  });
}

/** Whether the heartbeats held should be saved now rather than carried further. */
export function saveDue(held: Held & { beats: Beats }, now: number): boolean {
  const b = held.beats;
  return (
    b.n >= SOCKET_BEATS.saveEvery ||
    now - b.first >= SOCKET_BEATS.saveAfterMs ||
    JSON.stringify(held).length > ATTACHMENT_MAX_BYTES
  );
}
