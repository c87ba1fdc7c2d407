// TailGroup: one of a project's viewer groups (src/contract/tail-plan.ts, docs/logs.md). It
// holds some of the project's live-tail viewers (hibernating WebSockets, viewers.ts) and takes
// the lines devices, or fan-in objects, ship it: each sender ships a group only the lines one of
// its viewers' filters matches. What the group wants (how many viewers, their distinct filters)
// it reports to the project's object, which admits viewers and tells the devices concerned. So
// a project's viewers and the lines they get spread over groups, not over one object.
// This class is its RPC surface.
import { DurableObject } from "cloudflare:workers";
import { errorBody } from "../../src/contract/errors";
import type { LogView } from "../../src/contract/log-view";
import { admittedViewer } from "../../src/contract/tail-admission";
import type { TailFilter } from "../../src/contract/tail-filter";
import { projectOfGroup } from "../../src/contract/tail-plan";
import { createDb } from "../../src/db/client";
import { findLiveKey } from "../../src/db/repos/keys";
import { projectHub } from "../../src/stubs/project-hub";
import { answerClose } from "../sockets";
import { CountedStorage } from "../storage";
import { Timers } from "../timers";
import { type Leaving, Viewers } from "./viewers";

const NAME_KEY = "name";
const RETIRED_KEY = "retired";
/** The close code for a stream whose key was revoked or whose project was deleted (the contract's). */
const CLOSE_REVOKED = 4001;

/**
 * While the group holds viewers its alarm rings this often, and every ring tells the project
 * what the group wants unless it knows already. Sockets lost without a close (a machine gone)
 * are then forgotten within this time, and their devices stop being live.
 */
const CHECK_MS = 5 * 60_000;

const refused = () => Response.json(errorBody("unauthorized", "ticket is unknown, used or expired"), { status: 401 });

export class TailGroup extends DurableObject<Env> {
  private readonly storage: CountedStorage;
  private readonly timers: Timers;
  private readonly viewers: Viewers;
  /** What the project's object was last told this group wants (memory only: after a restart it is told again). */
  private reported: string | null = null;
  /** Reports go one at a time, each with what the group wants when it goes. */
  private reporting: Promise<void> = Promise.resolve();
  /** When the alarm next checks what the group holds (memory: the alarm itself is what survives). */
  private checkAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Every part writes through it, so the rows this object writes are counted.
    this.storage = new CountedStorage(ctx.storage);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    this.timers = new Timers(this.storage);
    this.viewers = new Viewers(ctx, this.storage.kv, this.timers);
    this.timers.add({
      name: "viewers check",
      due: (now) => (ctx.getWebSockets().length > 0 ? (this.checkAt ??= now + CHECK_MS) : null),
      fire: () => void (this.checkAt = null),
    });
  }

  /**
   * A viewer's WebSocket, admitted by the project's object (which burnt its ticket and chose
   * this group). The project hears what the group wants now before the upgrade is answered,
   * so the devices concerned are told by the time the viewer reads its first frame.
   */
  override async fetch(request: Request): Promise<Response> {
    const viewer = admittedViewer(request);
    if (!viewer)
      return Response.json(errorBody("bad_request", "a viewer group takes only viewers its project admitted"), {
        status: 400,
      });
    if (this.retired) return refused();
    // Kept for a runtime that does not name the object in every handler (one row, once).
    if (this.name === undefined) this.storage.kv.put(NAME_KEY, viewer.group);
    const answer = this.viewers.accept(viewer.filter, viewer.keyId, viewer.window);
    await this.report();
    await this.timers.arm();
    // Checked after the viewer is in place: a revocation either finds it here or is seen now.
    if (!(await findLiveKey(createDb(this.env.DB), viewer.orgId, viewer.keyId))) {
      this.viewers.close(CLOSE_REVOKED, "the key that minted this ticket was revoked", viewer.keyId);
      return refused();
    }
    return answer;
  }

  /**
   * Lines for the viewers, shipped by a device (`deviceId`) or a fan-in object, and a count of
   * lines lost on their way. Answers the filters the group's viewers hold now, so a sender
   * whose plan is out of date learns it with its next shipment.
   */
  async offer(lines: LogView[], dropped: number, deviceId?: string): Promise<TailFilter[]> {
    this.viewers.offer(lines, dropped, deviceId);
    await this.timers.arm();
    const wants = this.viewers.wants();
    // After a restart, or a report that failed, the project may think otherwise: it hears again.
    if (JSON.stringify(wants) !== this.reported) this.ctx.waitUntil(this.report());
    return wants.filters;
  }

  /** A key was revoked: the streams it opened close now. */
  async revokeKey(keyId: string): Promise<void> {
    this.viewers.close(CLOSE_REVOKED, "the key that opened this stream was revoked", keyId);
  }

  /** The project was deleted: every stream closes, and the group admits nobody again. */
  async retire(): Promise<void> {
    this.storage.kv.put(RETIRED_KEY, true);
    this.viewers.close(CLOSE_REVOKED, "project deleted");
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const filter = this.viewers.onMessage(ws, message);
    if (!filter) return;
    // Confirmed once the devices concerned have heard, so the lines logged after the answer come by it.
    await this.report();
    this.viewers.filterSet(ws, filter);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    answerClose(ws, code);
    await this.report({ ws });
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.report({ ws });
  }

  override async alarm(): Promise<void> {
    // After a restart nothing was reported yet: the project hears what is really here.
    this.viewers.recount();
    await this.report();
    await this.timers.fire();
  }

  private get name(): string | undefined {
    return this.ctx.id.name ?? this.storage.kv.get<string>(NAME_KEY);
  }

  private get retired(): boolean {
    return this.storage.kv.get<boolean>(RETIRED_KEY) === true;
  }

  /**
   * Tells the project's object what the group wants, unless it knows already; a failure is retried by the
   * next change or shipment.
   */
  private report(leaving?: Leaving): Promise<void> {
    if (leaving) this.viewers.leave(leaving);
    this.reporting = this.reporting.then(async () => {
      const name = this.name;
      const projectId = name === undefined ? null : projectOfGroup(name);
      if (name === undefined || projectId === null || this.retired) return;
      const wants = this.viewers.wants();
      const key = JSON.stringify(wants);
      if (key === this.reported) return;
      try {
        await projectHub(this.env, projectId).tailGroupChanged(name, wants.viewers, wants.filters);
        this.reported = key;
      } catch (err) {
        console.error("telling the project what a viewer group wants failed; its next change or shipment retries", err);
      }
    });
    return this.reporting;
  }
}
