// The checker behind import-graph.test.ts, on small graphs made up here, so a failure of the
// real graph can be trusted to be about the code and not the checker.
import { describe, expect, it } from "vitest";
import {
  type Edge,
  findCycles,
  importsOf,
  type Layer,
  layerViolations,
  resolveImport,
  unassignedFiles,
} from "./support/import-graph";

const edge = (from: string, to: string, typeOnly = false): Edge => ({ from, to, typeOnly });

describe("importsOf", () => {
  it("finds static imports, re-exports and import() in code and in types, marking the erased ones", () => {
    const source = `
      import { a } from "./a";
      import type { B } from "./b";
      import { type C } from "./c";
      import { type D, d } from "./d";
      import "./side-effect";
      export { e } from "./e";
      export type { F } from "./f";
      export * from "./g";
      const h = await import("./h");
      let i: import("./i").I;
      export const local = 1;
    `;
    expect(importsOf("x.ts", source)).toEqual([
      { specifier: "./a", typeOnly: false },
      { specifier: "./b", typeOnly: true },
      { specifier: "./c", typeOnly: true },
      { specifier: "./d", typeOnly: false },
      { specifier: "./side-effect", typeOnly: false },
      { specifier: "./e", typeOnly: false },
      { specifier: "./f", typeOnly: true },
      { specifier: "./g", typeOnly: false },
      { specifier: "./h", typeOnly: false },
      { specifier: "./i", typeOnly: true },
    ]);
  });

  it("ignores packages, runtime modules, comments and strings that look like imports", () => {
    const source = `
      import { Hono } from "hono";
      import { DurableObject } from "cloudflare:workers";
      // import { gone } from "./commented-out";
      const text = 'import { fake } from "./in-a-string"';
      const name = "./x";
      const computed = await import(name);
    `;
    expect(importsOf("x.ts", source)).toEqual([]);
  });
});

describe("resolveImport", () => {
  const files = new Set(["src/lib/time.ts", "src/db/repos/index.ts", "web/app.mjs", "agent/samples/loghub.ts"]);
  const exists = (f: string) => files.has(f);

  it("finds a file with or without its .ts extension, and a folder by its index.ts", () => {
    expect(resolveImport("src/routes/orgs.ts", "../lib/time", exists)).toBe("src/lib/time.ts");
    expect(resolveImport("src/routes/orgs.ts", "../lib/time.ts", exists)).toBe("src/lib/time.ts");
    expect(resolveImport("src/routes/orgs.ts", "../db/repos", exists)).toBe("src/db/repos/index.ts");
    expect(resolveImport("web/index.ts", "./app.mjs", exists)).toBe("web/app.mjs");
    expect(resolveImport("bench/ingest.ts", "../agent/samples/loghub.ts", exists)).toBe("agent/samples/loghub.ts");
  });

  it("answers null for a name that is no file", () => {
    expect(resolveImport("src/routes/orgs.ts", "../lib/clock", exists)).toBeNull();
  });
});

describe("findCycles", () => {
  it("finds a loop through three files and lists it once, closed", () => {
    const edges = [edge("a", "b"), edge("b", "c"), edge("c", "a"), edge("c", "d")];
    expect(findCycles(edges)).toEqual([["a", "b", "c", "a"]]);
  });

  it("counts type-only imports as part of a cycle", () => {
    expect(findCycles([edge("hub", "socket"), edge("socket", "hub", true)])).toEqual([["hub", "socket", "hub"]]);
  });

  it("finds a file that imports itself", () => {
    expect(findCycles([edge("a", "a")])).toEqual([["a", "a"]]);
  });

  it("lists a loop for every import that closes one, when loops share files", () => {
    const edges = [edge("a", "b"), edge("b", "a"), edge("b", "c"), edge("c", "a")];
    expect(findCycles(edges)).toEqual([
      ["a", "b", "a"],
      ["a", "b", "c", "a"],
    ]);
  });

  it("finds nothing in a graph that only runs one way", () => {
    const edges = [edge("routes", "services"), edge("services", "db"), edge("routes", "db"), edge("db", "contract")];
    expect(findCycles(edges)).toEqual([]);
  });
});

describe("layerViolations", () => {
  const layers: Layer[] = [
    { name: "contract", files: ["src/contract/"], mayImport: ["contract"] },
    { name: "objects", files: ["durable-objects/"], mayImport: ["objects", "contract"] },
    { name: "stubs", files: ["src/stubs/"], mayImport: ["contract"], mayImportTypes: ["objects"] },
    { name: "entry", files: ["src/index.ts"], mayImport: "*" },
  ];

  it("names each import a layer may not make, with both layers", () => {
    const edges = [
      edge("src/contract/fleet.ts", "durable-objects/hub.ts"),
      edge("durable-objects/hub.ts", "src/contract/fleet.ts"),
      edge("src/index.ts", "durable-objects/hub.ts"),
    ];
    expect(layerViolations(edges, layers)).toEqual([
      "src/contract/fleet.ts -> durable-objects/hub.ts (contract -> objects)",
    ]);
  });

  it("lets a layer import types, and only types, from the layers it may import types from", () => {
    const edges = [
      edge("src/stubs/hub.ts", "durable-objects/hub.ts", true),
      edge("src/stubs/other.ts", "durable-objects/hub.ts"),
    ];
    expect(layerViolations(edges, layers)).toEqual(["src/stubs/other.ts -> durable-objects/hub.ts (stubs -> objects)"]);
  });

  it("marks a type-only violation as such", () => {
    expect(layerViolations([edge("src/contract/a.ts", "durable-objects/hub.ts", true)], layers)).toEqual([
      "src/contract/a.ts -> durable-objects/hub.ts (contract -> objects) [types only]",
    ]);
  });

  it("refuses an import into a file no layer claims", () => {
    expect(layerViolations([edge("src/contract/a.ts", "test/support/x.ts")], layers)).toEqual([
      "src/contract/a.ts -> test/support/x.ts (contract -> no layer)",
    ]);
  });

  it("names the files no layer claims, matching folders by prefix and files exactly", () => {
    const files = ["src/contract/a.ts", "src/index.ts", "src/index2.ts", "src/newfolder/x.ts"];
    expect(unassignedFiles(files, layers)).toEqual(["src/index2.ts", "src/newfolder/x.ts"]);
  });
});
