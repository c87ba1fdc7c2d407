// `npm run bench`: every benchmark, one after another, in one run, so their figures can be
// compared (docs/BENCHMARKS.md is written from one such run). `-- --quick` is a smoke run:
// shorter rows and a tenth of the query data. Each benchmark also runs alone (see package.json).
import { spawnSync } from "node:child_process";

const quick = process.argv.includes("--quick");
const benches = [
  ["profile", "where the CPU of one ingest batch goes"],
  ["ingest", "ingest against the object's own limit and PostgreSQL"],
  ["tail", "live tail under load"],
  ["query", "queries over large hot stores, and the export's memory"],
  ["counter-path", "deliveries into one project's object from 100 devices"],
  ["archive", "the log archive's size and read rate"],
  ["scale", "issue 22's simulation at 1/1000 scale: the goal table, measured and extrapolated"],
  ["alerts", "what alert evaluation adds to a batch and a heartbeat"],
  ["otlp", "OTLP logs in beside native ingest"],
  ["cost", "what a device-month costs at Cloudflare's prices, now and before the cost work"],
] as const;

const began = Date.now();
for (const [name, what] of benches) {
  console.log(`\n=== npm run bench:${name}: ${what} ===\n`);
  // Through npm, as each runs alone: some are bundled first (their package.json scripts say how).
  const run = spawnSync("npm", ["run", "--silent", `bench:${name}`, ...(quick ? ["--", "--quick"] : [])], {
    stdio: "inherit",
  });
  if (run.status !== 0) {
    console.error(`bench:${name} failed (exit ${run.status})`);
    process.exit(1);
  }
}
console.log(`\nall benchmarks done in ${((Date.now() - began) / 1000).toFixed(0)} s`);
