// Loghub's structured samples (a copy of ../shared/data/loghub in data/loghub, with its
// licence, so a clone needs nothing beside it) as fleetbeat log lines: the simulator replays
// them (agent/simulate/), vitest.config.ts hands them to the tests, the benchmarks send them.
// Timestamps are left out: the callers stamp lines with recent times, since the hot store
// refuses lines older than its window.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Level } from "../../src/contract/levels.ts";
import { parseCsv } from "./csv.ts";
import type { SampleLine } from "./sample-line.ts";

const LOGHUB_DIR = path.resolve(import.meta.dirname, "../../data/loghub");
export const DATASETS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Linux", "OpenSSH", "Zookeeper"] as const;
export type Dataset = (typeof DATASETS)[number];

const LEVELS: Record<string, Level> = {
  V: "DEBUG",
  D: "DEBUG",
  I: "INFO",
  W: "WARN",
  E: "ERROR",
  F: "FATAL",
  notice: "INFO",
  info: "INFO",
  warn: "WARN",
  error: "ERROR",
  INFO: "INFO",
  WARN: "WARN",
  WARNING: "WARN",
  ERROR: "ERROR",
  FATAL: "FATAL",
  SEVERE: "ERROR",
  FAILURE: "ERROR",
};

export function loadLoghub(dataset: Dataset): SampleLine[] {
  const [header, ...rows] = parseCsv(readFileSync(path.join(LOGHUB_DIR, `${dataset}_2k.log_structured.csv`), "utf8"));
  const col = (name: string) => header!.indexOf(name);
  const [level, component, content, event, pid, tid, node] = [
    "Level",
    "Component",
    "Content",
    "EventId",
    "Pid",
    "Tid",
    "Node",
  ].map(col);
  return rows
    .filter((r) => r.length === header!.length)
    .map((r) => ({
      level: LEVELS[r[level!] ?? ""] ?? "INFO",
      module: (component! >= 0 && r[component!]) || dataset,
      message: r[content!]!,
      ...(tid! >= 0 ? { thread_id: r[tid!] } : pid! >= 0 ? { thread_id: r[pid!] } : {}),
      context: { dataset, event_id: r[event!]!, ...(node! >= 0 ? { node: r[node!]! } : {}) },
    }));
}
