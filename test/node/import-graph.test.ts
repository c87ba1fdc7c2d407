// Imports run one way (routes → use cases → repositories and object stubs → wire types) and
// never in a circle. This reads the real source tree, so a new folder or a shortcut import
// fails here before it spreads.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { findCycles, importGraph, type Layer, layerViolations, unassignedFiles } from "./support/import-graph";

const LAYERS: readonly Layer[] = [
  // name        files                                                                    may import
  { name: "contract", files: ["src/contract/"], mayImport: ["contract", "lib"] },
  { name: "lib", files: ["src/lib/"], mayImport: ["lib"] },
  { name: "db", files: ["src/db/"], mayImport: ["db", "contract", "lib"] },
  // OTLP is another way in to the same ingest: decoding, mapping and its answers.
  { name: "ingest", files: ["src/ingest/", "src/otlp/"], mayImport: ["ingest", "contract", "lib"] },
  { name: "objects", files: ["durable-objects/"], mayImport: ["objects", "db", "ingest", "stubs", "contract", "lib"] },
  { name: "stubs", files: ["src/stubs/"], mayImport: ["contract", "lib"], mayImportTypes: ["objects"] },
  { name: "services", files: ["src/services/"], mayImport: ["services", "stubs", "db", "ingest", "contract", "lib"] },
  {
    name: "http",
    files: ["src/http/", "src/auth/", "src/app-env.ts"],
    mayImport: ["http", "services", "stubs", "db", "ingest", "contract", "lib"],
  },
  {
    name: "routes",
    files: ["src/routes/"],
    mayImport: ["http", "services", "stubs", "db", "ingest", "contract", "lib"],
  },
  { name: "jobs", files: ["src/jobs/"], mayImport: ["jobs", "services", "stubs", "db", "ingest", "contract", "lib"] },
  { name: "entry", files: ["src/index.ts", "src/app.ts"], mayImport: "*" },
  // The two clients: each keeps to its own folder and the wire types.
  { name: "web", files: ["web/"], mayImport: ["web", "contract", "lib"], mayImportTypes: ["entry"] },
  { name: "agent", files: ["agent/"], mayImport: ["agent", "contract", "lib"] },
  // Written by `wrangler types` (and src/secrets.d.ts by hand): Env names the Durable Object classes through src/index.ts.
  {
    name: "env",
    files: ["src/worker-configuration.d.ts", "src/secrets.d.ts"],
    mayImport: [],
    mayImportTypes: ["entry"],
  },
];

const ROOT = path.resolve(import.meta.dirname, "../..");
const graph = importGraph(ROOT, ["src", "durable-objects", "web", "agent"]);

describe("the import graph of src/, durable-objects/, web/ and agent/", () => {
  it("reads the source tree", () => {
    expect(graph.files).toContain("src/index.ts");
    expect(graph.edges.length).toBeGreaterThan(graph.files.length);
  });

  it("names only files that exist", () => {
    expect(graph.unresolved, "imports that name no file").toEqual([]);
  });

  it("gives every file a layer", () => {
    expect(unassignedFiles(graph.files, LAYERS), "files no layer claims: add them to LAYERS").toEqual([]);
  });

  it("has no cycles, type-only imports included", () => {
    const cycles = findCycles(graph.edges).map((c) => c.join(" -> "));
    expect(cycles, `${cycles.length} import cycles`).toEqual([]);
  });

  it("imports only what each layer may import", () => {
    const violations = layerViolations(graph.edges, LAYERS);
    expect(violations, `${violations.length} imports against the layer rules`).toEqual([]);
  });
});
