// A corpus of real LogQL queries (test/fixtures/logql-corpus.ts: Loki's docs, Grafana's grammar
// tests, Grafana's log volume query), each sent through the Loki API as Grafana's backend sends
// it (query_range, step in ms), against a project with JSON, logfmt and plain lines. Each either
// runs (200) or is refused with a 400 whose message names the part fleetbeat does not run.
//
// The published queries select streams by Kubernetes-style labels (job, namespace, …) that a
// fleetbeat stream does not have, which is a 400 of its own ("unknown label"): the test renames
// each selector label to one of fleetbeat's (job → module, namespace → environment, …) so that
// every other part of the query is what decides. Grouping labels and pipelines are left as written.

import { exports } from "cloudflare:workers";
import { parser } from "@grafana/lezer-logql";
import { describe, expect, it } from "vitest";
import { LOGQL_CORPUS } from "../fixtures/logql-corpus";
import { ingest, type LooseJson, line, readText, tenant } from "./helpers";
import { ns } from "./loki-client";

const RENAMED: Record<string, string> = {
  job: "module",
  job_name: "module",
  app: "module",
  name: "module",
  container: "module",
  container_name: "module",
  namespace: "environment",
  cluster: "environment",
  region: "environment",
  instance: "device_id",
  host: "dsn",
};
const FLEETBEAT = new Set(["device_id", "dsn", "device_type", "environment", "session_id", "module", "level"]);

/** The query with each selector label that fleetbeat lacks renamed to one it has (module when not listed). */
function relabelled(query: string): string {
  const edits: { from: number; to: number; name: string }[] = [];
  parser.parse(query).iterate({
    enter(n) {
      if (n.name !== "Identifier" || n.node.parent?.name !== "Matcher") return;
      let up = n.node.parent.parent;
      while (up && up.name === "Matchers") up = up.parent;
      if (up?.name !== "Selector") return;
      const name = query.slice(n.from, n.to);
      if (!FLEETBEAT.has(name)) edits.push({ from: n.from, to: n.to, name: RENAMED[name] ?? "module" });
    },
  });
  let out = query;
  for (const e of edits.reverse()) out = out.slice(0, e.from) + e.name + out.slice(e.to);
  return out;
}

const isMetric = (query: string) => parser.parse(query).topNode.getChild("Expr")?.firstChild?.name === "MetricExpr";

describe("Loki API: a corpus of real LogQL queries", () => {
  it(`runs or refuses by name each of the ${LOGQL_CORPUS.length} queries`, async () => {
    const t = await tenant();
    const now = Date.now();
    const logs = [
      line("ERROR", '{"level":"error","status":503,"path":"/home","duration":"12s","err":"timeout","message":"error"}'),
      line("INFO", "level=info method=GET status_code=200 duration=31s throughput_mb=12 metrics.go query=up"),
      line("WARN", "error: disk slow, retrying"),
    ].map((l, i) => ({ ...l, module: "mysql", timestamp: new Date(now - 60_000 + i * 1000).toISOString() }));
    expect((await ingest(t.deviceKey, { logs })).json.accepted).toBe(3);

    const headers = { authorization: `Bearer ${t.viewerKey}`, "x-scope-orgid": t.projectId };
    const outcomes: { query: string; status: number; message?: string }[] = [];
    for (const entry of LOGQL_CORPUS) {
      const query = relabelled(entry.query);
      const params = new URLSearchParams({
        direction: "backward",
        end: ns(now + 1000),
        limit: "100",
        query,
        start: ns(now - 3_600_000),
        step: isMetric(query) ? "60000ms" : "2000ms",
      });
      const res = await exports.default.fetch(`http://fleetbeat.test/loki/api/v1/query_range?${params}`, { headers });
      const json = JSON.parse(await readText(res)) as LooseJson;
      const what = `${entry.query}\n(as ${query}; ${entry.source}): ${JSON.stringify(json).slice(0, 300)}`;
      if (entry.refuses) {
        expect(res.status, what).toBe(400);
        expect(json.message, what).toContain(entry.refuses);
      } else {
        expect(res.status, what).toBe(200);
        expect(json.data.resultType, what).toBe(isMetric(query) ? "matrix" : "streams");
      }
      outcomes.push({ query: entry.query, status: res.status, message: json.message });
    }
    const works = outcomes.filter((o) => o.status === 200).length;
    console.log(
      `LogQL corpus: ${outcomes.length} queries, ${works} run, ${outcomes.length - works} refused with a 400 naming the part`,
    );
    expect(outcomes.length).toBeGreaterThanOrEqual(50);
  });
});
