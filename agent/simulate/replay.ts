// A virtual device's log: one Loghub sample replayed in order at a steady rate, and now and
// then a burst of errors on top, as a device has when something goes wrong for a few seconds.
import type { SampleLine } from "../samples/sample-line.ts";

/**
 * A device starts a burst about this often, on average: at 0.4 routine lines a second, its
 * errors are then ~5% of its lines, about Loghub's own share over its eight samples (6%:
 * from none in HDFS, HPC, Linux and OpenSSH to 30% in Apache). A burst every 90 s, as before,
 * made a quarter of a "typical" device's lines errors and its month 1.3M lines, not ~1M.
 */
const BURST_EVERY_S = 600;
/** A burst lasts this long, at this many error lines a second (more for a chatty device). */
const BURST_S = { min: 2, max: 6 };
const BURST_LINES_PER_S = 3;
/** Fewer problem lines than this in the device's own sample: it borrows every sample's. */
const OWN_PROBLEMS_ENOUGH = 10;

const isProblem = (l: SampleLine) => l.level === "ERROR" || l.level === "FATAL";

export class LineReplay {
  private readonly routine: SampleLine[];
  private readonly problems: SampleLine[];
  private at: number;
  /** Lines owed but not yet logged: a rate of 0.5 logs a line every other second. */
  private owed = 0;
  private burstLeftS = 0;

  /**
   * `own` is the device's sample; its errors come out only in bursts (from `everyone`'s
   * errors when it has few of its own), so the rest of the time it logs routine lines.
   */
  constructor(
    own: SampleLine[],
    everyone: SampleLine[],
    private readonly random: () => number = Math.random,
    /** Seconds between bursts, on average. */
    private readonly burstEvery: number = BURST_EVERY_S,
  ) {
    this.routine = own.filter((l) => !isProblem(l));
    const ownProblems = own.filter(isProblem);
    this.problems = ownProblems.length >= OWN_PROBLEMS_ENOUGH ? ownProblems : everyone.filter(isProblem);
    if (this.routine.length === 0 || this.problems.length === 0)
      throw new Error("a replay needs routine lines and problem lines");
    this.at = Math.floor(random() * this.routine.length);
  }

  get inBurst(): boolean {
    return this.burstLeftS > 0;
  }

  /** The lines of the next `seconds`: `rate` a second of the routine, and a burst's errors while one lasts. */
  advance(seconds: number, rate: number): SampleLine[] {
    this.owed += seconds * rate;
    const out: SampleLine[] = [];
    for (; this.owed >= 1; this.owed--) {
      out.push(this.routine[this.at]!);
      this.at = (this.at + 1) % this.routine.length;
    }
    if (!this.inBurst && this.random() < seconds / this.burstEvery) {
      this.burstLeftS = BURST_S.min + this.random() * (BURST_S.max - BURST_S.min);
    }
    if (this.inBurst) {
      const burstSeconds = Math.min(seconds, this.burstLeftS);
      this.burstLeftS -= burstSeconds;
      const n = Math.round(burstSeconds * Math.max(BURST_LINES_PER_S, rate * 2));
      for (let i = 0; i < n; i++) out.push(this.problems[Math.floor(this.random() * this.problems.length)]!);
    }
    return out;
  }
}
