// The cron runs enqueue; the queue's consumer does the work. What the cron handler sends, that a
// failed message is retried without counting a day twice, that a project whose object keeps
// failing ends alone in the dead-letter queue, the pruning by the tier's retention, and the
// whole path through the real queue binding. (What one invocation costs: jobs-bounds.test.ts.)
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { TIERS } from "../../src/contract/tiers";
import worker from "../../src/index";
import type { JobMessage } from "../../src/jobs/messages";
import { PRUNE_ROWS } from "../../src/jobs/prune";
import { CRON } from "../../src/jobs/schedule";
import { utcDay } from "../../src/lib/time";
import { setClock } from "../support/clock";
import { counted } from "../support/counted";
import { consumeOnce, drain, jobsEnv, runJobs } from "../support/jobs";
import { insertMany } from "../support/many-rows";
import { settle } from "../support/settle";
import { ingest, line, newDevice, newProject, tenant } from "./helpers";

const DAY_MS = 86_400_000;

const bodies = (messages: { body: JobMessage }[]) => messages.map((m) => m.body);

describe("the cron handler", () => {
  it("only enqueues, in one sendBatch: the hourly, daily and monthly runs' messages", async () => {
    const at = Date.parse("2026-12-01T00:20:00Z");
    const sent = async (cron: string) => {
      const e = jobsEnv();
      await worker.scheduled(createScheduledController({ cron, scheduledTime: at }), e);
      expect(e.JOBS.sends).toBe(1);
      return bodies(e.JOBS.waiting);
    };
    expect(await sent(CRON.hourly)).toEqual([
      { type: "tokens", at },
      { type: "uploads", at },
      { type: "page", work: "daily", at, lacking: true, after: null },
      { type: "page", work: "monthly", at, lacking: true, after: null },
    ]);
    expect(await sent(CRON.daily)).toEqual([
      { type: "page", work: "daily", at, lacking: false, after: null },
      { type: "tickets", at },
      { type: "purges", at },
    ]);
    expect(await sent(CRON.monthly)).toEqual([{ type: "page", work: "monthly", at, lacking: true, after: null }]);
  });
});

const day = (offset: number) => utcDay(Date.now() + offset * DAY_MS);
const at = (d: string, time: string) => Date.parse(`${d}T${time}Z`);

describe("a failed message", () => {
  it("is retried, and never counts a day twice: after a failed write, a duplicate delivery and a second run", async () => {
    const t = await tenant();
    const other = await newProject(t.adminKey, "second");
    const otherDevice = await newDevice(t.adminKey, other);
    setClock(`${day(1)}T12:00:00Z`);
    await ingest(t.deviceKey, { logs: [line("INFO", "a"), line("INFO", "b"), line("ERROR", "c")] });
    await ingest(otherDevice.deviceKey, { logs: [line("INFO", "d")] });
    await settle(t.deviceId);
    await settle(otherDevice.deviceId);

    // The statement writing the second project's rows, alone, fails once: the first project's
    // rows of the same message are written, the message is retried.
    let failures = 0;
    const e = jobsEnv();
    const { env: failing } = counted(e, {
      statement: (sql, values) => {
        const hit =
          failures === 0 &&
          sql.startsWith('insert into "daily_stats"') &&
          values.includes(other) &&
          !values.includes(t.projectId);
        if (hit) failures++;
        return hit;
      },
    });
    const when = at(day(6), "00:05:00");
    await runJobs(CRON.daily, when, failing as typeof e);
    expect(failures).toBe(1);
    expect(e.JOBS.retries).toBeGreaterThanOrEqual(1);
    expect(e.JOBS.dead).toEqual([]);

    const rows = async () =>
      (
        await env.DB.prepare(
          "SELECT project_id, date, logs, error_lines FROM daily_stats WHERE project_id IN (?, ?) ORDER BY project_id, date",
        )
          .bind(t.projectId, other)
          .all()
      ).results;
    const first = await rows();
    // Every day from the projects' creation through yesterday, once each.
    expect(first).toHaveLength(2 * 6);
    const logs = (p: string) => first.filter((r) => r.project_id === p).reduce((n, r) => n + (r.logs as number), 0);
    expect(logs(t.projectId)).toBe(3);
    expect(logs(other)).toBe(1);
    expect(first.find((r) => r.project_id === t.projectId && r.date === day(1))).toMatchObject({
      logs: 3,
      error_lines: 1,
    });

    // The same message delivered again, and the whole run again: nothing changes.
    const again = jobsEnv();
    await again.JOBS.sendBatch([
      { body: { type: "daily", at: when, projects: [t.projectId, other] } },
      { body: { type: "daily", at: when, projects: [other] } },
    ]);
    await drain(again);
    await runJobs(CRON.daily, when);
    await runJobs(CRON.hourly, when + 3_600_000);
    expect(await rows()).toEqual(first);
  });

  it("of a project whose object keeps failing ends alone in the dead-letter queue, and its neighbours are written", async () => {
    const t = await tenant();
    const broken = await newProject(t.adminKey, "broken");
    const e = jobsEnv();
    const { env: failing } = counted(e, { call: (name, method) => name === broken && method === "closeDay" });
    await runJobs(CRON.daily, at(day(2), "00:05:00"), failing as typeof e);
    const written = async (p: string) =>
      (await env.DB.prepare("SELECT count(*) AS n FROM daily_stats WHERE project_id = ?")
        .bind(p)
        .first<{ n: number }>())!.n;
    expect(await written(t.projectId)).toBe(2);
    expect(await written(broken)).toBe(0);
    expect(e.JOBS.dead.map((m) => m.body)).toEqual([{ type: "daily", at: at(day(2), "00:05:00"), projects: [broken] }]);
    expect(e.JOBS.dead[0]!.attempts).toBe(env.JOBS_CONSUMER.max_retries + 1);
  });
});

describe("the daily pruning", () => {
  it(`deletes alerts resolved before the tier's retention with their webhook attempts, ${PRUNE_ROWS} a statement, and keeps the rest`, async () => {
    const t = await tenant(); // pro
    const keep = TIERS.pro.alert_retention_days;
    const now = Date.now();
    const old = now - (keep + 10) * DAY_MS;
    const alert = (id: string, state: string, startedAt: number, resolvedAt: number | null) =>
      env.DB.prepare(
        "INSERT INTO alerts (id, org_id, project_id, rule_id, state, started_at, resolved_at, summary) VALUES (?, ?, ?, 'rule_x', ?, ?, ?, 's')",
      )
        .bind(id, t.orgId, t.projectId, state, startedAt, resolvedAt)
        .run();
    await insertMany(
      "alerts",
      "id, org_id, project_id, rule_id, state, started_at, resolved_at, summary",
      `SELECT printf('alt_old_%06d', i), '${t.orgId}', '${t.projectId}', 'rule_x', 'resolved', ${old}, ${old}, 's' FROM k`,
      PRUNE_ROWS + 10,
    );
    await alert("alt_recent", "resolved", now - (keep - 10) * DAY_MS, now - (keep - 10) * DAY_MS);
    await alert("alt_still_firing", "firing", old, null);
    for (const a of ["alt_old_000001", "alt_recent", "alt_still_firing"]) {
      await env.DB.prepare(
        "INSERT INTO alert_deliveries (id, rule_id, alert_id, target_id, state_change, attempt, at) VALUES (?, 'rule_x', ?, 'tgt_x', 'firing', 1, ?)",
      )
        .bind(`dlv_${a}`, a, old)
        .run();
    }
    const left = async () =>
      (
        await env.DB.prepare("SELECT id FROM alerts WHERE project_id = ? ORDER BY id")
          .bind(t.projectId)
          .all<{ id: string }>()
      ).results.map((r) => r.id);

    const e = jobsEnv();
    await e.JOBS.sendBatch([{ body: { type: "daily", at: now, projects: [t.projectId] } }]);
    await consumeOnce(e);
    // One message deleted its share and sent the project on.
    expect((await left()).filter((id) => id.startsWith("alt_old_"))).toHaveLength(10);
    expect(bodies(e.JOBS.waiting)).toEqual([{ type: "daily", at: now, projects: [t.projectId] }]);
    await drain(e);
    expect(await left()).toEqual(["alt_recent", "alt_still_firing"]);
    const deliveries = (
      await env.DB.prepare("SELECT alert_id FROM alert_deliveries WHERE rule_id = 'rule_x' ORDER BY alert_id").all<{
        alert_id: string;
      }>()
    ).results;
    expect(deliveries.map((d) => d.alert_id)).toEqual(["alt_recent", "alt_still_firing"]);
  });
});

describe("the jobs queue", () => {
  it("carries a cron run to its consumer: the scheduled handler enqueues on the real binding, and the days are written", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { logs: [line("INFO", "x")] });
    await settle(t.deviceId);
    const when = at(day(1), "00:05:00");
    await worker.scheduled(createScheduledController({ cron: CRON.daily, scheduledTime: when }), env);
    // Every project of this file gets its day, through the queue and its consumer.
    const lacking = () =>
      env.DB.prepare(
        "SELECT count(*) AS n FROM projects WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM daily_stats d WHERE d.project_id = projects.id AND d.date = ?)",
      )
        .bind(Date.parse(day(1)), day(0))
        .first<{ n: number }>();
    await vi.waitUntil(async () => (await lacking())!.n === 0, { timeout: 20_000, interval: 100 });
    const row = await env.DB.prepare("SELECT logs FROM daily_stats WHERE project_id = ? AND date = ?")
      .bind(t.projectId, day(0))
      .first<{ logs: number }>();
    expect(row).toEqual({ logs: 1 });
  });
});
