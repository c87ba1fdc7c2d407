// Exports that no other file imports, as knip finds them (it parses with oxc, so it needs
// neither the TypeScript compiler API nor the network, and reads this tree in about a second).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

/** The issue kinds knip reports per file that mean "exported, never imported elsewhere". */
const KINDS = ["exports", "nsExports", "types", "nsTypes"] as const;

interface KnipSymbol {
  name: string;
  line: number;
}

type KnipReport = { issues: ({ file: string } & Partial<Record<(typeof KINDS)[number], KnipSymbol[]>>)[] };

// knip's package exports no path to its command; its main module sits in dist/, beside bin/.
const knipBin = path.resolve(path.dirname(createRequire(import.meta.url).resolve("knip")), "../bin/knip.js");

/** Each unused export under `root` as "file:line name", types as "file:line type Name". */
export function unusedExports(root: string, configFile: string): string[] {
  const run = spawnSync(
    process.execPath,
    [
      knipBin,
      "--directory",
      root,
      "--config",
      configFile,
      "--include",
      KINDS.join(","),
      "--reporter",
      "json",
      "--no-config-hints",
      "--no-exit-code",
      "--no-progress",
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  if (run.status !== 0) throw new Error(`knip failed (${run.status ?? run.signal}): ${run.stderr || run.stdout}`);
  const report = JSON.parse(run.stdout) as KnipReport;
  const out: string[] = [];
  for (const issue of report.issues) {
    for (const kind of KINDS) {
      const prefix = kind === "types" || kind === "nsTypes" ? "type " : "";
      for (const symbol of issue[kind] ?? []) out.push(`${issue.file}:${symbol.line} ${prefix}${symbol.name}`);
    }
  }
  return out.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}
