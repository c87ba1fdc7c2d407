// Shipping lines for the live tail to the viewer groups that want them: from a device's object,
// a fan-in object (for its devices) or the project's object (lines a sender still hands it).
// One call per group that wants some of the lines, or is owed a count of lost ones, all at
// once. A group that cannot be reached is owed what it missed and is told with the next
// shipment, so its viewers never have a silent gap.
import type { LogView } from "../../src/contract/log-view";
import type { TailFilter } from "../../src/contract/tail-filter";
import { type TailRoute, TailRouter } from "../../src/contract/tail-plan";

export class TailShipper {
  /** Lines each group missed and was not told of yet (memory only). */
  private readonly owed = new Map<string, number>();
  /**
   * What this object has shipped since it started: calls made and lines carried (memory only; tests and
   * benchmarks read it).
   */
  readonly shipped = { calls: 0, lines: 0 };

  constructor(private readonly env: Env) {}

  /** Whether a group is owed a count of lost lines. */
  get owes(): boolean {
    return this.owed.size > 0;
  }

  /**
   * Offers each group of `plan` the lines of `lines` it wants, and `lost` (lines lost before
   * they could be routed) to every group of the plan. Answers the filters each group reached
   * holds now. `deviceId` names the device when the lines are all one device's.
   */
  async ship(
    plan: readonly TailRoute[],
    lines: LogView[],
    lost: number,
    deviceId?: string,
  ): Promise<Map<string, TailFilter[]>> {
    const split = new TailRouter(plan).split(lines);
    const answers = new Map<string, TailFilter[]>();
    await Promise.all(
      plan.map(async ({ group }) => {
        const wanted = split.get(group) ?? [];
        const dropped = lost + (this.owed.get(group) ?? 0);
        if (wanted.length === 0 && dropped === 0) return;
        this.owed.delete(group);
        try {
          // Addressed through Env's own typing, not src/stubs/tail-group.ts: the group calls the project's
          // object, which ships through here.
          answers.set(
            group,
            await this.env.TAIL_GROUP.get(this.env.TAIL_GROUP.idFromName(group)).offer(wanted, dropped, deviceId),
          );
          this.shipped.calls++;
          this.shipped.lines += wanted.length;
        } catch (err) {
          this.owed.set(group, (this.owed.get(group) ?? 0) + wanted.length + dropped);
          console.error(
            `shipping lines to viewer group ${group} failed; its viewers are told what they missed with the next shipment`,
            err,
          );
        }
      }),
    );
    // A group no longer in the plan wants none of these lines: it is owed nothing.
    for (const group of this.owed.keys()) if (!plan.some((r) => r.group === group)) this.owed.delete(group);
    return answers;
  }
}
