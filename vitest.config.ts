import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { DATASETS, loadLoghub } from "./test/support/loghub.ts";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  // Real log text for the tests, read here in Node and handed to workerd as a binding.
  const loghub = Object.fromEntries(DATASETS.map((d) => [d, loadLoghub(d)]));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: { ADMIN_TOKEN: "test-admin-token", TEST_MIGRATIONS: migrations, LOGHUB: loghub },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      setupFiles: ["./test/apply-migrations.ts"],
      // Generous: CI machines are small and the heaviest tests move 10,000+ lines.
      testTimeout: 30_000,
    },
  };
});
