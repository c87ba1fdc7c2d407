// GET /logs/facets and GET /logs/volume: lines counted in groups by the log shards that hold the
// scope's devices (one call per shard, as a search page; never a device), merged here. Each shard
// counts its hot store only, reading a bounded number of lines
// (durable-objects/log-shard/line-counts.ts); an answer says when some lines were not counted
// (`partial`) and from which time every line was (`counted_from`). Reads only.

import { invalidField } from "../contract/errors";
import { LEVELS } from "../contract/levels";
import {
  autoStep,
  type CountAnswer,
  type CountGroup,
  type CountRequest,
  countRange,
  FACETS,
  type FacetsQuery,
  intervalName,
  ranked,
  VOLUME,
  type VolumeQuery,
} from "../contract/log-counts";
import type { Db } from "../db/client";
import { deviceNames } from "../db/repos/devices";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { iso, isoMicros } from "../lib/time";
import { logShard } from "../stubs/log-shard";
import { projectHub } from "../stubs/project-hub";
import { filterOf, type Source, searchScope } from "./log-search";

/** Each shard's answer to the same count, asked of its own devices when the source names them. */
export async function countInShards(env: Env, sources: Source[], req: CountRequest): Promise<CountAnswer[]> {
  // RPC's types lose the groups' tuple shape on the way: they are CountGroups.
  return mapLimit(
    sources,
    FAN_OUT,
    async (s) =>
      (await logShard(env, s.projectId, s.shard).count({
        ...req,
        filter: { ...req.filter, devices: s.devices },
      })) as unknown as CountAnswer,
  );
}

/** The shards' groups of grouping `i` summed by key. */
function merged(answers: CountAnswer[], i: number): CountGroup[] {
  const sums = new Map<string, CountGroup>();
  for (const a of answers) {
    for (const [key, lines] of a.groupings[i]!.groups) {
      const id = JSON.stringify(key);
      const had = sums.get(id);
      if (had) had[1] += lines;
      else sums.set(id, [key, lines]);
    }
  }
  return [...sums.values()];
}

/** Whether any shard stopped short, and the time from which every shard counted every line (µs). */
function coverage(answers: CountAnswer[]): { partial: boolean; counted_from: string | null } {
  const from = answers.reduce<number | undefined>(
    (m, a) => (a.countedFrom === undefined ? m : Math.max(m ?? a.countedFrom, a.countedFrom)),
    undefined,
  );
  return { partial: from !== undefined, counted_from: from === undefined ? null : isoMicros(from) };
}

export interface Facets {
  from: string;
  to: string;
  devices: { id: string; name: string; lines: number }[];
  modules: { name: string; lines: number }[];
  sessions: { id: string; name: string; lines: number }[];
  partial: boolean;
  counted_from: string | null;
}

/**
 * GET /logs/facets: the project's lines in [from, to) per device, module and session, the most
 * first (ties by id or name), FACETS.max of each. A device's and a session's lines are all in
 * one shard, so their ranks are exact; a module's are summed over the shards' top lists, and
 * the answer is `partial` when a shard had more modules than it listed. Names: devices' from
 * D1 (one query), sessions' from the project's object (one call); a session without one is
 * named by its id.
 */
export async function logFacets(env: Env, db: Db, orgId: string, q: FacetsQuery, nowUs: number): Promise<Facets> {
  const { from, to } = countRange(q.from, q.to, nowUs);
  const sources = await searchScope(env, db, orgId, { project_id: q.project_id });
  const max = FACETS.max;
  // A shard's sessions may list the lines of no session as one group: one more keeps `max` named ones.
  const answers = await countInShards(env, sources, {
    filter: { from, to },
    groupings: [
      { by: ["device_id"], top: max },
      { by: ["module"], top: max },
      { by: ["session_id"], top: max + 1 },
    ],
  });
  const devices = ranked(merged(answers, 0), max);
  const modules = ranked(merged(answers, 1), max);
  const sessions = ranked(
    merged(answers, 2).filter(([key]) => key[0] !== null),
    max,
  );
  const deviceIds = devices.map(([key]) => String(key[0]));
  const sessionIds = sessions.map(([key]) => String(key[0]));
  const [names, sessionNames] = await Promise.all([
    deviceNames(db, orgId, deviceIds),
    sessionIds.length === 0 ? ({} as Record<string, string>) : projectHub(env, q.project_id).sessionNames(sessionIds),
  ]);
  const covered = coverage(answers);
  // A module past a shard's list may be missing from the sum (only when the project's modules span several shards).
  const modulesCut = answers.length > 1 && answers.some((a) => a.groupings[1]!.distinct > max);
  return {
    from: isoMicros(from),
    to: isoMicros(to),
    devices: devices.map(([key, lines]) => ({
      id: String(key[0]),
      name: names.get(String(key[0])) ?? String(key[0]),
      lines,
    })),
    modules: modules.map(([key, lines]) => ({ name: String(key[0]), lines })),
    sessions: sessions.map(([key, lines]) => ({
      id: String(key[0]),
      name: sessionNames[String(key[0])] || String(key[0]),
      lines,
    })),
    partial: covered.partial || modulesCut,
    counted_from: covered.counted_from,
  };
}

type LevelCounts = { debug: number; info: number; warn: number; error: number; fatal: number };
const LEVEL_KEYS = LEVELS.map((l) => l.toLowerCase() as keyof LevelCounts);

export interface Volume {
  interval: string;
  from: string;
  to: string;
  points: ({ t: string } & LevelCounts)[];
  partial: boolean;
  counted_from: string | null;
}

/**
 * GET /logs/volume: lines in [from, to) matching GET /logs's filters, per bucket and level.
 * Buckets are `interval` wide, aligned to the epoch (UTC); the first and last may cover part
 * of the range only. Without `interval`, the step is chosen for 60 to 120 buckets (1s to 1d);
 * more than VOLUME.maxBuckets buckets is 400.
 */
export async function logVolume(env: Env, db: Db, orgId: string, q: VolumeQuery, nowUs: number): Promise<Volume> {
  const { from, to } = countRange(q.from, q.to, nowUs);
  const stepS = q.interval ?? autoStep(from, to);
  const stepUs = stepS * 1_000_000;
  const first = Math.floor(from / stepUs);
  const buckets = Math.floor((to - 1) / stepUs) - first + 1;
  if (buckets > VOLUME.maxBuckets) {
    throw invalidField(
      "query",
      q.interval === undefined ? "from" : "interval",
      `at most ${VOLUME.maxBuckets} buckets at once: shorten the range or widen the interval`,
      "too_many_buckets",
    );
  }
  const sources = await searchScope(env, db, orgId, q);
  const points = Array.from({ length: buckets }, (_, i) => ({
    t: iso(((first + i) * stepUs) / 1000),
    debug: 0,
    info: 0,
    warn: 0,
    error: 0,
    fatal: 0,
  }));
  const filter = filterOf({ ...q, order: "desc" });
  const base = { interval: intervalName(stepS), from: isoMicros(from), to: isoMicros(to) };
  // Words that can match nothing: no shard is asked.
  if (filter === null) return { ...base, points, partial: false, counted_from: null };
  const { order: _, ...rest } = filter;
  const answers = await countInShards(env, sources, {
    filter: { ...rest, from, to },
    groupings: [{ by: ["bucket", "level"] }],
    stepUs,
  });
  for (const [[bucket, level], lines] of merged(answers, 0)) {
    const point = points[Math.floor(Number(bucket) / stepUs) - first];
    const name = LEVEL_KEYS[Number(level)];
    if (point && name) point[name] += lines;
  }
  return { ...base, points, ...coverage(answers) };
}
