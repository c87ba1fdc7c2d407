// The device's WebSocket (GET /api/v1/fleet/connect): commands arrive the moment they are
// queued, the server says when someone starts or stops watching the device live, and batches
// and heartbeats can go over it while it is open. It needs a WebSocket that sends an
// Authorization header on its upgrade: Node 22's global WebSocket (undici) does; Node 20 has
// none, and there the agent stays on HTTP and polls for commands.
import { Backoff } from "./backoff.ts";

/** The server's answer to one frame: an ack, or an error frame in the contract's error shape. */
export type SocketAnswer =
  | ({ type: "ack"; id: number; of: string } & Record<string, unknown>)
  | { type: "error"; id: number; error: { code: string; message: string; details?: unknown } };

/** A command as the server pushes it (the same shape the HTTP poll returns). */
export interface PushedCommand {
  id: string;
  command: string;
  params?: unknown;
}

/** What the server pushes unasked: a command, or a change of whether the device is watched live. */
export type PushedFrame =
  | { type: "command"; command: PushedCommand }
  | { type: "live"; live?: unknown; send_interval_s?: unknown };

/** Undici's WebSocket takes headers in its second argument; the standard type does not say so. */
type HeaderedWebSocket = new (url: string, init: { headers: Record<string, string> }) => WebSocket;

export interface DeviceSocketOptions {
  backendUrl: string;
  deviceKey: string;
  onCommand: (command: PushedCommand) => void;
  /** Told when the socket opens (the server's ready frame) and when it closes. */
  onOpenChange?: (open: boolean) => void;
  /** How long a frame waits for its answer before it counts as lost (and goes again by HTTP). */
  answerTimeoutMs?: number;
}

export class DeviceSocket {
  /** Whether this runtime can hold the device socket at all. */
  static available(): boolean {
    return typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function" && typeof process !== "undefined";
  }

  private ws: WebSocket | null = null;
  private ready = false;
  private stopped = false;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (a: SocketAnswer) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }
  >();
  private readonly backoff = new Backoff({ baseMs: 1000, capMs: 30_000 });
  private readonly listeners = new Set<(frame: PushedFrame) => void>();

  constructor(private readonly options: DeviceSocketOptions) {}

  /** Calls `listener` with every frame the server pushes (before onCommand); returns its removal. */
  onPush(listener: (frame: PushedFrame) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True between the server's `ready` frame and the socket's close. */
  get open(): boolean {
    return this.ready;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.ws?.close(1000, "agent stopping");
    this.closed();
  }

  /** Sends a frame and waits for the server's answer to it. Rejects if the socket closes first. */
  request(frame: Record<string, unknown>): Promise<SocketAnswer> {
    if (!this.ready || !this.ws) return Promise.reject(new Error("the device socket is not open"));
    const id = this.nextId++;
    const ws = this.ws;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error("no answer over the device socket"));
      }, this.options.answerTimeoutMs ?? 30_000);
      this.waiting.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  private connect(): void {
    if (this.stopped) return;
    const url = new URL(`${this.options.backendUrl}/api/v1/fleet/connect`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const Socket = (globalThis as unknown as { WebSocket: HeaderedWebSocket }).WebSocket;
    const ws = new Socket(url.toString(), { headers: { authorization: `Bearer ${this.options.deviceKey}` } });
    this.ws = ws;
    ws.addEventListener("message", (event) => this.received(String(event.data)));
    ws.addEventListener("error", () => undefined); // a close follows
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.closed();
      if (this.stopped) return;
      this.backoff.failed();
      setTimeout(() => this.connect(), Math.max(0, this.backoff.retryAt - Date.now())).unref?.();
    });
  }

  private received(text: string): void {
    let frame: { type?: string; id?: number; command?: PushedCommand; live?: unknown; send_interval_s?: unknown };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "ready") {
      this.ready = true;
      // The ready frame says whether the device is watched already (someone opened its tail first).
      if ("live" in frame)
        for (const listener of this.listeners)
          listener({ type: "live", live: frame.live, send_interval_s: frame.send_interval_s });
      this.backoff.succeeded();
      this.options.onOpenChange?.(true);
    } else if (frame.type === "command" && frame.command) {
      for (const listener of this.listeners) listener({ type: "command", command: frame.command });
      this.options.onCommand(frame.command);
    } else if (frame.type === "live") {
      for (const listener of this.listeners)
        listener({ type: "live", live: frame.live, send_interval_s: frame.send_interval_s });
    } else if ((frame.type === "ack" || frame.type === "error") && typeof frame.id === "number") {
      const waiter = this.waiting.get(frame.id);
      if (!waiter) return;
      this.waiting.delete(frame.id);
      clearTimeout(waiter.timer);
      waiter.resolve(frame as SocketAnswer);
    }
  }

  private closed(): void {
    if (this.ready && !this.stopped) this.options.onOpenChange?.(false);
    this.ready = false;
    this.ws = null;
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error("the device socket closed"));
      this.waiting.delete(id);
    }
  }
}
