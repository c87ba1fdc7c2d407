// A virtual device's readings, drifting as a real one's do: CPU and memory wander around what
// the device is doing, the disk fills slowly (and is cleaned up), the battery drains and is
// recharged, and the temperature follows the CPU and the charger.

/** What a heartbeat reports; usages and the battery in percent, the temperature in °C. */
export interface Metrics {
  cpu_usage: number;
  memory_usage: number;
  disk_usage: number;
  battery_level: number;
  temperature: number;
}

/** Below this the device goes to its charger, and stays there until the battery is this full. */
const BATTERY_LOW = 20;
const BATTERY_FULL = 95;
/** Percent a second: drained at full load, recharged. */
const DRAIN_PER_S = 0.15;
const CHARGE_PER_S = 0.5;
/** The disk is cleaned up (old recordings deleted) when it reaches this. */
const DISK_CLEANUP = 90;

const clamp = (v: number, lo = 0, hi = 100) => Math.min(hi, Math.max(lo, v));
const round = (v: number) => Math.round(v * 10) / 10;

export class DriftingMetrics {
  private cpu: number;
  private memory: number;
  private disk: number;
  private battery: number;
  private temperature: number;
  private charging = false;

  constructor(private readonly random: () => number = Math.random) {
    this.cpu = 10 + random() * 20;
    this.memory = 30 + random() * 20;
    this.disk = 20 + random() * 50;
    this.battery = 40 + random() * 60;
    this.temperature = 35 + random() * 5;
  }

  /**
   * Moves the readings on by `seconds` of work at `load` (0 idle to 1 flat out): each one
   * moves part of the way towards where that load would put it, plus some noise.
   */
  advance(seconds: number, load: number): void {
    const pull = (value: number, target: number, perSecond: number, noise: number) =>
      value + (target - value) * Math.min(1, perSecond * seconds) + (this.random() - 0.5) * noise * Math.sqrt(seconds);
    this.cpu = clamp(pull(this.cpu, 8 + 80 * load, 0.3, 12));
    this.memory = clamp(pull(this.memory, 35 + 40 * load, 0.05, 3));
    this.disk = clamp(this.disk + (0.002 + 0.02 * load) * seconds);
    if (this.disk >= DISK_CLEANUP) this.disk = 30 + this.random() * 20;
    if (this.battery <= BATTERY_LOW) this.charging = true;
    if (this.battery >= BATTERY_FULL) this.charging = false;
    this.battery = clamp(
      this.charging ? this.battery + CHARGE_PER_S * seconds : this.battery - DRAIN_PER_S * (0.3 + load) * seconds,
    );
    this.temperature = clamp(
      pull(this.temperature, 32 + 0.35 * this.cpu + (this.charging ? 6 : 0), 0.05, 0.6),
      -20,
      120,
    );
  }

  get isCharging(): boolean {
    return this.charging;
  }

  now(): Metrics {
    return {
      cpu_usage: round(this.cpu),
      memory_usage: round(this.memory),
      disk_usage: round(this.disk),
      battery_level: round(this.battery),
      temperature: round(this.temperature),
    };
  }
}
