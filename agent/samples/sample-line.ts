import type { Level } from "../../src/contract/levels.ts";

/** A Loghub line (see loghub.ts) as the simulator, the tests and the benchmarks use it, before it gets a timestamp. */
export interface SampleLine {
  level: Level;
  module: string;
  message: string;
  thread_id?: string;
  context: Record<string, string>;
}
