// What the project's live-tail viewers want, group by group (src/contract/tail-plan.ts): each
// viewer group reports how many viewers it holds and their distinct filters when that changes,
// and the project keeps the last report of each (one key-value row per group, written only when
// it changes). From it come the admission of a new viewer (which group takes it), the count
// of viewers, and each device's plan. Viewers themselves, and the lines, never come here.
import type { TailFilter } from "../../src/contract/tail-filter";
import {
  concerns,
  MAX_VIEWERS,
  planFor,
  TAIL_GROUPS,
  type TailPlan,
  type TailRoute,
  tailGroupName,
} from "../../src/contract/tail-plan";
import type { Kv } from "../storage";

const GROUP_PREFIX = "tail_group:";

/** A group's last report. */
interface GroupWants {
  viewers: number;
  filters: TailFilter[];
}

/** As kept: with the version of the routes it made (TailPlan). */
type Kept = GroupWants & { version: number };

export class TailCoverage {
  private loaded?: Map<string, Kept>;
  /** Viewers admitted to a group since it last reported (memory only: a report brings the truth). */
  private readonly admitted = new Map<string, number>();

  constructor(
    private readonly kv: Kv,
    private readonly projectId: () => string | undefined,
  ) {}

  private get groups(): Map<string, Kept> {
    if (!this.loaded) {
      this.loaded = new Map();
      for (const [key, kept] of this.kv.list<Kept>({ prefix: GROUP_PREFIX }))
        this.loaded.set(key.slice(GROUP_PREFIX.length), kept);
    }
    return this.loaded;
  }

  /** The routes' version: the newest group row's (kept in the rows, so it grows across restarts). */
  private get version(): number {
    let v = 0;
    for (const g of this.groups.values()) v = Math.max(v, g.version ?? 0);
    return v;
  }

  /** Viewers the project holds now, in every group, those on their way in included. */
  get viewers(): number {
    let n = 0;
    for (const [name, g] of this.groups) n += g.viewers + (this.admitted.get(name) ?? 0);
    return n;
  }

  /** Every group that has ever held a viewer of this project (revocation and deletion reach them all). */
  get names(): string[] {
    return [...this.groups.keys()];
  }

  /**
   * The group a new viewer with `filter` goes to, or null when the project is full. A group
   * whose viewers already get the lines this viewer wants is preferred (the devices ship it
   * nothing more), then the first with room; each holds at most TAIL_GROUPS.viewersEach.
   */
  admit(filter: TailFilter): string | null {
    const projectId = this.projectId();
    if (!projectId || this.viewers >= MAX_VIEWERS) return null;
    const load = (name: string) => (this.groups.get(name)?.viewers ?? 0) + (this.admitted.get(name) ?? 0);
    const names = Array.from({ length: Math.ceil(MAX_VIEWERS / TAIL_GROUPS.viewersEach) + 1 }, (_, i) =>
      tailGroupName(projectId, i),
    );
    const roomy = names.filter((n) => load(n) < TAIL_GROUPS.viewersEach);
    const alike = roomy.find((n) => this.groups.get(n)?.filters.some((f) => sameSource(f, filter)));
    const chosen = alike ?? roomy[0];
    if (chosen === undefined) return null;
    this.admitted.set(chosen, (this.admitted.get(chosen) ?? 0) + 1);
    // Known from now on, before the viewer is even in: a revocation or a deletion reaches it.
    if (!this.groups.has(chosen)) this.save(chosen, { viewers: 0, filters: [] });
    return chosen;
  }

  /** A group's report. Answers the routes before and after it, or null when nothing changed. */
  report(group: string, wants: GroupWants): { before: TailRoute[]; after: TailRoute[] } | null {
    this.admitted.delete(group);
    const was = this.groups.get(group);
    if (was && was.viewers === wants.viewers && JSON.stringify(was.filters) === JSON.stringify(wants.filters))
      return null;
    const before = this.routes();
    this.save(group, wants);
    return { before, after: this.routes() };
  }

  /** Every group's route: what the fan-in objects route by. */
  routes(): TailRoute[] {
    return [...this.groups]
      .filter(([, g]) => g.filters.length > 0)
      .map(([group, g]) => ({ group, filters: g.filters }));
  }

  /** Every route, with its version. */
  plan(): TailPlan {
    return { version: this.version, routes: this.routes() };
  }

  /** The routes that concern one device: its plan. */
  planOf(deviceId: string): TailPlan {
    return { version: this.version, routes: planFor(this.routes(), deviceId) };
  }

  private save(group: string, wants: GroupWants): void {
    const kept = { viewers: wants.viewers, filters: wants.filters, version: this.version + 1 };
    this.groups.set(group, kept);
    this.kv.put(GROUP_PREFIX + group, kept);
  }
}

/**
 * Whether two filters want lines of the same devices (so a group holding one already gets the other's
 * devices' lines).
 */
function sameSource(a: TailFilter, b: TailFilter): boolean {
  return a.device_id === undefined || (b.device_id !== undefined && concerns(a, b.device_id));
}
