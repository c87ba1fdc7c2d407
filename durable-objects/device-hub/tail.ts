// The live tail at the device (docs/logs.md, Live tail): which viewer groups want which of this
// device's lines (its plan: the routes of src/contract/tail-plan.ts that concern it), the lines
// accepted for them and not shipped yet, and shipping them (../tail-group/shipper.ts). Only
// lines some viewer's filter matches are held and shipped; with no plan, nothing is.
// The plan comes from the project's object when the viewers change (DeviceHub.watch), with
// each delivery's answer, and from each group a shipment reaches. It is kept in memory only:
// the device's state row, written per event, holds only until when the device is live. A device
// that restarted while live does not know its plan, so it holds its lines and asks with its next
// delivery before it ships anything (delivery.ts).
import type { StoredLine } from "../../src/contract/log-line";
import { type LogView, presentLog } from "../../src/contract/log-view";
import { planFor, projectOfGroup, type TailPlan, type TailRoute, TailRouter } from "../../src/contract/tail-plan";
import { TAIL_BUFFER_MAX } from "../coalesced";
import { TailShipper } from "../tail-group/shipper";

type Who = { deviceId: string; projectId: string };

/** What a test reads of a device's shipments (DeviceHub[TAIL_SHIPPED]); a symbol, so it is no RPC method. */
export const TAIL_SHIPPED = Symbol("tail shipped");

export class DeviceTail {
  /** The device's plan; null until it is known in this object's life. */
  private plan: TailRoute[] | null = null;
  /** The version of the project's routes the plan came from (an older one is ignored). */
  private version = -1;
  private router = new TailRouter([]);
  /** Lines held for the groups (only those the plan wants, once it is known), and lines lost before shipping. */
  private pending: LogView[] = [];
  private lost = 0;
  private readonly shipper: TailShipper;
  /** Deliveries to the fan-in object that carried lines, and those lines (memory only). */
  private readonly viaFanIn = { calls: 0, lines: 0 };

  constructor(
    env: Env,
    private readonly who: () => Who | undefined,
    /** Hears whether a shipment's answers leave the device wanted (they renew or end its being live). */
    private readonly heard: (wanted: boolean) => void,
  ) {
    this.shipper = new TailShipper(env);
  }

  /**
   * Calls that carried lines (to groups, or deliveries to the fan-in object) and lines shipped since the
   * object started.
   */
  get shipped(): { calls: number; lines: number } {
    const direct = this.shipper.shipped;
    return { calls: direct.calls + this.viaFanIn.calls, lines: direct.lines + this.viaFanIn.lines };
  }

  /** Whether the plan is known in this object's life. */
  get known(): boolean {
    return this.plan !== null;
  }

  /** Whether something waits to be shipped: lines, or counts of lost lines. */
  get waiting(): boolean {
    return this.pending.length > 0 || this.lost > 0 || this.shipper.owes;
  }

  /**
   * The plan the project says, from every route it names: the routes to this project's groups
   * whose filters concern this device; unless the device holds a newer one. Answers the plan
   * held; with none, what was held goes.
   */
  learn(said: TailPlan): TailRoute[] {
    if (said.version < this.version && this.plan !== null) return this.plan;
    const who = this.who();
    const plan = who ? planFor(said.routes, who.deviceId).filter((r) => projectOfGroup(r.group) === who.projectId) : [];
    this.version = said.version;
    this.setPlan(plan);
    return plan;
  }

  /**
   * Keeps the lines of a committed batch that the plan wants (all of them while it is not known), for
   * shipping at once.
   */
  hold(lines: StoredLine[], sessionId: string | null, firstId: number): void {
    const who = this.who();
    if (!who || (this.plan !== null && this.router.empty)) return;
    for (const [i, l] of lines.entries()) {
      const view = presentLog(who.deviceId, { ...l, id: firstId + i, session_id: sessionId });
      if (this.plan === null || this.router.wants(view)) this.pending.push(view);
    }
    const over = this.pending.length - TAIL_BUFFER_MAX;
    if (over > 0) {
      this.pending.splice(0, over);
      this.lost += over;
    }
  }

  /** What goes through the device's fan-in object, which passes it on to the groups: handed over once. */
  take(): { lines: LogView[]; lost: number } {
    const taken = this.takeHeld();
    if (taken.lines.length > 0) {
      this.viaFanIn.calls++;
      this.viaFanIn.lines += taken.lines.length;
    }
    return taken;
  }

  /** Lines handed over that never arrived: the viewers are told with the next shipment. */
  missed(n: number): void {
    this.lost += n;
  }

  /** Ships what is held to the groups of the plan, and takes each group's answer as its part of the plan now. */
  async ship(): Promise<void> {
    const who = this.who();
    const plan = this.plan;
    if (!who || plan === null) return;
    const { lines, lost } = this.takeHeld();
    const answers = await this.shipper.ship(plan, lines, lost, who.deviceId);
    if (answers.size === 0 || this.plan !== plan) return;
    // A group's answer is its viewers' filters now: it narrows or changes its route, never adds one.
    const next = plan.flatMap((r) => {
      const filters = answers.get(r.group);
      return filters === undefined ? [r] : planFor([{ group: r.group, filters }], who.deviceId);
    });
    this.setPlan(next);
    this.heard(next.length > 0);
  }

  private takeHeld(): { lines: LogView[]; lost: number } {
    const taken = { lines: this.pending, lost: this.lost };
    this.pending = [];
    this.lost = 0;
    return taken;
  }

  private setPlan(plan: TailRoute[]): void {
    this.plan = plan;
    this.router = new TailRouter(plan);
    if (plan.length === 0) {
      this.pending = [];
      this.lost = 0;
    }
  }
}
