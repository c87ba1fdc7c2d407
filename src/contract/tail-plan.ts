// Where a line for the live tail goes (docs/logs.md, Live tail). A project's viewers sit in
// viewer groups (TailGroup objects, `<project id>/tail/<n>`); each group wants the lines its
// viewers' filters match. A route names one group and the filters of its viewers; a device's
// plan is the routes that concern it (filters without a device, or with its own). The device
// ships each group only the lines one of its filters matches, and nothing when no route is left.
import type { LogView } from "./log-view";
import { type TailFilter, tailMatcher } from "./tail-filter";

/** One viewer group and the (distinct) filters of its viewers. */
export interface TailRoute {
  group: string;
  filters: TailFilter[];
}

/**
 * Routes as the project's object had them at `version`, which grows with every change of its
 * viewers. A receiver keeps the newest it has heard: an answer computed before a change, and
 * heard after the change was told, is ignored.
 */
export interface TailPlan {
  version: number;
  routes: TailRoute[];
}

/** The newer of two plans (the first when they are as new). */
export const newerPlan = (a: TailPlan, b: TailPlan | undefined): TailPlan => (b && b.version > a.version ? b : a);

/**
 * How viewers spread over groups: at most `viewersEach` viewers a group. A plain object rather
 * than a constant, so tests can spread a few viewers over several groups.
 */
export const TAIL_GROUPS = { viewersEach: 100 };

/** Beyond this many viewers a project refuses new ones (429; docs/limits.md). */
export const MAX_VIEWERS = 1000;

const GROUP_INFIX = "/tail/";

/** The name of a project's `index`-th viewer group (project ids never hold a "/"). */
export function tailGroupName(projectId: string, index: number): string {
  return `${projectId}${GROUP_INFIX}${index}`;
}

/** The project a group belongs to, from its name; null when the name is not a group's. */
export function projectOfGroup(group: string): string | null {
  const at = group.indexOf(GROUP_INFIX);
  return at > 0 ? group.slice(0, at) : null;
}

/** Whether a filter can match a line of `deviceId`. */
export const concerns = (f: TailFilter, deviceId: string): boolean =>
  f.device_id === undefined || f.device_id === deviceId;

/** Filters without repeats (a hundred viewers with the same filter are one filter for the devices). */
export function distinctFilters(filters: Iterable<TailFilter>): TailFilter[] {
  const seen = new Map<string, TailFilter>();
  for (const f of filters) {
    const key = filterKey(f);
    if (!seen.has(key)) seen.set(key, f);
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, f]) => f);
}

/** A filter's identity: its fields in a fixed order, levels sorted. */
function filterKey(f: TailFilter): string {
  return JSON.stringify([
    f.device_id ?? null,
    f.session_id ?? null,
    f.module ?? null,
    f.level ? [...f.level].sort() : null,
    f.q ?? null,
  ]);
}

/** The routes of `routes` that concern `deviceId`, each with only the filters that can match its lines. */
export function planFor(routes: readonly TailRoute[], deviceId: string): TailRoute[] {
  const plan: TailRoute[] = [];
  for (const r of routes) {
    const filters = r.filters.filter((f) => concerns(f, deviceId));
    if (filters.length > 0) plan.push({ group: r.group, filters });
  }
  return plan;
}

/** Whether two plans send the same lines to the same groups. */
export function samePlan(a: readonly TailRoute[], b: readonly TailRoute[]): boolean {
  return planKey(a) === planKey(b);
}

const planKey = (plan: readonly TailRoute[]): string =>
  JSON.stringify(
    plan
      .map((r) => [r.group, r.filters.map(filterKey).sort()])
      .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)),
  );

/** A plan, compiled: which lines it wants, and which of them each group gets. */
export class TailRouter {
  private readonly routes: { group: string; wants: (line: LogView) => boolean }[];

  constructor(plan: readonly TailRoute[]) {
    this.routes = plan.map((r) => {
      const matchers = r.filters.map(tailMatcher);
      return { group: r.group, wants: (line: LogView) => matchers.some((m) => m(line)) };
    });
  }

  get empty(): boolean {
    return this.routes.length === 0;
  }

  /** Whether some group wants the line. */
  wants(line: LogView): boolean {
    return this.routes.some((r) => r.wants(line));
  }

  /** The lines each group of the plan wants, by group (a group that wants none of them maps to []). */
  split(lines: readonly LogView[]): Map<string, LogView[]> {
    const out = new Map<string, LogView[]>();
    for (const r of this.routes) out.set(r.group, lines.filter(r.wants));
    return out;
  }
}
