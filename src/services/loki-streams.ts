// Loki's index/stats and detected_labels, answered from what the log shards count (no line is
// returned to the Worker), as index/volume is.
//
// A stream is a line's label set: its device (with the device's registry labels), session,
// module and level. Each shard that holds the selector's devices counts its matching lines per
// (device, session, module, level), once in lines and once in UTF-8 bytes
// (durable-objects/log-shard/line-counts.ts, the count GET /logs/volume uses); the matchers the
// shards cannot apply (a module or session regex, `!=`) are applied to each group here. A device's
// lines are all in one shard, so the shards' groups never overlap.
import { LEVELS } from "../contract/levels";
import type { CountAnswer, CountDimension } from "../contract/log-counts";
import type { LogView } from "../contract/log-view";
import { type LogQuery, RegexWork, type StreamLabels } from "../contract/logql";
import type { Db } from "../db/client";
import { countInShards } from "./log-counts";
import { countFilter, DeviceLabels, lokiScope, pushed, REGEX_WORK, selectorOnly } from "./loki";

/** What a stream is counted by: its dimensions in the shards' counts. */
const STREAM_DIMS: CountDimension[] = ["device_id", "session_id", "module", "level"];

/** A stream as the shards count it: what a line's labels come from (the registry labels follow the device). */
type Stream = Pick<LogView, "device_id" | "session_id" | "module" | "level">;

interface Counted {
  /** The streams with a line in the range, each with its lines or bytes. */
  streams: { stream: Stream; n: number }[];
  labels: DeviceLabels;
}

/** The selector's streams in [from, to), each with the lines (or bytes) the shards counted. */
async function countStreams(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  q: LogQuery,
  range: { from: number; to: number },
  sums: ("lines" | "bytes")[],
): Promise<Counted[]> {
  const work = new RegexWork(REGEX_WORK);
  const labels = new DeviceLabels(db, projectId);
  const scope = await lokiScope(env, db, orgId, projectId, q, labels, work);
  if (!scope) return sums.map(() => ({ streams: [], labels }));
  const filter = countFilter(scope, range);
  const answers = await Promise.all(
    sums.map((sum) => countInShards(env, scope.sources, { filter, groupings: [{ by: STREAM_DIMS }], sum })),
  );
  return answers.map((a) => ({ streams: streamsOf(q, a, work), labels }));
}

/** The groups of the shards' answers as streams, without those the matchers the shards could not apply refuse. */
function streamsOf(q: LogQuery, answers: CountAnswer[], work: RegexWork) {
  const unpushed = q.matchers.filter((m) => !pushed(q, m.label));
  return answers
    .flatMap((a) => a.groupings[0]!.groups)
    .map(([key, n]) => {
      const [device, session, module, level] = key;
      const stream: Stream = {
        device_id: String(device),
        session_id: session === null ? null : String(session),
        module: String(module),
        level: LEVELS[Number(level)]!,
      };
      return { stream, n };
    })
    .filter(({ stream }) => {
      const labels: StreamLabels = { ...stream, session_id: stream.session_id ?? undefined };
      return unpushed.every((m) => m.test(labels[m.label] ?? "", work));
    });
}

export interface IndexStats {
  streams: number;
  chunks: number;
  entries: number;
  bytes: number;
}

/**
 * index/stats: the selector's streams, lines and bytes in the range. `chunks` is 0: the shards'
 * counts do not say how many chunks they read (docs/grafana.md).
 */
export async function lokiIndexStats(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  q: LogQuery,
  range: { from: number; to: number },
): Promise<IndexStats> {
  selectorOnly(q, "index/stats");
  const [lines, bytes] = await countStreams(env, db, orgId, projectId, q, range, ["lines", "bytes"]);
  const total = (c: Counted) => c.streams.reduce((sum, s) => sum + s.n, 0);
  return { streams: lines!.streams.length, chunks: 0, entries: total(lines!), bytes: total(bytes!) };
}

export interface DetectedLabel {
  label: string;
  cardinality: number;
}

/** Loki lists these even when every value looks like an id. */
const STATIC_LABELS = new Set(["cluster", "namespace", "instance", "pod"]);
const UUID_36 = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** The forms Go's uuid.Parse takes: plain, in braces, as a URN, or 32 hex digits. */
const UUID = new RegExp(`^(${UUID_36}|\\{${UUID_36}\\}|urn:uuid:${UUID_36}|[0-9a-f]{32})$`, "i");
/** Whether a value is what Loki's detected_labels takes for an id: a number or a UUID. */
const looksLikeId = (v: string) => (v.trim() !== "" && Number.isFinite(Number(v))) || UUID.test(v);

/**
 * detected_labels: each label of the selector's streams with a line in the range, with its number of
 * distinct values; as Loki, a label whose every value is a number or a UUID is left out (ids say
 * little about a stream), and so is one with no value. Sorted by name.
 */
export async function lokiDetectedLabels(
  env: Env,
  db: Db,
  orgId: string,
  projectId: string,
  q: LogQuery,
  range: { from: number; to: number },
): Promise<{ detectedLabels: DetectedLabel[] }> {
  selectorOnly(q, "detected_labels");
  const [counted] = await countStreams(env, db, orgId, projectId, q, range, ["lines"]);
  const { streams, labels } = counted!;
  await labels.load(streams.map((s) => s.stream.device_id));
  const values = new Map<string, Set<string>>();
  for (const s of streams) {
    for (const [name, value] of Object.entries(labels.of(s.stream))) {
      let set = values.get(name);
      if (!set) values.set(name, (set = new Set()));
      set.add(value);
    }
  }
  const detectedLabels = [...values.entries()]
    .filter(([name, set]) => STATIC_LABELS.has(name) || ![...set].every(looksLikeId))
    .map(([label, set]) => ({ label, cardinality: set.size }))
    .sort((a, b) => (a.label < b.label ? -1 : 1));
  return { detectedLabels };
}
