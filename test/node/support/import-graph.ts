// The project's import graph, read from the source files on disk, and the two checks the
// layering needs: cycles, and imports that go against a table of layers. Relative imports
// only; packages and runtime modules (hono, cloudflare:workers) are outside the graph.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseSync } from "oxc-parser";

export interface ImportRef {
  specifier: string;
  /** Erased by TypeScript: `import type`, `export type … from`, `import("…")` in a type. */
  typeOnly: boolean;
}

/** One file importing another; type-only when every import between the two is. */
export interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

export interface Layer {
  name: string;
  /** Folders end in "/" and hold everything under them; anything else is one file. */
  files: readonly string[];
  /** Layers this one may import from; "*" is any layer. */
  mayImport: readonly string[] | "*";
  /** Layers this one may import types from (and nothing else). */
  mayImportTypes?: readonly string[];
}

const SOURCE = /\.(ts|tsx|mjs)$/;
const SKIPPED_FOLDERS = new Set(["node_modules", "test", "bench"]);

/** Every source file under `dirs`, as a path relative to `root` with forward slashes. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(entry.name)) walk(child);
      } else if (SOURCE.test(entry.name)) out.push(child);
    }
  };
  for (const dir of dirs) {
    if (statSync(path.join(root, dir), { throwIfNoEntry: false })?.isDirectory()) walk(dir);
  }
  return out.sort();
}

/** Every relative module a file names: static imports, re-exports, `import()` in code and types. */
export function importsOf(fileName: string, text: string): ImportRef[] {
  const parsed = parseSync(fileName, text);
  if (parsed.errors.length > 0) {
    throw new Error(`${fileName}: ${parsed.errors.map((e) => e.message).join("; ")}`);
  }
  const refs: ImportRef[] = [];
  for (const imp of parsed.module.staticImports) {
    // `import { type A } from` is erased like `import type`; `import "./x"` (no names) is not.
    const typeOnly = imp.entries.length > 0 && imp.entries.every((e) => e.isType);
    refs.push({ specifier: imp.moduleRequest.value, typeOnly });
  }
  for (const exp of parsed.module.staticExports) {
    const fromModule = exp.entries.filter((e) => e.moduleRequest !== null);
    if (fromModule.length === 0) continue;
    refs.push({ specifier: fromModule[0]!.moduleRequest!.value, typeOnly: fromModule.every((e) => e.isType) });
  }
  walkAst(parsed.program, (node) => {
    if ((node.type === "ImportExpression" || node.type === "TSImportType") && isStringLiteral(node.source)) {
      refs.push({ specifier: node.source.value, typeOnly: node.type === "TSImportType" });
    }
  });
  return refs.filter((r) => r.specifier.startsWith("./") || r.specifier.startsWith("../"));
}

interface AstNode {
  type: string;
  [key: string]: unknown;
}

function isStringLiteral(value: unknown): value is { type: "Literal"; value: string } {
  return isNode(value) && value.type === "Literal" && typeof value.value === "string";
}

function isNode(value: unknown): value is AstNode {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

function walkAst(node: unknown, visit: (node: AstNode) => void): void {
  if (Array.isArray(node)) {
    for (const child of node) walkAst(child, visit);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  if (isNode(node)) visit(node);
  for (const value of Object.values(node)) {
    if (typeof value === "object" && value !== null) walkAst(value, visit);
  }
}

/** The file a relative specifier names, tried as written, with an extension, and as a folder. */
export function resolveImport(from: string, specifier: string, exists: (file: string) => boolean): string | null {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  const candidates = [
    base,
    `${base}.ts`,
    `${base}.tsx`,
    `${base}.d.ts`,
    `${base}.mjs`,
    `${base}/index.ts`,
    `${base}/index.tsx`,
  ];
  return candidates.find(exists) ?? null;
}

/** The graph of the files under `dirs`, and the specifiers that name no file. */
export function importGraph(
  root: string,
  dirs: readonly string[],
): { files: string[]; edges: Edge[]; unresolved: string[] } {
  const files = sourceFiles(root, dirs);
  const exists = (file: string) => statSync(path.join(root, file), { throwIfNoEntry: false })?.isFile() ?? false;
  const byPair = new Map<string, Edge>();
  const unresolved: string[] = [];
  for (const from of files) {
    for (const ref of importsOf(from, readFileSync(path.join(root, from), "utf8"))) {
      const to = resolveImport(from, ref.specifier, exists);
      if (to === null) {
        unresolved.push(`${from} -> ${ref.specifier}`);
        continue;
      }
      const key = `${from}\0${to}`;
      const known = byPair.get(key);
      if (known) known.typeOnly &&= ref.typeOnly;
      else byPair.set(key, { from, to, typeOnly: ref.typeOnly });
    }
  }
  return { files, edges: [...byPair.values()], unresolved };
}

/**
 * The cycles of a graph, each as its path of files back to the first one. Every edge that
 * lies on a cycle appears in at least one listed cycle (the shortest one through it), so the
 * list names each import to reconsider without enumerating every combination of loops.
 */
export function findCycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const component = stronglyConnected(next);
  const cycles = new Map<string, string[]>();
  for (const { from, to } of edges) {
    const c = component.get(from);
    if (c === undefined || c !== component.get(to)) continue;
    const back = shortestPath(next, to, from, (n) => component.get(n) === c);
    if (!back) continue;
    const cycle = [from, ...back.slice(0, -1)];
    // The same loop is found from each of its edges; keep it once, starting at its first file.
    const start = cycle.indexOf([...cycle].sort()[0]!);
    const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
    cycles.set(rotated.join("\0"), [...rotated, rotated[0]!]);
  }
  return [...cycles.values()].sort((a, b) => a.join(" ").localeCompare(b.join(" ")));
}

/** Tarjan's algorithm: each node's component id, for the components that can hold a cycle. */
function stronglyConnected(next: Map<string, string[]>): Map<string, number> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const component = new Map<string, number>();
  let counter = 0;
  let components = 0;
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const to of next.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) === index.get(node)) {
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.set(member, components);
      } while (member !== node);
      components++;
    }
  };
  for (const node of next.keys()) if (!index.has(node)) visit(node);
  return component;
}

function shortestPath(
  next: Map<string, string[]>,
  from: string,
  to: string,
  allowed: (node: string) => boolean,
): string[] | null {
  const cameFrom = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  while (queue.length > 0) {
    const node = queue.shift()!;
    if (node === to) {
      const pathBack: string[] = [];
      for (let n: string | null = node; n !== null; n = cameFrom.get(n)!) pathBack.unshift(n);
      return pathBack;
    }
    for (const n of next.get(node) ?? []) {
      if (!cameFrom.has(n) && allowed(n)) {
        cameFrom.set(n, node);
        queue.push(n);
      }
    }
  }
  return null;
}

export function layerOf(file: string, layers: readonly Layer[]): Layer | undefined {
  return layers.find((l) => l.files.some((f) => (f.endsWith("/") ? file.startsWith(f) : file === f)));
}

/** Files no layer claims: each new folder gets its place in the table on purpose. */
export function unassignedFiles(files: readonly string[], layers: readonly Layer[]): string[] {
  return files.filter((f) => layerOf(f, layers) === undefined);
}

/** Each import the table does not allow, as "from -> to (layer -> layer)". */
export function layerViolations(edges: readonly Edge[], layers: readonly Layer[]): string[] {
  const out: string[] = [];
  for (const { from, to, typeOnly } of edges) {
    const a = layerOf(from, layers);
    if (!a) continue; // reported by unassignedFiles
    const b = layerOf(to, layers);
    const allowed =
      b !== undefined &&
      (a.mayImport === "*" || a.mayImport.includes(b.name) || (typeOnly && (a.mayImportTypes ?? []).includes(b.name)));
    if (!allowed)
      out.push(`${from} -> ${to} (${a.name} -> ${b?.name ?? "no layer"})${typeOnly ? " [types only]" : ""}`);
  }
  return out.sort();
}
