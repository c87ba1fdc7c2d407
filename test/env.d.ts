// Bindings only the tests have (see vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    LOGHUB: Record<string, import("../agent/samples/sample-line").SampleLine[]>;
    /** wrangler.toml's settings of the jobs queue's consumer (vitest.config.ts). */
    JOBS_CONSUMER: { max_batch_size: number; max_retries: number };
  }
}
