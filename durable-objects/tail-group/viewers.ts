// A viewer group's live-tail viewers: hibernating WebSockets, each with its filter and flow
// state in its attachment (see viewer.ts). Lines shipped to the group are offered to each
// viewer; losses not yet reported go out by the alarm.
import { errorFrame, parseFrame, parseViewerMessage, type TailFrame } from "../../src/contract/frames";
import type { LogView } from "../../src/contract/log-view";
import type { TailFilter } from "../../src/contract/tail-filter";
import { concerns, distinctFilters } from "../../src/contract/tail-plan";
import { closeQuietly } from "../sockets";
import type { Kv } from "../storage";
import type { Timers } from "../timers";
import {
  acknowledge,
  DROPPED_REPORT_MS,
  newViewer,
  offer,
  reportDropped,
  send,
  UNACKED_CAP_BYTES,
  type ViewerState,
} from "./viewer";

const REPORT_AT_KEY = "dropped_report_at";

/** A socket on its way out: its close handler may run while it is still in the object's list. */
export interface Leaving {
  ws: WebSocket;
}

export class Viewers {
  /** Sockets whose close was heard (memory: a socket the object woke for is gone from its list by then). */
  private readonly gone = new WeakSet<WebSocket>();
  /** What the group wants, worked out once per change of its viewers (every shipment asks). */
  private memo: { viewers: number; filters: TailFilter[] } | null = null;

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

  /** A viewer closed: it no longer counts, though the object may still list its socket. */
  leave(leaving: Leaving): void {
    this.gone.add(leaving.ws);
    this.memo = null;
  }

  /** Counts the viewers again at the next ask (the alarm's check: a socket may have gone without a close). */
  recount(): void {
    this.memo = null;
  }

  /** What the group wants: how many viewers it holds and their distinct filters. */
  wants(): { viewers: number; filters: TailFilter[] } {
    if (!this.memo) {
      const open = this.ctx.getWebSockets().filter((ws) => !this.gone.has(ws) && ws.readyState !== WebSocket.CLOSED);
      this.memo = {
        viewers: open.length,
        filters: distinctFilters(open.map((ws) => (ws.deserializeAttachment() as ViewerState).filter)),
      };
    }
    return this.memo;
  }

  /** A new viewer, admitted by the project's object; answers the socket's upgrade. */
  accept(filter: TailFilter, keyId: string, window: number | undefined): Response {
    const viewer = newViewer(filter, keyId, window);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment(viewer);
    this.memo = null;
    const flow = viewer.acking
      ? { window: viewer.window, unacked_cap_bytes: UNACKED_CAP_BYTES }
      : { unacked_cap_bytes: UNACKED_CAP_BYTES };
    send(server, { type: "ready", filter, flow } satisfies TailFrame);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * Offers lines to every viewer, and a count of lines lost on the way: from one device, to
   * each viewer whose filter could have wanted its lines; from an unknown sender, to every viewer.
   */
  offer(lines: LogView[], dropped: number, deviceId?: string): void {
    const now = Date.now();
    let unreported = false;
    for (const ws of this.ctx.getWebSockets()) {
      const v = ws.deserializeAttachment() as ViewerState;
      const lost = deviceId === undefined || concerns(v.filter, deviceId) ? dropped : 0;
      const outcome = offer(ws, v, lines, lost, now);
      if (outcome === "closed") continue;
      if (outcome) ws.serializeAttachment(v);
      unreported ||= v.missed > 0;
    }
    // A viewer told less than a second ago hears of the rest by alarm.
    if (unreported && this.reportAt === null) this.reportAt = now + DROPPED_REPORT_MS;
  }

  /**
   * A viewer's frame: an acknowledgement, or a new filter, which answers the filter for the
   * caller to confirm (filterSet) once the devices concerned have heard of it. Bad frames get
   * an error frame.
   */
  onMessage(ws: WebSocket, message: string | ArrayBuffer): TailFilter | null {
    let msg: ReturnType<typeof parseViewerMessage>;
    try {
      msg = parseViewerMessage(parseFrame(message));
    } catch (err) {
      send(ws, errorFrame(err));
      return null;
    }
    const v = ws.deserializeAttachment() as ViewerState;
    let filter: TailFilter | null = null;
    if (msg.type === "ack") acknowledge(ws, v, msg.seq, Date.now());
    else {
      const { type: _type, ...changed } = msg;
      filter = v.filter = changed;
      this.memo = null;
    }
    ws.serializeAttachment(v);
    return filter;
  }

  /** Confirms a viewer's new filter: lines come by it from here on. */
  filterSet(ws: WebSocket, filter: TailFilter): void {
    send(ws, { type: "filter", filter } satisfies TailFrame);
  }

  /** Closes the viewers a key opened (the key was revoked), or every viewer (the project is gone). */
  close(code: number, reason: string, keyId?: string): void {
    for (const ws of this.ctx.getWebSockets()) {
      if (keyId === undefined || (ws.deserializeAttachment() as ViewerState).keyId === keyId)
        closeQuietly(ws, code, reason);
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
