// Every export is imported somewhere else: an export nobody imports is either dead code or
// something that should be private to its file. src/index.ts (wrangler's entry), the tests and
// the benchmark are the users; agent/ and web/ are checked like src/. The rules live in
// support/knip.jsonc.
import path from "node:path";
import { expect, it } from "vitest";
import { unusedExports } from "./support/unused-exports";

const ROOT = path.resolve(import.meta.dirname, "../..");

it("exports from src/, durable-objects/, web/ and agent/ only what another file imports", () => {
  const unused = unusedExports(ROOT, path.join(import.meta.dirname, "support/knip.jsonc"));
  expect(unused, `${unused.length} exports no other file imports`).toEqual([]);
});
