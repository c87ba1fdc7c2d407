// `npm run setup:cloudflare`: the first setup of a deployment on a Cloudflare account. Creates
// the resources wrangler.toml names (the D1 database, the R2 bucket, the jobs queue and its
// dead-letter queue) with `wrangler`, and writes the D1 database's id into wrangler.toml, in
// place: only the `database_id = "…"` line of that [[d1_databases]] block changes, every other
// line and comment stays as it is. docs/deploy.md walks through the whole deploy.
//
//   npm run setup:cloudflare                          # the top level of wrangler.toml
//   npm run setup:cloudflare -- --env staging         # [env.staging] and its own names
//   npm run setup:cloudflare -- --dry-run             # print the plan; create and write nothing
//
// Safe to run twice: it first lists what the account has (`wrangler d1 list --json`,
// `wrangler r2 bucket list`, `wrangler queues list`) and creates only what is missing by name,
// reusing the ids of what exists. A create that says the name is taken (a bucket or queue
// beyond the first page of a list) counts as existing too. The rate-limit namespaces are not
// created: a namespace_id is any number the account chooses, so it checks they are distinct.
//
// Options:
//   --config <path>     the wrangler.toml to read and edit (default ./wrangler.toml); wrangler
//                       runs in its folder, so it sees the same account_id
//   --env <name>        set up [env.<name>] instead of the top level
//   --dry-run           print the commands it would run and the ids it would write; run no
//                       create, write no file. The lists are skipped ("would list …") unless
//   --fixtures <json>   answers them: a JSON object from a command line ("wrangler d1 list
//                       --json") to what it prints (a string, or JSON printed as JSON); for tests
//
// `wrangler` is the one on PATH (`npm run` puts node_modules/.bin first), else this repo's.
// Needs `wrangler login` (or CLOUDFLARE_API_TOKEN) beforehand.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs, stripVTControlCharacters } from "node:util";

const REPO = path.resolve(import.meta.dirname, "..");
const PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";
/** What is shown in place of an id only `wrangler d1 create` can tell (dry run). */
const newIdOf = (name) => `<id printed by wrangler d1 create ${name}>`;
/** A create failing with one of these found the name taken: the resource exists. */
const TAKEN = /already exists|already taken|already in use|already owned/i;

/** The resources one environment of wrangler.toml names (its raw, parsed form). */
function resourcesOf(section) {
  const d1 = (section.d1_databases ?? []).map((d) => ({
    binding: d.binding,
    name: d.database_name,
    id: d.database_id ?? "",
  }));
  const buckets = (section.r2_buckets ?? []).map((b) => ({ binding: b.binding, name: b.bucket_name }));
  const queues = [];
  const addQueue = (name) => name && !queues.includes(name) && queues.push(name);
  for (const p of section.queues?.producers ?? []) addQueue(p.queue);
  for (const c of section.queues?.consumers ?? []) {
    addQueue(c.queue);
    addQueue(c.dead_letter_queue);
  }
  return { d1, buckets, queues };
}

/**
 * Every [[ratelimits]] namespace_id in the file (top level and every env) with where it is
 * declared; the ids used more than once. Two bindings on one namespace share its counters.
 */
function rateLimitNamespaces(raw) {
  const all = [];
  const sections = [["top level", raw], ...Object.entries(raw.env ?? {}).map(([n, s]) => [`env.${n}`, s])];
  for (const [where, section] of sections) {
    for (const r of section.ratelimits ?? []) all.push({ where, name: r.name, namespace_id: String(r.namespace_id) });
  }
  const seen = new Map();
  for (const r of all) seen.set(r.namespace_id, [...(seen.get(r.namespace_id) ?? []), `${r.where} ${r.name}`]);
  const duplicates = [...seen].filter(([, users]) => users.length > 1).map(([id, users]) => ({ id, users }));
  return { all, duplicates };
}

/** `wrangler d1 list --json`: [{ uuid, name, … }]. */
export function parseD1List(stdout) {
  const text = stripVTControlCharacters(stdout);
  // The array's own line: a warning before it ("▲ [WARNING] …") has brackets too.
  const start = text.search(/^\[\s*(\{|\]|$)/m);
  if (start < 0) throw new Error(`wrangler d1 list --json printed no JSON array:\n${stdout}`);
  return new Map(JSON.parse(text.slice(start)).map((db) => [db.name, db.uuid]));
}

/** `wrangler r2 bucket list`: blocks of "name:  <bucket>" / "creation_date:  <date>". */
export function parseR2List(stdout) {
  const names = new Set();
  for (const line of stripVTControlCharacters(stdout).split("\n")) {
    const m = /^\s*name:\s+(\S+)\s*$/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}

/** `wrangler queues list`: a cli-table3 table with the columns id, name, created_on, …. */
export function parseQueuesList(stdout) {
  const names = new Set();
  let nameColumn = -1;
  for (const line of stripVTControlCharacters(stdout).split("\n")) {
    if (!line.trimStart().startsWith("│")) continue;
    const cells = line.split("│").map((c) => c.trim());
    if (nameColumn < 0) nameColumn = cells.indexOf("name");
    else if (cells[nameColumn]) names.add(cells[nameColumn]);
  }
  return names;
}

/** The id in `wrangler d1 create`'s config snippet (TOML `database_id = "…"` or JSON). */
export function parseD1Create(stdout) {
  return /"?database_id"?\s*[=:]\s*"([^"]+)"/.exec(stripVTControlCharacters(stdout))?.[1];
}

const HEADER = /^\s*(\[\[?)\s*([^[\]#]+?)\s*\]\]?\s*(#.*)?$/;
const tableName = (s) => s.replace(/["'\s]/g, "");

/**
 * The [[d1_databases]] blocks of one environment in the file's text, with the line numbers
 * (0-based) of their database_name and database_id lines: where an id is written.
 */
function d1Blocks(text, envName) {
  const want = envName ? `env.${envName}.d1_databases` : "d1_databases";
  const blocks = [];
  let current = null;
  text.split("\n").forEach((line, i) => {
    const header = HEADER.exec(line);
    if (header) {
      current = header[1] === "[[" && tableName(header[2]) === want ? { header: i } : null;
      if (current) blocks.push(current);
      return;
    }
    if (!current) return;
    const name = /^\s*database_name\s*=\s*"([^"]*)"/.exec(line);
    if (name) Object.assign(current, { name: name[1], nameLine: i });
    if (/^\s*database_id\s*=/.test(line)) current.idLine = i;
  });
  return blocks;
}

/**
 * The file's text with `database_id = "<id>"` for the database `name` of one environment:
 * its id line's value replaced (its comment kept, unless it is the "replace with `wrangler d1
 * create` output" note, now done), or a line added under database_name. Returns the new text
 * and the 1-based line written, or null when the id there is already this one.
 */
export function withD1Id(text, envName, name, id) {
  const lines = text.split("\n");
  const block = d1Blocks(text, envName).find((b) => b.name === name);
  if (!block) throw new Error(`no [[${envName ? `env.${envName}.` : ""}d1_databases]] block names "${name}"`);
  if (block.idLine !== undefined) {
    const m = /^(\s*database_id\s*=\s*)"([^"]*)"(.*)$/.exec(lines[block.idLine]);
    if (!m) throw new Error(`line ${block.idLine + 1}: database_id is not a "…" string: ${lines[block.idLine]}`);
    if (m[2] === id) return null;
    const rest = /wrangler d1 create/.test(m[3]) ? "" : m[3];
    lines[block.idLine] = `${m[1]}"${id}"${rest}`;
    return { text: lines.join("\n"), line: block.idLine + 1 };
  }
  const indent = /^\s*/.exec(lines[block.nameLine])[0];
  lines.splice(block.nameLine + 1, 0, `${indent}database_id = "${id}"`);
  return { text: lines.join("\n"), line: block.nameLine + 2 };
}

/** Runs `wrangler <args>` in `cwd`: { status, stdout, stderr }. */
function wranglerRunner(cwd) {
  const bin = path.join(REPO, "node_modules", ".bin");
  const env = { ...process.env, PATH: [process.env.PATH, bin].filter(Boolean).join(path.delimiter) };
  return (args) => {
    // No stdin: wrangler then never starts an interactive login whose prompts would be captured.
    const r = spawnSync("wrangler", args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (r.error) throw r.error;
    return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  };
}

/** Answers commands from a fixtures file (see the options above); nothing else. */
function fixtureRunner(file) {
  const fixtures = JSON.parse(readFileSync(file, "utf8"));
  return (args) => {
    const line = ["wrangler", ...args].join(" ");
    if (!(line in fixtures)) throw new Error(`${file} has no answer for \`${line}\``);
    const out = fixtures[line];
    return { status: 0, stdout: typeof out === "string" ? out : JSON.stringify(out, null, 2), stderr: "" };
  };
}

/** The secrets to put: the names in .dev.vars.example that the environment's [vars] do not set. */
function secretNames(vars) {
  const example = path.join(REPO, ".dev.vars.example");
  if (!existsSync(example)) return ["ADMIN_TOKEN", "SIGNING_SECRET", "OIDC_CLIENT_SECRET"];
  const names = readFileSync(example, "utf8")
    .split("\n")
    .map((l) => /^\s*#?\s*([A-Z][A-Z0-9_]*)\s*=/.exec(l)?.[1])
    .filter(Boolean);
  return [...new Set(names)].filter((n) => !(n in (vars ?? {})));
}

/**
 * The setup of one environment. `run(args)` runs wrangler (stdout, stderr, status); `list(args)`
 * answers a listing command, or is null when a dry run has nothing to answer it; `dryRun`
 * creates and writes nothing. Logs through `log`; returns what it found, made and wrote.
 */
export async function setup({ configPath, envName, dryRun, run, list, log = console.log }) {
  const { experimental_readRawConfig } = await import("wrangler");
  const { rawConfig: raw } = experimental_readRawConfig({ config: configPath });
  const where = envName ? `[env.${envName}]` : "the top level";
  const section = envName ? raw.env?.[envName] : raw;
  if (!section) {
    const envs = Object.keys(raw.env ?? {});
    throw new UsageError(
      `${configPath} has no [env.${envName}]` +
        (envs.length ? ` (it has: ${envs.join(", ")})` : " (it declares no environments)") +
        `; add one with its own names first (docs/deploy.md, "Staging")`,
    );
  }
  const flag = envName ? ` --env ${envName}` : "";
  log(`Setting up ${where} of ${configPath}${dryRun ? " (dry run: nothing is created or written)" : ""}`);
  const want = resourcesOf(section);
  const report = { exists: [], created: [], written: [], warnings: [] };

  const listed = (args, parse, what) => {
    const line = `wrangler ${args.join(" ")}`;
    if (!list) {
      log(`(would list ${what}: ${line})`);
      return null;
    }
    log(`$ ${line}`);
    const r = list(args);
    if (r.status !== 0) throw new WranglerError(line, r);
    return parse(r.stdout);
  };
  const listAgain = (args) => {
    log(`$ wrangler ${args.join(" ")}`);
    const r = run(args);
    if (r.status !== 0) throw new WranglerError(`wrangler ${args.join(" ")}`, r);
    return r.stdout;
  };
  const create = (args) => {
    const line = `wrangler ${args.join(" ")}`;
    if (dryRun) {
      log(`would run: ${line}`);
      return { status: 0, stdout: "", stderr: "", dry: true };
    }
    log(`$ ${line}`);
    const r = run(args);
    if (r.status !== 0 && !TAKEN.test(r.stdout + r.stderr)) throw new WranglerError(line, r);
    return { ...r, taken: r.status !== 0 };
  };

  // D1: the id is what the Worker binds to, so it is written into the file.
  const dbs = want.d1.length ? listed(["d1", "list", "--json"], parseD1List, "D1 databases") : new Map();
  let text = readFileSync(configPath, "utf8");
  const original = text;
  for (const db of want.d1) {
    const what = `D1 database ${db.name} (${db.binding})`;
    let id = dbs?.get(db.name);
    if (id) report.exists.push(`${what}, id ${id}`);
    else {
      const r = create(["d1", "create", db.name]);
      if (r.dry) {
        id = newIdOf(db.name);
        report.created.push(what);
      } else {
        // The id from the create's config snippet, else (a name taken) from the list again.
        id = (!r.taken && parseD1Create(r.stdout)) || parseD1List(listAgain(["d1", "list", "--json"])).get(db.name);
        if (!id) throw new Error(`wrangler d1 create ${db.name} printed no database_id, and d1 list has none`);
        (r.taken ? report.exists : report.created).push(`${what}, id ${id}`);
      }
    }
    const edit = withD1Id(text, envName, db.name, id);
    if (!edit) {
      log(`database_id of ${db.binding} already ${id}: ${configPath} unchanged`);
      continue;
    }
    if (db.id && db.id !== PLACEHOLDER_ID && !db.id.startsWith("<"))
      report.warnings.push(`${db.binding}'s database_id was ${db.id}; the account's ${db.name} is ${id}`);
    text = edit.text;
    const entry = `${configPath}:${edit.line} ${db.binding} database_id = "${id}"`;
    log(`${dryRun ? "would write" : "write"}: ${entry}`);
    report.written.push(entry);
  }
  // Written at once, so an id created here is kept even if a later create fails.
  if (!dryRun && text !== original) writeFileSync(configPath, text);

  // R2 and Queues are bound by name: nothing to write, only to create.
  const buckets = want.buckets.length ? listed(["r2", "bucket", "list"], parseR2List, "R2 buckets") : new Set();
  for (const b of want.buckets) {
    const what = `R2 bucket ${b.name} (${b.binding})`;
    if (buckets?.has(b.name)) report.exists.push(what);
    else (create(["r2", "bucket", "create", b.name]).taken ? report.exists : report.created).push(what);
  }
  const queues = want.queues.length ? listed(["queues", "list"], parseQueuesList, "queues") : new Set();
  for (const q of want.queues) {
    const what = `queue ${q}`;
    if (queues?.has(q)) report.exists.push(what);
    else (create(["queues", "create", q]).taken ? report.exists : report.created).push(what);
  }

  const limits = rateLimitNamespaces(raw);
  const mine = limits.all.filter((r) => r.where === (envName ? `env.${envName}` : "top level"));
  for (const d of limits.duplicates)
    report.warnings.push(`rate-limit namespace_id ${d.id} is used by ${d.users.join(" and ")}: they share one counter`);

  // The summary.
  const section_ = (title, items) => log(`${title}:${items.length ? items.map((i) => `\n  ${i}`).join("") : " none"}`);
  log("");
  log(`Summary for ${where}${dryRun ? " (dry run)" : ""}`);
  if (list) section_("Already in the account", report.exists);
  section_(dryRun ? (list ? "Would create" : "Would create, unless listed") : "Created", report.created);
  section_(dryRun ? "Would write" : "Written", report.written);
  log(
    `Rate limits: ${mine.length} namespace ids (${mine.map((r) => r.namespace_id).join(", ") || "none"}), ` +
      (limits.duplicates.length ? "NOT all distinct" : "distinct across the file"),
  );
  for (const w of report.warnings) log(`Warning: ${w}`);
  log("");
  log("Next steps (docs/deploy.md):");
  let n = 0;
  for (const s of secretNames(section.vars ?? raw.vars)) log(`  ${++n}. npx wrangler secret put ${s}${flag}`);
  for (const db of want.d1) log(`  ${++n}. npx wrangler d1 migrations apply ${db.name} --remote${flag}`);
  log(`  ${++n}. npx wrangler deploy${flag}`);
  return report;
}

class UsageError extends Error {}
class WranglerError extends Error {
  constructor(line, r) {
    super(`\`${line}\` failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      config: { type: "string", default: "wrangler.toml" },
      env: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      fixtures: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    const source = readFileSync(import.meta.filename, "utf8");
    console.log(source.slice(0, source.indexOf("\nimport ")).replace(/^\/\/ ?/gm, ""));
    return;
  }
  if (values.fixtures && !values["dry-run"]) throw new UsageError("--fixtures answers a --dry-run only");
  const configPath = path.resolve(values.config);
  if (!existsSync(configPath)) throw new UsageError(`no ${configPath}`);
  const dryRun = values["dry-run"];
  const run = dryRun ? null : wranglerRunner(path.dirname(configPath));
  const list = dryRun ? (values.fixtures ? fixtureRunner(values.fixtures) : null) : run;
  await setup({ configPath, envName: values.env, dryRun, run, list });
}

if (import.meta.filename === path.resolve(process.argv[1] ?? "")) {
  main().catch((e) => {
    console.error(e instanceof UsageError || e instanceof WranglerError ? e.message : e);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
