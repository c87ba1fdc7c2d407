import { defineConfig } from "drizzle-kit";

// `npm run db:generate` writes numbered SQL into migrations/, applied by wrangler and the tests.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
