// `npm run setup:cloudflare` (scripts/setup-cloudflare.mjs) on a copy of wrangler.toml, never
// against Cloudflare: its dry run answered by fixtures (nothing exists yet; everything exists),
// and real runs whose `wrangler` is a stub on PATH written here, which keeps a fake account in a
// JSON file and prints what wrangler 4 prints. The names expected come from wrangler's own
// reading of the copy (unstable_readConfig), not from the script.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { experimental_readRawConfig, unstable_readConfig } from "wrangler";
import { parseD1Create, parseD1List, parseQueuesList, parseR2List, withD1Id } from "../../scripts/setup-cloudflare.mjs";

const ROOT = path.join(import.meta.dirname, "../..");
const SCRIPT = path.join(ROOT, "scripts/setup-cloudflare.mjs");

/** The parts of wrangler's reading of an environment these tests use. */
interface Resolved {
  d1_databases: { binding: string; database_name: string; database_id?: string }[];
  r2_buckets: { binding: string; bucket_name: string }[];
  queues: { producers?: { queue: string }[]; consumers?: { queue: string; dead_letter_queue?: string }[] };
}
/** What one environment of the file names, read by wrangler itself. */
function namesIn(config: string, env?: string) {
  const c = unstable_readConfig({ config, env }) as unknown as Resolved;
  const queues = [
    ...new Set(
      [
        ...(c.queues.producers ?? []).map((p) => p.queue),
        ...(c.queues.consumers ?? []).flatMap((q) => [q.queue, q.dead_letter_queue]),
      ].filter((q): q is string => Boolean(q)),
    ),
  ];
  return {
    d1: c.d1_databases.map((d) => ({ binding: d.binding, name: d.database_name, id: d.database_id })),
    buckets: c.r2_buckets.map((b) => b.bucket_name),
    queues,
  };
}

/** The 1-based line of `database_id` in the block naming `name`, in the file's text. */
function idLineOf(text: string, name: string, header = "[[d1_databases]]"): number {
  const lines = text.split("\n");
  let inBlock = false;
  for (const [i, line] of lines.entries()) {
    if (/^\s*\[/.test(line)) inBlock = line.trim() === header;
    else if (inBlock && line.includes(`database_name = "${name}"`)) {
      const id = lines.findIndex((l, j) => j > i && /^\s*database_id\s*=/.test(l));
      return id + 1;
    }
  }
  throw new Error(`no ${header} for ${name}`);
}

// What wrangler 4.164 prints for each listing (wrangler-dist/cli.js: `d1 list --json` the API's
// array; `r2 bucket list` labelled values after its banner; `queues list` a cli-table3 table).
// JavaScript source, so that the stub below prints the same: evaluated here for the fixtures.
const PRINTERS = String.raw`
const BANNER = "\n ⛅️ wrangler 4.164.0\n───────────────────\n";
const CREATED = "2026-12-01T10:00:00.000Z";
function d1List(dbs) {
  return JSON.stringify(dbs.map((d) => ({ uuid: d.uuid, name: d.name, created_at: CREATED, version: "production" })), null, 2);
}
function r2List(names) {
  return BANNER + "Listing buckets...\n" + names.map((n) => "name:           " + n + "\ncreation_date:  " + CREATED).join("\n\n") + "\n";
}
function queuesList(names) {
  const head = ["id", "name", "created_on", "modified_on", "producers", "consumers"];
  const rows = names.map((n) => [require("node:crypto").randomUUID().replaceAll("-", ""), n, CREATED, CREATED, "1", "1"]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)) + 2);
  const rule = (l, m, r) => l + widths.map((w) => "─".repeat(w)).join(m) + r;
  const row = (cells) => "│" + cells.map((c, i) => " " + c.padEnd(widths[i] - 1)).join("│") + "│";
  const body = rows.map(row).join("\n" + rule("├", "┼", "┤") + "\n");
  return BANNER + [rule("┌", "┬", "┐"), row(head), rule("├", "┼", "┤"), ...(body ? [body] : []), rule("└", "┴", "┘")].join("\n") + "\n";
}
`;
type Db = { name: string; uuid: string };
const { d1List, r2List, queuesList } = new Function("require", `${PRINTERS}; return { d1List, r2List, queuesList };`)(
  createRequire(import.meta.url),
) as { d1List: (dbs: Db[]) => string; r2List: (names: string[]) => string; queuesList: (names: string[]) => string };

// A \`wrangler\` for the real runs: the account is a JSON file; every call is logged. A bucket or
// queue marked unlisted exists but is missing from the list (past its first page): its create
// fails the way Cloudflare's API does.
const STUB = String.raw`#!/usr/bin/env node
const fs = require("node:fs");
const crypto = require("node:crypto");
${PRINTERS}
const { STUB_STATE, STUB_LOG } = process.env;
const args = process.argv.slice(2);
fs.appendFileSync(STUB_LOG, "wrangler " + args.join(" ") + "\n");
const s = JSON.parse(fs.readFileSync(STUB_STATE, "utf8"));
const save = () => fs.writeFileSync(STUB_STATE, JSON.stringify(s));
const out = (t) => process.stdout.write(t);
const fail = (message) => {
  process.stderr.write("✘ [ERROR] A request to the Cloudflare API failed.\n  " + message + "\n");
  process.exit(1);
};
const cmd = args.slice(0, args[0] === "r2" ? 3 : 2).join(" ");
const name = args[cmd.split(" ").length];
if (s.failOn === cmd) fail("Authentication error [code: 10000]");
if (cmd === "d1 list") out(d1List(s.d1.filter((d) => !s.unlisted.includes(d.name) || s.listedOnce.includes(d.name))));
else if (cmd === "r2 bucket list") out(r2List(s.r2.filter((b) => !s.unlisted.includes(b))));
else if (cmd === "queues list") out(queuesList(s.queues.filter((q) => !s.unlisted.includes(q))));
else if (cmd === "d1 create") {
  if (s.d1.some((d) => d.name === name)) {
    s.listedOnce.push(name);
    save();
    fail("A database with that name already exists. [code: 7502]");
  }
  const uuid = crypto.randomUUID();
  s.d1.push({ name, uuid });
  save();
  out("✅ Successfully created DB '" + name + "' in region WEUR\nCreated your new D1 database.\n\n" +
    "To access your new D1 Database in your Worker, add the following snippet to your configuration file:\n" +
    '[[d1_databases]]\nbinding = "' + name + '"\ndatabase_name = "' + name + '"\ndatabase_id = "' + uuid + '"\n');
} else if (cmd === "r2 bucket create") {
  if (s.r2.includes(name)) fail("The bucket you tried to create already exists, and you own it. [code: 10004]");
  s.r2.push(name);
  save();
  out("Creating bucket '" + name + "'...\n✅ Created bucket '" + name + "' with default storage class of Standard.\n");
} else if (cmd === "queues create") {
  if (s.queues.includes(name)) fail("Queue name already taken [code: 11009]");
  s.queues.push(name);
  save();
  out("🌀 Creating queue '" + name + "'\n✅ Created queue '" + name + "'\n");
} else {
  process.stderr.write("stub wrangler: no " + args.join(" ") + "\n");
  process.exit(1);
}
`;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  commands: string[];
}
let dir: string;
let config: string;
let original: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "setup-cloudflare-"));
  config = path.join(dir, "wrangler.toml");
  copyFileSync(path.join(ROOT, "wrangler.toml"), config);
  original = readFileSync(config, "utf8");
});

function runScript(args: string[], env: NodeJS.ProcessEnv = process.env): Run {
  const r = spawnSync(process.execPath, [SCRIPT, "--config", config, ...args], { encoding: "utf8", env });
  const commands = r.stdout
    .split("\n")
    .filter((l) => /^(\$ |would run: |would write: |write: )/.test(l))
    .map((l) => l.replace(/^\$ /, "run: "));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, commands };
}
function dryRun(fixtures: Record<string, string>, env?: string): Run {
  const file = path.join(dir, "fixtures.json");
  writeFileSync(file, JSON.stringify(fixtures));
  return runScript(["--dry-run", "--fixtures", file, ...(env ? ["--env", env] : [])]);
}

/** The environments to try: the top level, and [env.staging] once wrangler.toml has one. */
const { rawConfig } = experimental_readRawConfig({ config: path.join(ROOT, "wrangler.toml") });
const envs: [string, string | undefined][] = [
  ["the top level", undefined],
  ...(rawConfig.env?.staging ? [["--env staging", "staging"] as [string, string]] : []),
];

describe.each(envs)("setup:cloudflare --dry-run, %s", (_, env) => {
  const header = env ? `[[env.${env}.d1_databases]]` : "[[d1_databases]]";
  const listCommands = (n: ReturnType<typeof namesIn>) => [
    ...(n.d1.length ? ["run: wrangler d1 list --json"] : []),
    ...(n.buckets.length ? ["run: wrangler r2 bucket list"] : []),
    ...(n.queues.length ? ["run: wrangler queues list"] : []),
  ];

  it("with nothing in the account: lists, then creates each resource and writes the new database id", () => {
    const n = namesIn(config, env);
    expect(n.d1.length + n.buckets.length + n.queues.length).toBeGreaterThan(0);
    const r = dryRun(
      {
        "wrangler d1 list --json": d1List([{ name: "someone-elses-db", uuid: randomUUID() }]),
        "wrangler r2 bucket list": r2List(["someone-elses-bucket"]),
        "wrangler queues list": queuesList(["someone-elses-queue"]),
      },
      env,
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.commands).toEqual([
      ...(n.d1.length ? ["run: wrangler d1 list --json"] : []),
      ...n.d1.flatMap((d) => [
        `would run: wrangler d1 create ${d.name}`,
        `would write: ${config}:${idLineOf(original, d.name, header)} ${d.binding} database_id = "<id printed by wrangler d1 create ${d.name}>"`,
      ]),
      ...(n.buckets.length ? ["run: wrangler r2 bucket list"] : []),
      ...n.buckets.map((b) => `would run: wrangler r2 bucket create ${b}`),
      ...(n.queues.length ? ["run: wrangler queues list"] : []),
      ...n.queues.map((q) => `would run: wrangler queues create ${q}`),
    ]);
    expect(readFileSync(config, "utf8")).toBe(original);
  });

  it("with everything in the account (a second run): creates nothing and writes the existing ids", () => {
    const n = namesIn(config, env);
    const ids = new Map(n.d1.map((d) => [d.name, randomUUID()]));
    const fixtures = {
      "wrangler d1 list --json": d1List([...ids].map(([name, uuid]) => ({ name, uuid }))),
      "wrangler r2 bucket list": r2List(["another", ...n.buckets]),
      "wrangler queues list": queuesList([...n.queues, "another"]),
    };
    const r = dryRun(fixtures, env);
    expect(r.status).toBe(0);
    const writes = n.d1.map(
      (d) =>
        `would write: ${config}:${idLineOf(original, d.name, header)} ${d.binding} database_id = "${ids.get(d.name)}"`,
    );
    expect(r.commands.filter((c) => !c.startsWith("would write"))).toEqual(listCommands(n));
    expect(r.commands.filter((c) => c.startsWith("would write"))).toEqual(writes);
    expect(r.stdout).toMatch(/Would create: none/);

    // Once the ids are in the file, there is nothing left to write either.
    let text = original;
    for (const d of n.d1) {
      const line = idLineOf(text, d.name, header) - 1;
      const lines = text.split("\n");
      lines[line] = lines[line]!.replace(/"[^"]*"/, `"${ids.get(d.name)}"`);
      text = lines.join("\n");
    }
    writeFileSync(config, text);
    const again = dryRun(fixtures, env);
    expect(again.status).toBe(0);
    expect(again.commands).toEqual(listCommands(n));
    expect(again.stdout).toMatch(/Would write: none/);
    expect(readFileSync(config, "utf8")).toBe(text);
  });

  it("without fixtures: says what it would list, and every create it would run", () => {
    const n = namesIn(config, env);
    const r = runScript(["--dry-run", ...(env ? ["--env", env] : [])]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("(would list D1 databases: wrangler d1 list --json)");
    expect(r.commands.filter((c) => c.startsWith("would run"))).toEqual([
      ...n.d1.map((d) => `would run: wrangler d1 create ${d.name}`),
      ...n.buckets.map((b) => `would run: wrangler r2 bucket create ${b}`),
      ...n.queues.map((q) => `would run: wrangler queues create ${q}`),
    ]);
    expect(r.stdout).toContain(`npx wrangler deploy${env ? ` --env ${env}` : ""}`);
    expect(readFileSync(config, "utf8")).toBe(original);
  });
});

describe("setup:cloudflare with a stub wrangler (no network)", () => {
  function stubbed(account: {
    failOn?: string;
    d1?: { name: string; uuid: string }[];
    r2?: string[];
    queues?: string[];
    unlisted?: string[];
  }) {
    const bin = path.join(dir, "bin");
    const state = path.join(dir, "account.json");
    const log = path.join(dir, "wrangler.log");
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, "wrangler"), STUB);
    chmodSync(path.join(bin, "wrangler"), 0o755);
    writeFileSync(state, JSON.stringify({ d1: [], r2: [], queues: [], unlisted: [], listedOnce: [], ...account }));
    writeFileSync(log, "");
    const env = {
      ...process.env,
      PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      STUB_STATE: state,
      STUB_LOG: log,
    };
    return {
      run: (args: string[] = []) => {
        const before = readFileSync(log, "utf8").length;
        const r = runScript(args, env);
        return { ...r, called: readFileSync(log, "utf8").slice(before).split("\n").filter(Boolean) };
      },
      account: () =>
        JSON.parse(readFileSync(state, "utf8")) as {
          d1: { name: string; uuid: string }[];
          r2: string[];
          queues: string[];
        },
    };
  }

  it("creates what is missing, writes the id in place keeping every other line, and a second run changes nothing", () => {
    const n = namesIn(config);
    const stub = stubbed({});
    const first = stub.run();
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    expect(first.called).toEqual([
      "wrangler d1 list --json",
      ...n.d1.map((d) => `wrangler d1 create ${d.name}`),
      "wrangler r2 bucket list",
      ...n.buckets.map((b) => `wrangler r2 bucket create ${b}`),
      "wrangler queues list",
      ...n.queues.map((q) => `wrangler queues create ${q}`),
    ]);
    const account = stub.account();
    expect(account.r2).toEqual(n.buckets);
    expect(account.queues).toEqual(n.queues);

    // The file: the account's ids on the database_id lines, every other line as it was.
    const written = readFileSync(config, "utf8");
    expect(namesIn(config).d1.map((d) => d.id)).toEqual(
      n.d1.map((d) => account.d1.find((a) => a.name === d.name)!.uuid),
    );
    const idLines = new Set(n.d1.map((d) => idLineOf(original, d.name) - 1));
    const before = original.split("\n");
    const after = written.split("\n");
    expect(after.length).toBe(before.length);
    expect(after.filter((_, i) => !idLines.has(i))).toEqual(before.filter((_, i) => !idLines.has(i)));
    expect(before.filter((l) => l.trimStart().startsWith("#")).length).toBeGreaterThan(10);
    for (const i of idLines) expect(after[i]).toMatch(/^database_id = "[0-9a-f-]{36}"$/);
    expect(first.stdout).toMatch(/Created:\n {2}D1 database/);
    expect(first.stdout).toContain(`npx wrangler d1 migrations apply ${n.d1[0]!.name} --remote`);

    const second = stub.run();
    expect(second.status).toBe(0);
    expect(second.called).toEqual(["wrangler d1 list --json", "wrangler r2 bucket list", "wrangler queues list"]);
    expect(second.stdout).toMatch(/Created: none/);
    expect(readFileSync(config, "utf8")).toBe(written);
    expect(stub.account()).toEqual(account);
  });

  it("takes a bucket or queue whose create says the name is taken as existing", () => {
    const n = namesIn(config);
    const stub = stubbed({ r2: n.buckets, queues: n.queues, unlisted: [...n.buckets, ...n.queues] });
    const r = stub.run();
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.called).toContain(`wrangler r2 bucket create ${n.buckets[0]}`);
    expect(r.stdout).toContain(`Created:\n  D1 database ${n.d1[0]!.name}`);
    const existing = r.stdout.slice(r.stdout.indexOf("Already in the account"), r.stdout.indexOf("Created:"));
    for (const b of n.buckets) expect(existing).toContain(`R2 bucket ${b} `);
    for (const q of n.queues) expect(existing).toContain(`queue ${q}\n`);
    expect(stub.account().r2).toEqual(n.buckets);
  });

  it("a database the first list missed: its create says the name is taken, and the list again gives its id", () => {
    const n = namesIn(config);
    const db = n.d1[0]!;
    const uuid = randomUUID();
    const stub = stubbed({ d1: [{ name: db.name, uuid }], unlisted: [db.name] });
    const r = stub.run();
    expect(r.status).toBe(0);
    expect(r.called.slice(0, 3)).toEqual([
      "wrangler d1 list --json",
      `wrangler d1 create ${db.name}`,
      "wrangler d1 list --json",
    ]);
    expect(namesIn(config).d1[0]!.id).toBe(uuid);
    expect(stub.account().d1).toEqual([{ name: db.name, uuid }]);
  });

  it("a create that fails stops the run with wrangler's message, keeping the id already written; a rerun finishes", () => {
    const n = namesIn(config);
    const stub = stubbed({ failOn: "queues create" });
    const r = stub.run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`\`wrangler queues create ${n.queues[0]}\` failed (exit 1)`);
    expect(r.stderr).toContain("Authentication error [code: 10000]");
    const id = stub.account().d1[0]!.uuid;
    expect(namesIn(config).d1[0]!.id).toBe(id);

    const state = path.join(dir, "account.json");
    writeFileSync(state, JSON.stringify({ ...JSON.parse(readFileSync(state, "utf8")), failOn: undefined }));
    const rerun = stub.run();
    expect(rerun.status).toBe(0);
    expect(rerun.called).toEqual([
      "wrangler d1 list --json",
      "wrangler r2 bucket list",
      "wrangler queues list",
      ...n.queues.map((q) => `wrangler queues create ${q}`),
    ]);
    expect(namesIn(config).d1[0]!.id).toBe(id);
  });

  it("rate-limit namespace ids used twice are named in a warning", () => {
    const ids = [...original.matchAll(/^namespace_id = "(\d+)"$/gm)].map((m) => m[1]!);
    expect(new Set(ids).size).toBe(ids.length);
    expect(runScript(["--dry-run"]).stdout).not.toContain("Warning");
    writeFileSync(config, original.replace(`namespace_id = "${ids[1]}"`, `namespace_id = "${ids[0]}"`));
    const r = runScript(["--dry-run"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`Warning: rate-limit namespace_id ${ids[0]} is used by top level \\w+ and top level \\w+`),
    );
  });

  it("an environment the file lacks is a clear error, and the file is untouched", () => {
    const stub = stubbed({});
    const r = stub.run(["--env", "nowhere"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/has no \[env\.nowhere\]/);
    expect(r.called).toEqual([]);
    expect(readFileSync(config, "utf8")).toBe(original);
  });

  it("an environment's own [[env.<name>.d1_databases]] gets its id, the top level's stays", () => {
    const extra = `\n[env.ci]\nname = "fleetbeat-ci"\n\n[[env.ci.d1_databases]]\nbinding = "DB"\ndatabase_name = "fleetbeat-ci" # its own database\nmigrations_dir = "migrations"\n`;
    writeFileSync(config, original + extra);
    const stub = stubbed({ d1: [{ name: "fleetbeat-ci", uuid: "0f0e0d0c-0000-4000-8000-000000000001" }] });
    const r = stub.run(["--env", "ci"]);
    expect(r.status).toBe(0);
    expect(r.called).toEqual(["wrangler d1 list --json"]);
    expect(readFileSync(config, "utf8")).toBe(
      `${original}${extra.replace("# its own database\n", '# its own database\ndatabase_id = "0f0e0d0c-0000-4000-8000-000000000001"\n')}`,
    );
    expect(r.stdout).toContain("npx wrangler deploy --env ci");
  });
});

describe("setup:cloudflare's readers of wrangler's output", () => {
  it("reads names from lists printed in colour, and from the queues table with a jurisdiction column", () => {
    const grey = (s: string) => `\u001b[90m${s}\u001b[39m`;
    expect([...parseR2List(`Listing buckets...\n\u001b[37mname:\u001b[39m           ${grey("a-bucket")}\n`)]).toEqual([
      "a-bucket",
    ]);
    const table = [
      "┌────┬────────┬──────────────┐",
      "│ id │ name   │ jurisdiction │",
      "├────┼────────┼──────────────┤",
      "│ 1  │ q-one  │ eu           │",
      "├────┼────────┼──────────────┤",
      "│ 2  │ q-two  │              │",
      "└────┴────────┴──────────────┘",
    ].join("\n");
    expect([...parseQueuesList(table)]).toEqual(["q-one", "q-two"]);
    expect([...parseQueuesList(queuesList([]))]).toEqual([]);
    expect([...parseD1List(`${d1List([{ name: "x", uuid: "u-1" }])}\n`)]).toEqual([["x", "u-1"]]);
    const warned = `▲ [WARNING] Processing wrangler.toml configuration: [env.x] ...\n\n${d1List([])}\n`;
    expect([...parseD1List(warned)]).toEqual([]);
  });

  it("reads the new id from d1 create's snippet in TOML or in JSON", () => {
    const id = randomUUID();
    expect(parseD1Create(`[[d1_databases]]\nbinding = "DB"\ndatabase_name = "x"\ndatabase_id = "${id}"\n`)).toBe(id);
    expect(parseD1Create(`{\n  "d1_databases": [\n    { "binding": "DB", "database_id": "${id}" }\n  ]\n}`)).toBe(id);
    expect(parseD1Create("✅ Successfully created DB 'x'")).toBeUndefined();
  });

  it("writes an id on the block's own line, keeping its comment, and adds the line where there is none", () => {
    const text = [
      "[[d1_databases]] # first",
      'binding = "DB"',
      'database_name = "one"',
      'database_id = "old" # kept',
      "",
      "[[d1_databases]]",
      'binding = "OTHER"',
      'database_name = "two"',
      "",
      "[vars]",
      'database_name = "not a block"',
    ].join("\n");
    const one = withD1Id(text, undefined, "one", "id-1")!;
    expect(one.line).toBe(4);
    expect(one.text).toBe(text.replace('"old" # kept', '"id-1" # kept'));
    expect(withD1Id(one.text, undefined, "one", "id-1")).toBeNull();
    const two = withD1Id(text, undefined, "two", "id-2")!;
    expect(two.line).toBe(9);
    expect(two.text.split("\n").slice(7, 10)).toEqual(['database_name = "two"', 'database_id = "id-2"', ""]);
    expect(() => withD1Id(text, "staging", "one", "id-1")).toThrow(/env\.staging\.d1_databases/);
  });
});
