// The lifetime part of `npm run bench:cost` (bench/cost-lifetime.workers.ts): a vitest project of
// its own, inside workerd with the project's bindings, that only bench/cost.ts runs (never `npm
// test`). It reads the tree it is run in (process.cwd()), so the same file runs in a checkout of
// the code before the cost work.
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { DATASETS, loadLoghub } from "../agent/samples/loghub.ts";

export default defineConfig(async () => {
  const root = process.cwd();
  const migrations = await readD1Migrations(path.join(root, "migrations"));
  const loghub = Object.fromEntries(DATASETS.map((d) => [d, loadLoghub(d)]));
  return {
    root,
    // Its own cache: bench/cost.ts runs this in two trees at once, which share node_modules.
    cacheDir: path.join(root, ".wrangler/bench-cost-vite"),
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: path.join(root, "wrangler.toml") },
              // The metered app (bench/meter-entry.ts), as the real-time part runs it.
              main: path.join(root, "bench/meter-entry.ts"),
              miniflare: {
                bindings: {
                  ADMIN_TOKEN: "test-admin-token",
                  TEST_MIGRATIONS: migrations,
                  // Loghub's lines, read here in Node (workerd has no files), as the project's own tests do.
                  LOGHUB: loghub as unknown as Record<string, never>,
                  // Which agent the simulation plays: today's send policy, or the fixed one-second flush of before.
                  COST_AGENT: process.env.COST_AGENT === "old" ? "old" : "new",
                  COST_QUICK: process.env.COST_QUICK === "1" ? "1" : "0",
                },
              },
            }),
          ],
          test: {
            name: "cost-lifetime",
            include: ["bench/cost-lifetime.workers.ts"],
            setupFiles: ["./test/apply-migrations.ts"],
            testTimeout: 20 * 60_000,
          },
        },
      ],
    },
  };
});
