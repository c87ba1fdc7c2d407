// docs/deploy.md names every binding, variable and secret a deploy needs: its three tables
// (Bindings, Variables, Secrets) are compared with wrangler.toml (the top level and each
// [env.*]) and with the names the code reads (`env.NAME` in src/ and durable-objects/, and the
// rate-limit bindings the tier table names). A secret is a name the code reads that
// wrangler.toml does not declare; each one is also in .dev.vars.example.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { experimental_readRawConfig, unstable_readConfig } from "wrangler";
import { declaredNames, envReads, workerSources } from "../../scripts/deploy-check.ts";

const root = path.join(import.meta.dirname, "../..");
const configPath = path.join(root, "wrangler.toml");
const doc = readFileSync(path.join(root, "docs/deploy.md"), "utf8");
const example = readFileSync(path.join(root, ".dev.vars.example"), "utf8");

type Config = ReturnType<typeof unstable_readConfig>;

/** The top level (production) and every named environment, each as wrangler resolves it. */
const envNames = Object.keys(experimental_readRawConfig({ config: configPath }).rawConfig.env ?? {});
const environments = [
  { label: "top level", config: unstable_readConfig({ config: configPath }) },
  ...envNames.map((env) => ({
    label: `env.${env}`,
    config: unstable_readConfig({ config: configPath, env }),
  })),
];

/** The names the Worker sees in `env`: every binding and variable one environment declares. */
const bindingNames = (c: Config): string[] => declaredNames(c).map((d) => d.name);

/** The account's resources one environment names: what the doc's commands create (rate limits create none). */
function resourceNames(c: Config): string[] {
  const named = declaredNames(c)
    .filter((d) => d.kind !== "ratelimit")
    .map((d) => d.resource);
  const deadLetters = (c.queues.consumers ?? []).map((q: { dead_letter_queue?: string }) => q.dead_letter_queue ?? "");
  return [...named, ...deadLetters].filter(Boolean);
}

/** The names the code reads: `env.NAME` (deploy:check's reader), and `binding: "NAME"` (the tiers' rate limits). */
function namesTheCodeReads(): Set<string> {
  const files = workerSources();
  const names = new Set(envReads(files).keys());
  for (const f of files) for (const m of f.text.matchAll(/\bbinding:\s*"([A-Z][A-Z0-9_]*)"/g)) names.add(m[1]!);
  return names;
}

/** The backticked NAMEs in the first column of the table under a `### heading` of the doc. */
function tableNames(heading: string): string[] {
  const marker = `\n### ${heading}\n`;
  const start = doc.indexOf(marker);
  if (start === -1) throw new Error(`docs/deploy.md has no "### ${heading}" section`);
  const rest = doc.slice(start + marker.length);
  const end = rest.search(/\n#{2,3} /);
  const section = end === -1 ? rest : rest.slice(0, end);
  const rows = section.split("\n").filter((l) => l.startsWith("| ") && !/^\|\s*-/.test(l));
  const firstCells = rows.slice(1).map((l) => l.split("|")[1]!);
  return firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!));
}

const read = namesTheCodeReads();
const declaredTop = new Set(bindingNames(environments[0]!.config));
const declaredAnywhere = new Set(environments.flatMap((e) => bindingNames(e.config)));
const required = new Set(environments.flatMap((e) => e.config.secrets?.required ?? []));
const secrets = [...new Set([...[...read].filter((n) => !declaredAnywhere.has(n)), ...required])].sort();

const tables = {
  bindings: tableNames("Bindings"),
  variables: tableNames("Variables"),
  secrets: tableNames("Secrets"),
};

describe("docs/deploy.md against wrangler.toml and the code", () => {
  it("finds what it compares: bindings, variables, secrets and a staging environment", () => {
    expect(read.size).toBeGreaterThan(10);
    expect(secrets).toContain("ADMIN_TOKEN");
    expect(tables.bindings.length).toBeGreaterThan(5);
    expect(tables.variables.length).toBeGreaterThan(5);
    expect(environments.map((e) => e.label)).toContain("env.staging");
  });

  it.each(environments)("$label: every binding and variable has a row in the doc's tables", ({ config }) => {
    const bindings = bindingNames(config).filter((n) => !(n in config.vars));
    expect(bindings.filter((n) => !tables.bindings.includes(n))).toEqual([]);
    expect(Object.keys(config.vars).filter((n) => !tables.variables.includes(n))).toEqual([]);
  });

  it.each(environments)("$label: every resource it names appears in the doc", ({ config }) => {
    expect(resourceNames(config).filter((n) => !doc.includes(n))).toEqual([]);
  });

  it("every name the code reads is declared in wrangler.toml or is a secret in the doc's Secrets table", () => {
    const undeclared = [...read].filter((n) => !declaredTop.has(n));
    expect(undeclared.filter((n) => !tables.secrets.includes(n))).toEqual([]);
  });

  it("the Secrets table is exactly the secrets: names the code reads that wrangler.toml does not declare", () => {
    expect([...new Set(tables.secrets)].sort()).toEqual(secrets);
  });

  it("every secret is named in .dev.vars.example", () => {
    expect(secrets.filter((s) => !new RegExp(`^#?\\s*${s}=`, "m").test(example))).toEqual([]);
  });

  it("no stale names: every name in the doc's tables is declared in wrangler.toml or read by the code", () => {
    const all = [...tables.bindings, ...tables.variables, ...tables.secrets];
    expect(all.filter((n) => !declaredAnywhere.has(n) && !read.has(n))).toEqual([]);
  });

  it("no stale names in .dev.vars.example: each NAME= line is a secret or a variable of wrangler.toml", () => {
    const names = [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)\s*=/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !secrets.includes(n) && !(n in environments[0]!.config.vars))).toEqual([]);
  });
});
