/** A Loghub line as the tests and benchmarks use it (see loghub.ts), before it gets a timestamp. */
export interface SampleLine {
  level: string;
  module: string;
  message: string;
  thread_id?: string;
  context: Record<string, string>;
}
