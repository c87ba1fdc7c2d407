// The unused-export check on a small tree made up here, so its verdict on the real tree can be
// trusted: it must see both the exports that are used and those that are not.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { unusedExports } from "./support/unused-exports";

const root = mkdtempSync(path.join(tmpdir(), "fleetbeat-knip-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(file: string, text: string) {
  mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  writeFileSync(path.join(root, file), text);
}

it("reports exports only their own file uses, and keeps those the entry, another file or a test imports", () => {
  write("package.json", JSON.stringify({ name: "made-up", type: "module" }));
  write(
    "src/index.ts",
    `export { Hub } from "./hub";\nimport { usedByEntry } from "./lib";\nexport default { fetch: () => usedByEntry };\n`,
  );
  write("src/hub.ts", `export class Hub {}\n`);
  write(
    "src/lib.ts",
    [
      "export const usedByEntry = 1;",
      "export const usedByTest = 2;",
      "export const usedOnlyHere = 3;",
      "export const neverUsed = usedOnlyHere + 1;",
      "export type NeverUsedType = { a: number };",
      "export interface UsedType { b: number }",
    ].join("\n"),
  );
  write(
    "agent/agent.ts",
    `import type { UsedType } from "../src/lib";\nexport class Agent { t?: UsedType }\nexport const agentOnly = 1;\n`,
  );
  write(
    "test/agent.test.ts",
    `import { Agent } from "../agent/agent";\nimport { usedByTest } from "../src/lib";\nexport const x = [Agent, usedByTest];\n`,
  );

  expect(unusedExports(root, path.join(import.meta.dirname, "support/knip.jsonc"))).toEqual([
    "agent/agent.ts:3 agentOnly",
    "src/lib.ts:3 usedOnlyHere",
    "src/lib.ts:4 neverUsed",
    "src/lib.ts:5 type NeverUsedType",
  ]);
});
