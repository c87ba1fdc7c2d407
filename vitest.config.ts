// Two tiers of tests, three projects:
// - fast (`npm test`): `workers` runs inside workerd with the real bindings; `node` runs the
//   checks that read the source tree from disk, which workerd cannot do, and the unit tests of
//   pure functions (no bindings, so no workerd to start for each file).
// - slow (`npm run test:slow`): `slow` runs in Node against a real `wrangler dev` server,
//   a browser or a drill; its tests start what they need and take minutes.
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { unstable_readConfig } from "wrangler";
import { DATASETS, loadLoghub } from "./agent/samples/loghub.ts";
import { ACCESS_CLIENT, TEST_CLIENT } from "./test/oidc-clients.ts";
import { startTestProviders } from "./test/oidc-providers.ts";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  // Real log text for the tests, read here in Node and handed to workerd as a binding.
  const loghub = Object.fromEntries(DATASETS.map((d) => [d, loadLoghub(d)]));
  // The jobs queue's consumer as wrangler.toml sets it: the tests batch its messages the same way
  // (test/support/jobs.ts), and the queue itself hands them on at once, retrying without delay.
  const consumer = unstable_readConfig({ config: "./wrangler.toml" }).queues.consumers![0]!;
  const jobsConsumer = { max_batch_size: consumer.max_batch_size!, max_retries: consumer.max_retries! };
  // A real OpenID provider for sign-in (test/oidc-providers.ts); the Worker is its client.
  const oidc = await startTestProviders();
  const oidcBindings = {
    OIDC_ISSUER: oidc.issuer,
    OIDC_CLIENT_ID: TEST_CLIENT.client_id,
    OIDC_CLIENT_SECRET: TEST_CLIENT.client_secret,
    CF_ACCESS_ISSUER: oidc.accessIssuer,
    CF_ACCESS_AUD: ACCESS_CLIENT.client_id,
    CF_ACCESS_JWKS_URL: `${oidc.accessIssuer}/jwks`,
  };
  return {
    test: {
      // Two test files at once even on two cores (vitest's default keeps one core free): the
      // fast tier waits on workerd start-ups more than on CPU, and takes ~120 s instead of ~170 s.
      maxWorkers: 2,
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  ADMIN_TOKEN: "test-admin-token",
                  ALLOW_PRIVATE_WEBHOOKS: "true",
                  ...oidcBindings,
                  TEST_MIGRATIONS: migrations,
                  LOGHUB: loghub,
                  JOBS_CONSUMER: jobsConsumer,
                },
                queueConsumers: {
                  [consumer.queue]: {
                    maxBatchSize: consumer.max_batch_size,
                    maxRetries: consumer.max_retries,
                    deadLetterQueue: consumer.dead_letter_queue,
                    maxBatchTimeout: 0.05,
                    retryDelay: 0,
                  },
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/integration/**/*.test.ts"],
            setupFiles: ["./test/apply-migrations.ts"],
            // A real HTTP server for the alert webhooks to reach (test/webhook-receiver.ts).
            globalSetup: ["./test/webhook-receiver.ts"],
            // Generous: CI machines are small and the heaviest tests move 10,000+ lines.
            testTimeout: 30_000,
          },
        },
        {
          test: {
            name: "node",
            environment: "node",
            include: ["test/node/**/*.test.ts", "test/unit/**/*.test.ts"],
            testTimeout: 60_000,
          },
        },
        {
          test: {
            name: "slow",
            environment: "node",
            include: ["test/slow/**/*.test.ts"],
            // A slow test starts a server (or a browser) of its own, and waits for it.
            testTimeout: 5 * 60_000,
            hookTimeout: 5 * 60_000,
            // One server at a time: two wrangler dev processes on two cores starve each other.
            fileParallelism: false,
          },
        },
      ],
    },
  };
});
