// A WebSocket through the Worker for the frame properties: every frame kept (JSON parsed, any
// other text as {raw}), the close seen, and a way to wait for the next frame that matches.
import { exports } from "cloudflare:workers";
import type { LooseJson } from "../helpers";

const BASE = "http://fleetbeat.test/api/v1";

export interface Socket {
  status: number;
  ws: WebSocket;
  frames: LooseJson[];
  closed: { code: number; reason: string } | null;
  send(frame: string | ArrayBuffer | Uint8Array): void;
  /** The index of the first frame at or after `from` that satisfies `pred`; rejects after `ms`. */
  next(from: number, pred: (frame: LooseJson) => boolean, ms?: number): Promise<number>;
  close(): void;
}

export async function connect(path: string, headers: Record<string, string> = {}): Promise<Socket> {
  const res = await exports.default.fetch(`${BASE}${path}`, { headers: { upgrade: "websocket", ...headers } });
  const ws = res.webSocket;
  if (!ws) throw new Error(`${path}: no WebSocket (${res.status}: ${await res.text()})`);
  ws.accept();
  let wake: (() => void)[] = [];
  const socket: Socket = {
    status: res.status,
    ws,
    frames: [],
    closed: null,
    send: (frame) => ws.send(frame),
    async next(from, pred, ms = 5000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const at = socket.frames.findIndex((f, i) => i >= from && pred(f));
        if (at >= 0) return at;
        if (socket.closed)
          throw new Error(
            `socket closed (${socket.closed.code} ${socket.closed.reason}); frames: ${JSON.stringify(socket.frames.slice(from))}`,
          );
        if (Date.now() > deadline)
          throw new Error(
            `no such frame within ${ms} ms; frames since: ${JSON.stringify(socket.frames.slice(from)).slice(0, 800)}`,
          );
        await new Promise<void>((r) => {
          wake.push(r);
          setTimeout(r, 50);
        });
      }
    },
    close: () => {
      try {
        ws.close(1000, "done");
      } catch {
        // already closed
      }
    },
  };
  const woken = () => {
    const w = wake;
    wake = [];
    for (const r of w) r();
  };
  ws.addEventListener("message", (e) => {
    const text = typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer);
    try {
      socket.frames.push(JSON.parse(text));
    } catch {
      socket.frames.push({ raw: text });
    }
    woken();
  });
  ws.addEventListener("close", (e) => {
    socket.closed = { code: e.code, reason: e.reason };
    woken();
  });
  return socket;
}
