// Bindings only the tests have (see vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    LOGHUB: Record<string, import("../agent/samples/sample-line").SampleLine[]>;
  }
}
