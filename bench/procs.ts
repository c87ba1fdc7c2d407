// What the benchmarks read from /proc about the servers they start: which processes belong to
// one (a process and everything below it), and their CPU time and resident memory.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

interface Proc {
  pid: number;
  comm: string;
  ppid: number;
  pgrp: number;
  /** utime + stime, in seconds. */
  cpu: number;
}

function procs(): Proc[] {
  const out: Proc[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${p}/stat`, "utf8");
    } catch {
      continue; // gone in between
    }
    // Fields after the parenthesised command: state, ppid, pgrp, …; utime and stime are fields 14 and 15.
    const close = stat.lastIndexOf(")");
    const f = stat.slice(close + 2).split(" ");
    out.push({
      pid: Number(p),
      comm: stat.slice(stat.indexOf("(") + 1, close),
      ppid: Number(f[1]),
      pgrp: Number(f[2]),
      cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK,
    });
  }
  return out;
}

/** `root` and every process below it or in its process group, optionally only those named `comm`. */
export function processTree(root: number, comm?: string): Proc[] {
  const all = procs();
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) if (!tree.has(p.pid) && tree.has(p.ppid)) tree.add(p.pid), (grew = true);
  }
  return all.filter((p) => (tree.has(p.pid) || p.pgrp === root) && (comm === undefined || p.comm === comm));
}

/** CPU seconds used so far by a server: `root`'s tree, or only its processes named `comm`. */
export function cpuSeconds(root: number, comm?: string): number {
  return processTree(root, comm).reduce((n, p) => n + p.cpu, 0);
}

/** VmRSS and VmHWM in MiB, summed over the workerd processes of a `wrangler dev`. */
function workerdMemory(root: number) {
  let rss = 0;
  let hwm = 0;
  for (const { pid } of processTree(root, "workerd")) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      hwm += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    } catch {}
  }
  return { rss, hwm };
}

export interface MemoryPhase {
  start: number;
  peak: number;
  end: number;
  hwm: number;
  /** Peak JS heap of the isolate (the Worker and its objects), when a sampler was given. */
  heapPeak?: number;
}

/**
 * Samples workerd's RSS every 100 ms while `run` goes on: start, peak and end of the phase;
 * and, with `heap` (MiB used by the isolate's JS heap, from the inspector), its peak.
 */
export async function withMemory<T>(
  root: number,
  run: () => Promise<T>,
  heap?: () => Promise<number>,
): Promise<{ result: T; mem: MemoryPhase }> {
  const start = workerdMemory(root).rss;
  let peak = start;
  let heapPeak: number | undefined;
  const sample = async () => {
    peak = Math.max(peak, workerdMemory(root).rss);
    if (heap) heapPeak = Math.max(heapPeak ?? 0, await heap());
  };
  const timer = setInterval(() => void sample(), 100);
  try {
    const result = await run();
    await sample();
    const end = workerdMemory(root);
    return { result, mem: { start, peak, end: end.rss, hwm: end.hwm, heapPeak } };
  } finally {
    clearInterval(timer);
  }
}

export const mib = (m: MemoryPhase) =>
  `RSS start ${m.start.toFixed(0)} MiB, peak ${m.peak.toFixed(0)} MiB, end ${m.end.toFixed(0)} MiB (VmHWM after: ${m.hwm.toFixed(0)} MiB)` +
  (m.heapPeak === undefined
    ? ""
    : `; JS heap of the isolate (Worker and objects) at most ${m.heapPeak.toFixed(1)} MiB`);

/** The 1-minute, 5-minute and 15-minute load averages. */
export const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
