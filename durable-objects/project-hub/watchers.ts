// Which devices the live-tail viewers watch, and telling them. A viewer filtered to one device
// covers that device; any other viewer covers every device of the project. A device that is
// covered is "live" (DeviceHub.watch): it sends its lines every second and they come here at
// once; otherwise it sends them every minute or so, and nothing comes here for the tail. So a
// viewer makes a device live the moment it connects (the device's socket hears it at once),
// and a device's own deliveries keep asking (their answer says whether it is still covered).
import { listDeviceIdsOfProject } from "../../src/db/repos/devices";
import { createDb } from "../../src/db/client";
import type { TailFilter } from "../../src/contract/tail-filter";
import { FAN_OUT, mapLimit } from "../../src/lib/concurrency";

/** Devices of a project read from D1 per page when a viewer covers them all. */
const PAGE = 1_000;

/** A device's object, as this one calls it: the one method it needs (a stub typed with the whole class would make an import cycle). */
function watchable(env: Env, deviceId: string): { watch(watched: boolean): Promise<void> } {
  const ns = env.DEVICE_HUB as unknown as DurableObjectNamespace;
  return ns.get(ns.idFromName(deviceId)) as unknown as { watch(watched: boolean): Promise<void> };
}

/** What the viewers cover: every device, or these. */
export interface Coverage {
  all: boolean;
  devices: Set<string>;
}

export function coverageOf(filters: Iterable<TailFilter>): Coverage {
  const c: Coverage = { all: false, devices: new Set() };
  for (const f of filters) {
    if (f.device_id === undefined) c.all = true;
    else c.devices.add(f.device_id);
  }
  return c;
}

export const covers = (c: Coverage, deviceId: string): boolean => c.all || c.devices.has(deviceId);

export class Watchers {
  constructor(
    private readonly env: Env,
    private readonly projectId: () => string | undefined,
  ) {}

  /**
   * The viewers changed from `before` to `after`: devices newly covered are told they are
   * watched, devices no longer covered that they are not (they linger a minute, then slow down).
   */
  async changed(before: Coverage, after: Coverage): Promise<void> {
    if (before.all === after.all) {
      const added = [...after.devices].filter((d) => !before.devices.has(d) && !before.all);
      const removed = after.all ? [] : [...before.devices].filter((d) => !after.devices.has(d));
      await this.tell(added, true);
      await this.tell(removed, false);
      return;
    }
    // Every device's coverage changed but those named by a viewer on both sides.
    const keep = after.all ? before.devices : after.devices;
    await this.eachDevice(async (ids) => this.tell(ids.filter((d) => !keep.has(d)), after.all));
  }

  private async tell(deviceIds: string[], watched: boolean): Promise<void> {
    await mapLimit(deviceIds, FAN_OUT, (id) =>
      watchable(this.env, id)
        .watch(watched)
        .catch((err) => console.error(`telling device ${id} it is ${watched ? "" : "not "}watched failed; its next delivery hears it`, err)),
    );
  }

  /** Runs `work` on every device of the project, a page at a time. */
  private async eachDevice(work: (ids: string[]) => Promise<void>): Promise<void> {
    const projectId = this.projectId();
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
