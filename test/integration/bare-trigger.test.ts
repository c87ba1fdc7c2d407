// A scheduled event without a cron string, as wrangler dev's banner suggests
// (`curl …/cdn-cgi/local/scheduled`): it runs every job at once, and a day that is over gets
// its row as the daily run would write it.
import { createScheduledController } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { CRON } from "../../src/jobs/schedule";
import { setClock } from "../support/clock";
import { jobsEnv, runJobs } from "../support/jobs";
import { settle } from "../support/settle";
import { call, ingest, line, tenant } from "./helpers";

const DAY_MS = 86_400_000;
const day = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10);

/** What one cron string enqueues at `at`. */
async function enqueued(cron: string, at: number) {
  const e = jobsEnv();
  await worker.scheduled(createScheduledController({ cron, scheduledTime: at }), e);
  return e.JOBS.takeAll();
}

describe("a trigger without a cron string", () => {
  it("enqueues every job the three cron runs enqueue, each once", async () => {
    const at = Date.parse("2026-12-07T15:42:00Z");
    const bare = await enqueued("", at);
    const all = [
      ...(await enqueued(CRON.hourly, at)),
      ...(await enqueued(CRON.daily, at)),
      ...(await enqueued(CRON.monthly, at)),
    ];
    // Each kind of job once; the daily walk of every project stands in for the hourly's catch-up of the lacking ones.
    const kinds = (ms: typeof all) =>
      [...new Set(ms.map((m) => (m.type === "page" ? `page ${m.work}` : m.type)))].sort();
    expect(kinds(bare)).toEqual(kinds(all));
    expect(bare).toHaveLength(kinds(all).length);
    expect(bare).toContainEqual({ type: "page", work: "daily", at, lacking: false, after: null });
  });

  it("writes a finished day's row, as the daily run does", async () => {
    const t = await tenant();
    const [d1, d2] = [day(4), day(5)];
    setClock(`${d1}T12:00:00Z`);
    await ingest(t.deviceKey, { logs: [line("INFO", "a"), line("ERROR", "b")] });
    await settle(t.deviceId);

    setClock(`${d2}T15:42:00Z`);
    await runJobs("", Date.parse(`${d2}T15:42:00Z`));
    const res = await call("GET", `/stats/daily?project_id=${t.projectId}&from=${d1}&to=${d1}`, { token: t.viewerKey });
    expect(res.status).toBe(200);
    expect(res.json.days).toEqual([expect.objectContaining({ date: d1, logs: 2, error_lines: 1 })]);
  });
});
