// The project's live-tail viewers: hibernating WebSockets, each with its filter and flow
// state in its attachment (see tail-viewer.ts). Lines from every device of the project are
// offered to each viewer; losses not yet reported go out by the alarm.
import { errorBody } from "../../src/contract/errors";
import { type TailFrame, errorFrame, parseFrame, parseViewerMessage } from "../../src/contract/frames";
import type { LogView } from "../../src/contract/log-view";
import { TailFilter } from "../../src/contract/tail-filter";
import { closeQuietly } from "../sockets";
import type { Kv } from "../storage";
import { type Coverage, coverageOf } from "./watchers";
import type { Timers } from "../timers";
import { DROPPED_REPORT_MS, UNACKED_CAP_BYTES, type ViewerState, acknowledge, newViewer, offer, reportDropped, send } from "./tail-viewer";

/** Beyond this many viewers a project refuses new ones (429). */
const MAX_VIEWERS = 1000;

const REPORT_AT_KEY = "dropped_report_at";

export class LiveTail {
  constructor(
    private readonly ctx: DurableObjectState,
    /** The object's counted key-value store (../storage.ts). */
    private readonly kv: Kv,
    timers: Timers,
  ) {
    timers.add({ name: "dropped reports", due: () => this.reportAt, fire: (now) => this.reportDropped(now) });
  }

  /** When a viewer still has losses it was not told about (kept, so hibernation forgets none). */
  private get reportAt(): number | null {
    return this.kv.get<number>(REPORT_AT_KEY) ?? null;
  }

  private set reportAt(at: number | null) {
    if (at === null) this.kv.delete(REPORT_AT_KEY);
    else this.kv.put(REPORT_AT_KEY, at);
  }

  get viewers(): number {
    return this.ctx.getWebSockets().length;
  }

  /** The devices the open viewers watch, with or without `leaving` (a socket on its way out, whatever its state). */
  coverage(leaving?: { ws: WebSocket; counted: boolean }): Coverage {
    // The socket a close handler is given may already be gone from the object's list.
    const open = this.ctx.getWebSockets().filter((ws) => ws !== leaving?.ws && ws.readyState !== WebSocket.CLOSED);
    if (leaving?.counted) open.push(leaving.ws);
    return coverageOf(open.map((ws) => (ws.deserializeAttachment() as ViewerState).filter));
  }

  /** A new viewer for an org key, its filter already validated by the Worker. */
  accept(filter: TailFilter, keyId: string, window: number | undefined): Response {
    if (this.viewers >= MAX_VIEWERS) {
      return Response.json(errorBody("rate_limited", `at most ${MAX_VIEWERS} live viewers per project`), { status: 429 });
    }
    const viewer = newViewer(filter, keyId, window);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment(viewer);
    const flow = viewer.acking ? { window: viewer.window, unacked_cap_bytes: UNACKED_CAP_BYTES } : { unacked_cap_bytes: UNACKED_CAP_BYTES };
    send(server, { type: "ready", filter, flow } satisfies TailFrame);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Offers lines (and a count of lines lost on the way) to every viewer. */
  offer(lines: LogView[], dropped: number): void {
    const now = Date.now();
    let unreported = false;
    for (const ws of this.ctx.getWebSockets()) {
      const v = ws.deserializeAttachment() as ViewerState;
      const outcome = offer(ws, v, lines, dropped, now);
      if (outcome === "closed") continue;
      if (outcome) ws.serializeAttachment(v);
      unreported ||= v.missed > 0;
    }
    // A viewer told less than a second ago hears of the rest by alarm.
    if (unreported && this.reportAt === null) this.reportAt = now + DROPPED_REPORT_MS;
  }

  /** A viewer's frame: an acknowledgement or a new filter. Bad frames get an error frame. */
  onMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    let msg: ReturnType<typeof parseViewerMessage>;
    try {
      msg = parseViewerMessage(parseFrame(message));
    } catch (err) {
      send(ws, errorFrame(err));
      return;
    }
    const v = ws.deserializeAttachment() as ViewerState;
    if (msg.type === "ack") acknowledge(ws, v, msg.seq, Date.now());
    else {
      const { type: _type, ...filter } = msg;
      v.filter = filter;
      send(ws, { type: "filter", filter } satisfies TailFrame);
    }
    ws.serializeAttachment(v);
  }

  /** Closes the viewers a key opened (the key was revoked), or every viewer (the project is gone). */
  close(code: number, reason: string, keyId?: string): void {
    for (const ws of this.ctx.getWebSockets()) {
      if (keyId === undefined || (ws.deserializeAttachment() as ViewerState).keyId === keyId) closeQuietly(ws, code, reason);
    }
  }

  /** Tells each viewer that is still behind how many lines it missed since it was last told. */
  private reportDropped(now: number): void {
    let unreported = false;
    for (const ws of this.ctx.getWebSockets()) {
      const v = ws.deserializeAttachment() as ViewerState;
      if (reportDropped(ws, v, now)) ws.serializeAttachment(v);
      unreported ||= v.missed > 0;
    }
    this.reportAt = unreported ? now + DROPPED_REPORT_MS : null;
  }
}
