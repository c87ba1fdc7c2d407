// Telling devices what the live-tail viewers want of them. When a viewer group's report changes
// the routes, each device whose plan changed is told its new plan (DeviceHub.watch): the devices
// a filter names, or, when what the viewers without a device want changes, every device of the
// project (read from D1 a thousand at a time). A device with a plan is "live": it sends its lines
// every second and ships each group the lines it wants at once; with none it ships nothing.
// The fan-in objects are told every route, since they pass lines on for their devices.
// Changes that come while devices are being told are merged into one more pass, which tells each
// device the plan of that moment: however fast viewers come and go, one pass runs at a time.

import { planFor, samePlan, type TailPlan, type TailRoute } from "../../src/contract/tail-plan";
import { createDb } from "../../src/db/client";
import { listDeviceIdsOfProject } from "../../src/db/repos/devices";
import { FAN_OUT, mapLimit } from "../../src/lib/concurrency";

/** Devices of a project read from D1 per page when every device must hear. */
const PAGE = 1_000;

/**
 * A device's object, as this one calls it: the one method it needs (a stub typed with the whole class would
 * make an import cycle).
 */
function watchable(env: Env, deviceId: string): { watch(projectId: string, plan: TailPlan): Promise<void> } {
  const ns = env.DEVICE_HUB as unknown as DurableObjectNamespace;
  return ns.get(ns.idFromName(deviceId)) as unknown as { watch(projectId: string, plan: TailPlan): Promise<void> };
}

/** What the pass needs of the project. */
interface Source {
  projectId(): string | undefined;
  /** Every route now, with its version. */
  plan(): TailPlan;
  /** The fan-in objects that have delivered to the project. */
  fanIns(): string[];
}

export class Watchers {
  /** Devices to tell in the next pass, or every device. */
  private due: { all: boolean; devices: Set<string> } = { all: false, devices: new Set() };
  private running: Promise<void> | null = null;
  /** Set while a pass must follow the one under way. */
  private again = false;

  constructor(
    private readonly env: Env,
    private readonly source: Source,
  ) {}

  /** The routes changed from `before` to `after`: the devices whose plan changed hear it. Resolves once they have. */
  changed(before: TailRoute[], after: TailRoute[]): Promise<void> {
    if (!samePlan(anyDevice(before), anyDevice(after))) this.due.all = true;
    for (const id of namedDevices([...before, ...after])) {
      if (!samePlan(planFor(before, id), planFor(after, id))) this.due.devices.add(id);
    }
    if (this.running) {
      // The pass under way goes round once more for it.
      this.again = true;
      return this.running;
    }
    this.running = this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      const due = this.due;
      this.due = { all: false, devices: new Set() };
      await this.tellFanIns();
      if (due.all) await this.eachDevice((ids) => this.tell(ids));
      else await this.tell([...due.devices]);
    } while (this.again || this.due.all || this.due.devices.size > 0);
  }

  private async tell(deviceIds: string[]): Promise<void> {
    const projectId = this.source.projectId();
    if (!projectId) return;
    const { version, routes } = this.source.plan();
    await mapLimit(deviceIds, FAN_OUT, (id) =>
      watchable(this.env, id)
        .watch(projectId, { version, routes: planFor(routes, id) })
        .catch((err) =>
          console.error(`telling device ${id} what the viewers want failed; its next delivery's answer says`, err),
        ),
    );
  }

  /** The fan-in objects route their devices' lines by every route. */
  private async tellFanIns(): Promise<void> {
    const plan = this.source.plan();
    const told = await Promise.allSettled(
      this.source.fanIns().map((name) => this.env.FAN_IN.get(this.env.FAN_IN.idFromName(name)).watched(plan)),
    );
    for (const t of told)
      if (t.status === "rejected")
        console.error(
          "telling a fan-in object what the viewers want failed; its next delivery's answer says",
          t.reason,
        );
  }

  /** Runs `work` on every device of the project, a page at a time. */
  private async eachDevice(work: (ids: string[]) => Promise<void>): Promise<void> {
    const projectId = this.source.projectId();
    if (!projectId) return;
    const db = createDb(this.env.DB);
    let afterId: string | undefined;
    for (;;) {
      const ids = await listDeviceIdsOfProject(db, projectId, { afterId, limit: PAGE });
      await work(ids);
      if (ids.length < PAGE) return;
      afterId = ids[ids.length - 1];
    }
  }
}

/** The routes' filters that name no device: what every device's plan holds. */
function anyDevice(routes: TailRoute[]): TailRoute[] {
  return routes
    .map((r) => ({ group: r.group, filters: r.filters.filter((f) => f.device_id === undefined) }))
    .filter((r) => r.filters.length > 0);
}

function namedDevices(routes: TailRoute[]): Set<string> {
  const ids = new Set<string>();
  for (const r of routes) for (const f of r.filters) if (f.device_id !== undefined) ids.add(f.device_id);
  return ids;
}
