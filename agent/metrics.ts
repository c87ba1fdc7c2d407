// What a heartbeat says about the machine, read from the machine itself (Linux first, and
// what Node offers everywhere else). CPU is the share of time not idle since the previous
// reading; memory counts what the kernel says is available as free (MemAvailable), as `free`
// does; disk is the filesystem holding the agent's folder (statfs), as `df` shows it;
// temperature is the hottest thermal zone; battery the first power supply of type Battery.
// A reading the machine does not have is left out, never sent as zero. The first heartbeat's
// CPU is the average since boot (there is no earlier reading to compare with).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface MachineMetrics {
  cpu_usage?: number;
  memory_usage?: number;
  disk_usage?: number;
  temperature?: number;
  battery_level?: number;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Busy and total CPU time over every core, in ms since boot. */
function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of os.cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

function memoryUsage(): number {
  try {
    const info = fs.readFileSync("/proc/meminfo", "utf8");
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(info)?.[1]);
    const total = kb("MemTotal");
    const available = kb("MemAvailable");
    if (total > 0 && Number.isFinite(available)) return round1((100 * (total - available)) / total);
  } catch {
    // not Linux
  }
  return round1((100 * (os.totalmem() - os.freemem())) / os.totalmem());
}

function diskUsage(folder: string): number | undefined {
  try {
    const s = fs.statfsSync(folder);
    const used = s.blocks - s.bfree;
    // As df computes Use%: what is used of what an unprivileged user could have.
    return used + s.bavail > 0 ? round1((100 * used) / (used + s.bavail)) : undefined;
  } catch {
    return undefined;
  }
}

const readNumber = (file: string): number | undefined => {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
};

const entries = (dir: string): string[] => {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
};

/** The hottest thermal zone, in °C (the kernel gives millidegrees). */
function temperature(sys: string): number | undefined {
  const dir = path.join(sys, "class/thermal");
  const temps = entries(dir)
    .filter((z) => z.startsWith("thermal_zone"))
    .flatMap((z) => readNumber(path.join(dir, z, "temp")) ?? [])
    .filter((t) => t > 0);
  return temps.length ? round1(Math.max(...temps) / 1000) : undefined;
}

/** The charge of the first battery, in percent. */
function batteryLevel(sys: string): number | undefined {
  const dir = path.join(sys, "class/power_supply");
  for (const supply of entries(dir).sort()) {
    let type = "";
    try {
      type = fs.readFileSync(path.join(dir, supply, "type"), "utf8").trim();
    } catch {
      continue;
    }
    const capacity = type === "Battery" ? readNumber(path.join(dir, supply, "capacity")) : undefined;
    if (capacity !== undefined) return capacity;
  }
  return undefined;
}

export class MachineReader {
  /** The CPU times of the last reading; the first reading is the average since boot. */
  private last = { busy: 0, total: 0 };

  /**
   * @param folder the folder whose filesystem `disk_usage` is about (the agent's own).
   * @param sys where sysfs is mounted; another root only in tests.
   */
  constructor(
    private readonly folder: string,
    private readonly sys = process.env.FLEETBEAT_SYSFS ?? "/sys",
  ) {}

  read(): MachineMetrics {
    const now = cpuTimes();
    const total = now.total - this.last.total;
    const cpu = total > 0 ? round1((100 * (now.busy - this.last.busy)) / total) : undefined;
    this.last = now;
    const metrics: MachineMetrics = { memory_usage: memoryUsage() };
    if (cpu !== undefined) metrics.cpu_usage = cpu;
    const disk = diskUsage(this.folder);
    if (disk !== undefined) metrics.disk_usage = disk;
    const temp = temperature(this.sys);
    if (temp !== undefined) metrics.temperature = temp;
    const battery = batteryLevel(this.sys);
    if (battery !== undefined) metrics.battery_level = battery;
    return metrics;
  }
}
