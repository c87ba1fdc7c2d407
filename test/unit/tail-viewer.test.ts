// Live-tail flow control, one viewer at a time, with a socket that only records what it is sent.
// Times are plain milliseconds chosen by each test, so every limit is reached exactly.
import { describe, expect, it } from "vitest";
import {
  acknowledge,
  CLOSE_UNACKED,
  DEFAULT_WINDOW,
  DROPPED_REPORT_MS,
  MAX_LINES_PER_FRAME,
  MAX_WINDOW,
  newViewer,
  offer,
  reportDropped,
  send,
  UNACKED_BYTES_MAX,
  UNACKED_CAP_BYTES,
} from "../../durable-objects/tail-group/viewer";
import type { LogView } from "../../src/contract/log-view";

type Frame = { type: "logs"; seq: number; logs: LogView[] } | { type: "dropped"; count: number };

/** A WebSocket as the viewer code uses it: `send` only, recorded as parsed frames and bytes. */
class RecordingSocket {
  readonly texts: string[] = [];
  closing = false;
  closedWith: number | null = null;
  send(text: string) {
    if (this.closing) throw new TypeError("WebSocket is closing");
    this.texts.push(text);
  }
  close(code: number) {
    this.closing = true;
    this.closedWith = code;
  }
  get frames(): Frame[] {
    return this.texts.map((t) => JSON.parse(t) as Frame);
  }
  get logFrames() {
    return this.frames.filter((f) => f.type === "logs");
  }
  get droppedCounts() {
    return this.frames.flatMap((f) => (f.type === "dropped" ? [f.count] : []));
  }
  get logBytes() {
    return this.texts.filter((t) => t.startsWith('{"type":"logs"')).reduce((n, t) => n + t.length, 0);
  }
  asWebSocket() {
    return this as unknown as WebSocket;
  }
}

function logLine(n: number, overrides: Partial<LogView> = {}, messageChars = 20): LogView {
  return {
    id: `dev_A:${n}`,
    device_id: "dev_A",
    session_id: null,
    timestamp: "2026-11-25T10:00:00.000000Z",
    timestamp_us: 1_795_600_800_000_000 + n,
    level: "INFO",
    module: "arm",
    logger: null,
    message: `line ${n} `.padEnd(messageChars, "x"),
    thread_id: null,
    process_id: null,
    context: null,
    ...overrides,
  };
}

/** About 100 KB per frame: big enough to reach the byte limits in a few dozen frames. */
const bigLine = (n: number) => logLine(n, {}, 100_000);
/** The largest frame of one big line these tests send (ids and seqs stay below 99,999). */
const FRAME_BYTES = JSON.stringify({ type: "logs", seq: 99_999, logs: [bigLine(99_999)] }).length;

describe("a viewer that never acknowledges", () => {
  it("is sent lines as fast as they come until UNACKED_CAP_BYTES, then told what it missed and closed with 4008", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1");
    let offered = 0;
    while (ws.closedWith === null && offered < 1000) offer(ws.asWebSocket(), v, [bigLine(offered++)], 0, offered);

    expect(ws.closedWith).toBe(CLOSE_UNACKED);
    expect(ws.logBytes).toBeGreaterThanOrEqual(UNACKED_CAP_BYTES);
    expect(ws.logBytes).toBeLessThan(UNACKED_CAP_BYTES + FRAME_BYTES);
    // Every line it was offered is either in a frame or in the last dropped count.
    expect(ws.logFrames.length + ws.droppedCounts.reduce((a, b) => a + b, 0)).toBe(offered);
    expect(ws.frames.at(-1)).toEqual({ type: "dropped", count: 1 });
  });

  it("is never closed while it acknowledges what it gets, however much it reads", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1");
    for (let i = 0; i < 3 * Math.ceil(UNACKED_CAP_BYTES / FRAME_BYTES); i++) {
      offer(ws.asWebSocket(), v, [bigLine(i)], 0, i);
      acknowledge(ws.asWebSocket(), v, v.sent, i);
    }
    expect(ws.closedWith).toBeNull();
    expect(ws.logBytes).toBeGreaterThan(2 * UNACKED_CAP_BYTES);
    expect(ws.droppedCounts).toEqual([]);
  });
});

describe("a viewer that acknowledges", () => {
  it("is sent at most `window` unacknowledged frames, and more as it acknowledges", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1", 3);
    for (let i = 1; i <= 5; i++) offer(ws.asWebSocket(), v, [logLine(i)], 0, 0);
    expect(ws.logFrames.map((f) => f.seq)).toEqual([1, 2, 3]);

    acknowledge(ws.asWebSocket(), v, 2, 10);
    for (let i = 6; i <= 9; i++) offer(ws.asWebSocket(), v, [logLine(i)], 0, 10);
    expect(ws.logFrames.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(ws.logFrames.at(-1)!.logs[0]!.id).toBe("dev_A:7");
  });

  it("is held to about UNACKED_BYTES_MAX unacknowledged bytes, however wide its window", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1", MAX_WINDOW);
    for (let i = 0; i < 100; i++) offer(ws.asWebSocket(), v, [bigLine(i)], 0, 0);
    expect(ws.logBytes).toBeGreaterThanOrEqual(UNACKED_BYTES_MAX);
    expect(ws.logBytes).toBeLessThan(UNACKED_BYTES_MAX + FRAME_BYTES);
  });

  it("gets a window of DEFAULT_WINDOW once it acknowledges without having asked for one", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1");
    expect(v.acking).toBe(false);
    acknowledge(ws.asWebSocket(), v, 0, 0);
    for (let i = 0; i < DEFAULT_WINDOW + 10; i++) offer(ws.asWebSocket(), v, [logLine(i)], 0, 0);
    expect(ws.logFrames).toHaveLength(DEFAULT_WINDOW);
  });

  it("asks for a window between 1 and MAX_WINDOW, whatever it sends", () => {
    expect(newViewer({}, "key_1", 0).window).toBe(1);
    expect(newViewer({}, "key_1", -5).window).toBe(1);
    expect(newViewer({}, "key_1", MAX_WINDOW * 10).window).toBe(MAX_WINDOW);
    expect(newViewer({}, "key_1", 250)).toMatchObject({ window: 250, acking: true });
  });

  it("opens no more room by acknowledging frames it was never sent, nor loses room by acknowledging old ones", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1", 2);
    offer(ws.asWebSocket(), v, [logLine(1)], 0, 0);
    acknowledge(ws.asWebSocket(), v, 1_000, 0);
    acknowledge(ws.asWebSocket(), v, 0, 0);
    for (let i = 2; i <= 6; i++) offer(ws.asWebSocket(), v, [logLine(i)], 0, 0);
    expect(ws.logFrames.map((f) => f.seq)).toEqual([1, 2, 3]);
  });
});

describe("dropped reports", () => {
  it("come at most once a second while a viewer stays behind, and count every line it missed", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1", 1); // never acknowledges, so after one frame it is always behind
    const reportedAt: number[] = [];
    let offered = 0;
    const step = DROPPED_REPORT_MS / 10;
    for (let now = 0; now <= 3.5 * DROPPED_REPORT_MS; now += step) {
      const before = ws.droppedCounts.length;
      offer(ws.asWebSocket(), v, [logLine(offered++)], 0, now);
      if (ws.droppedCounts.length > before) reportedAt.push(now);
    }
    // The first loss is told at once, then one report per DROPPED_REPORT_MS with what it gathered.
    expect(reportedAt).toEqual([0, 1, 2, 3].map((k) => step + k * DROPPED_REPORT_MS));
    expect(ws.droppedCounts).toEqual([1, 10, 10, 10]);
    expect(ws.droppedCounts.reduce((a, b) => a + b, 0) + v.missed).toBe(offered - 1);
  });

  it("come at once when a viewer that fell behind acknowledges", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1", 1);
    offer(ws.asWebSocket(), v, [logLine(1)], 0, 0);
    offer(ws.asWebSocket(), v, [logLine(2)], 0, 0);
    offer(ws.asWebSocket(), v, [logLine(3), logLine(4)], 0, 10);
    expect(ws.droppedCounts).toEqual([1]);

    acknowledge(ws.asWebSocket(), v, 1, 20);
    expect(ws.droppedCounts).toEqual([1, 2]);
  });

  it("wait while an acknowledgement still leaves the viewer behind", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1", 2);
    for (let i = 1; i <= 4; i++) offer(ws.asWebSocket(), v, [logLine(i)], 0, 0);
    offer(ws.asWebSocket(), v, [logLine(5)], 0, 10);
    expect(ws.droppedCounts).toEqual([1]);

    acknowledge(ws.asWebSocket(), v, 0, 20);
    expect(ws.droppedCounts).toEqual([1]);
    expect(v.missed).toBe(2);
  });

  it("carry lines dropped before they reached the viewer, even with no line to send", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1");
    expect(offer(ws.asWebSocket(), v, [], 7, 0)).toBe(true);
    expect(ws.frames).toEqual([{ type: "dropped", count: 7 }]);
  });

  it("are not sent when nothing was missed", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1");
    expect(reportDropped(ws.asWebSocket(), v, 0, true)).toBe(false);
    expect(ws.frames).toEqual([]);
  });
});

describe("offer", () => {
  it("sends only the lines the viewer's filter wants, and nothing at all when none match", () => {
    const ws = new RecordingSocket();
    const v = newViewer({ level: ["ERROR"], q: "gripper" }, "key_1");
    const lines = [
      logLine(1, { level: "ERROR", message: "Gripper stalled" }),
      logLine(2, { level: "INFO", message: "gripper ok" }),
      logLine(3, { level: "ERROR", message: "battery low" }),
    ];
    expect(offer(ws.asWebSocket(), v, lines, 0, 0)).toBe(true);
    expect(ws.logFrames.map((f) => f.logs.map((l) => l.id))).toEqual([["dev_A:1"]]);

    expect(offer(ws.asWebSocket(), v, [lines[1]!, lines[2]!], 0, 0)).toBe(false);
    expect(ws.frames).toHaveLength(1);
  });

  it("splits many lines into frames of at most MAX_LINES_PER_FRAME, numbered in order", () => {
    const ws = new RecordingSocket();
    const v = newViewer({}, "key_1");
    const lines = Array.from({ length: 2 * MAX_LINES_PER_FRAME + 7 }, (_, i) => logLine(i));
    offer(ws.asWebSocket(), v, lines, 0, 0);
    expect(ws.logFrames.map((f) => [f.seq, f.logs.length])).toEqual([
      [1, MAX_LINES_PER_FRAME],
      [2, MAX_LINES_PER_FRAME],
      [3, 7],
    ]);
    expect(ws.logFrames.flatMap((f) => f.logs.map((l) => l.id))).toEqual(lines.map((l) => l.id));
  });

  it("does not throw when the socket is closing, and counts nothing as sent", () => {
    const ws = new RecordingSocket();
    ws.closing = true;
    const v = newViewer({}, "key_1");
    expect(send(ws.asWebSocket(), { type: "logs", seq: 1, logs: [] })).toBe(0);
    expect(() => offer(ws.asWebSocket(), v, [logLine(1)], 0, 0)).not.toThrow();
    expect(v.bytes).toBe(0);
  });
});
