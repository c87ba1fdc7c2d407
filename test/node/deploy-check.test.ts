// The pure parts of `npm run deploy:check` (scripts/deploy-check.ts): reading wrangler's size line
// and a startup profile, and the comparison of wrangler.toml's bindings with the code, run on the
// real wrangler.toml and source tree, then on copies with one thing wrong each.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import {
  compareBindings,
  type Declared,
  declaredNames,
  envReads,
  parseUploadSize,
  queueFailures,
  secretsDocumented,
  sharedRoutes,
  startupCpu,
  typedSecrets,
  workerSources,
  wranglerWarnings,
} from "../../scripts/deploy-check.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const configPath = path.join(ROOT, "wrangler.toml");
const production = unstable_readConfig({ config: configPath });
const staging = unstable_readConfig({ config: configPath, env: "staging" });
const files = workerSources();
const secretsTyped = typedSecrets(readFileSync(path.join(ROOT, "src/secrets.d.ts"), "utf8"));
const real = () => ({
  production: declaredNames(production),
  staging: declaredNames(staging),
  files,
  secretsTyped,
});

describe("wrangler's output", () => {
  it("reads the raw and gzip sizes from the dry run's Total Upload line", () => {
    const out = "✨ Read 11 files\n\x1b[2mTotal Upload: 2528.53 KiB / gzip: 537.53 KiB\x1b[0m\nYour Worker has access";
    expect(parseUploadSize(out)).toEqual({
      rawBytes: Math.round(2528.53 * 1024),
      gzipBytes: Math.round(537.53 * 1024),
    });
    expect(parseUploadSize("--dry-run: exiting now.")).toBeUndefined();
  });

  it("gathers each of wrangler's warnings with the lines under it", () => {
    const out = [
      "Total Upload: 1.00 KiB / gzip: 0.50 KiB",
      "▲ [WARNING] Processing wrangler.toml configuration:",
      "",
      "  ",
      '    - "env.staging" environment configuration',
      '      - "kv_namespaces" exists at the top level, but not on "env.staging".',
      "",
      "",
      "--dry-run: exiting now.",
    ].join("\n");
    expect(wranglerWarnings(out)).toEqual([
      'Processing wrangler.toml configuration: "env.staging" environment configuration "kv_namespaces" exists at the top level, but not on "env.staging".',
    ]);
    expect(wranglerWarnings("Total Upload: 1.00 KiB / gzip: 0.50 KiB\n--dry-run: exiting now.")).toEqual([]);
  });

  it("counts a profile's sample time less its idle samples, garbage collection included", () => {
    const nodes = ["(root)", "(idle)", "(garbage collector)", "init", "(program)"].map((functionName, i) => ({
      id: i + 1,
      callFrame: { functionName },
    }));
    const samples = [4, 2, 2, 5, 3, 4];
    const timeDeltas = [1500, 900, 2500, 400, 10_000, 600];
    const idle = 900 + 2500;
    const gc = 10_000;
    const total = timeDeltas.reduce((a, b) => a + b, 0);
    expect(startupCpu({ nodes, samples, timeDeltas })).toEqual({
      sampledMs: total / 1000,
      activeMs: (total - idle) / 1000,
      gcMs: gc / 1000,
    });
  });
});

describe("bindings against the code", () => {
  it("finds env reads in code, not in comments, through c.env, this.env and env[...]", () => {
    const reads = envReads([
      { path: "a.ts", text: "// env.IN_A_COMMENT\nconst x = c.env.DB; /* env.ALSO_COMMENT */ this.env?.STORAGE;" },
      { path: "b.ts", text: 'fetch("https://x.example/env.NOT"); env["RL_IP"].limit(); env.DB' },
    ]);
    expect(Object.fromEntries(reads)).toEqual({ DB: ["a.ts", "b.ts"], STORAGE: ["a.ts"], RL_IP: ["b.ts"] });
  });

  it("the real wrangler.toml and code agree: each binding used, each read declared or a typed secret", () => {
    const report = compareBindings(real());
    expect(report.failures).toEqual([]);
    expect(report.secrets).toEqual([...secretsTyped].sort());
    expect(report.secrets.length).toBeGreaterThan(0);
    expect([...queueFailures("top", production), ...queueFailures("staging", staging)]).toEqual([]);
  });

  it("staging is its own Worker with its own resources and the same names", () => {
    expect(staging.name).not.toBe(production.name);
    const key = (d: Declared) => `${d.kind}:${d.name}`;
    expect(declaredNames(staging).map(key).sort()).toEqual(declaredNames(production).map(key).sort());
    // Rate-limit namespaces, queues, the database and the bucket: none is production's.
    const resources = (c: typeof production) =>
      declaredNames(c)
        .filter((d) => ["d1", "r2", "queue", "ratelimit"].includes(d.kind))
        .map((d) => `${d.kind}:${d.resource}`);
    const prod = resources(production);
    expect(resources(staging).filter((r) => prod.includes(r))).toEqual([]);
    expect(resources(staging)).toHaveLength(prod.length);
  });

  it("fails on a declared binding the code does not use, in either environment", () => {
    const input = real();
    const unused: Declared = { name: "SPARE_BUCKET", kind: "r2", resource: "spare" };
    const report = compareBindings({ ...input, production: [...input.production, unused] });
    expect(report.failures).toContain("wrangler.toml declares SPARE_BUCKET (r2) but the code never uses it");
    expect(report.failures).toContain("[env.staging] lacks SPARE_BUCKET (r2), which production has");
  });

  it("fails on a read wrangler.toml does not declare and src/secrets.d.ts does not type", () => {
    const input = real();
    const extra = { path: "src/extra.ts", text: "export const f = (env: Env) => env.MYSTERY_TOKEN;" };
    const report = compareBindings({ ...input, files: [...input.files, extra] });
    expect(report.secrets).toContain("MYSTERY_TOKEN");
    expect(report.failures).toEqual([
      "the code reads env.MYSTERY_TOKEN (src/extra.ts), which wrangler.toml does not declare and src/secrets.d.ts does not type as a secret",
    ]);
  });

  it("fails on a typed secret the code never reads", () => {
    const report = compareBindings({ ...real(), secretsTyped: [...secretsTyped, "OLD_SECRET"] });
    expect(report.failures).toEqual(["src/secrets.d.ts types the secret OLD_SECRET, but the code never reads it"]);
  });

  it("fails when staging lacks a binding or shares production's database", () => {
    const input = real();
    const prodDb = input.production.find((d) => d.kind === "d1")!;
    const stagingWithProdDb = input.staging
      .filter((d) => d.kind !== "queue")
      .map((d) => (d.kind === "d1" ? { ...d, resource: prodDb.resource } : d));
    const report = compareBindings({ ...input, staging: stagingWithProdDb });
    const queue = input.production.find((d) => d.kind === "queue")!;
    expect(report.failures).toEqual([
      `[env.staging] lacks ${queue.name} (queue), which production has`,
      `[env.staging] ${prodDb.name} uses production's d1 ${prodDb.resource} (production's ${prodDb.name})`,
    ]);
    expect(compareBindings({ ...input, staging: undefined }).failures).toEqual(["wrangler.toml has no [env.staging]"]);
  });

  it("fails when staging would take production's route, and staging sets routes of its own", () => {
    expect(sharedRoutes(production, staging)).toEqual([]);
    const withDomain = { ...production, routes: [{ pattern: "fleet.example.com", custom_domain: true }] };
    const inherited = { ...staging, routes: ["fleet.example.com"] };
    expect(sharedRoutes(withDomain, inherited)).toEqual([
      "[env.staging] takes production's route fleet.example.com: give staging routes of its own (or routes = [])",
    ]);
    expect(sharedRoutes(withDomain, staging)).toEqual([]);
  });

  it("fails on a queue consumer without a dead-letter queue", () => {
    const noDlq = {
      ...production,
      queues: { ...production.queues, consumers: [{ queue: "jobs", dead_letter_queue: undefined }] },
    } as typeof production;
    expect(queueFailures("wrangler.toml", noDlq)).toEqual([
      "wrangler.toml: the consumer of jobs has no dead_letter_queue",
    ]);
  });
});

describe("secrets in the docs", () => {
  const secrets = ["ADMIN_TOKEN", "SIGNING_SECRET"];

  it("names the missing files and the missing names", () => {
    expect(secretsDocumented(secrets, { deployMd: undefined, devVarsExample: undefined })).toEqual([
      "docs/deploy.md is missing: it must name the secrets ADMIN_TOKEN, SIGNING_SECRET",
      ".dev.vars.example is missing: it must name the secrets ADMIN_TOKEN, SIGNING_SECRET",
    ]);
    expect(
      secretsDocumented(secrets, {
        deployMd: "wrangler secret put ADMIN_TOKEN\nSIGNING_SECRETS are not it",
        devVarsExample: "ADMIN_TOKEN=x\n# mentions SIGNING_SECRET in prose only",
      }),
    ).toEqual([
      "docs/deploy.md does not name the secret SIGNING_SECRET",
      ".dev.vars.example has no SIGNING_SECRET= line",
    ]);
  });

  it("accepts a NAME= line commented out, or set", () => {
    expect(
      secretsDocumented(secrets, {
        deployMd: "`ADMIN_TOKEN` and `SIGNING_SECRET`",
        devVarsExample: "# ADMIN_TOKEN=<token>\nSIGNING_SECRET = x\n",
      }),
    ).toEqual([]);
  });
});
