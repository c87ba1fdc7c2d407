// What the jobs cost at any fleet size: a page of the project walk lists its projects in one
// query and enqueues them in two sendBatch calls at most, however many projects there are; and
// one consumer invocation, a full batch (wrangler.toml's max_batch_size) of messages at their
// worst, stays within 1,000 D1 queries and 1,000 subrequests, counted on wrapped bindings.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { TIERS, type Tier } from "../../src/contract/tiers";
import { DELETES_PER_MESSAGE } from "../../src/jobs/expired";
import { DAYS_PER_MESSAGE, type JobMessage, MESSAGES_PER_PAGE, PROJECTS_PER_MESSAGE } from "../../src/jobs/messages";
import { ABORTS_PER_MESSAGE, PURGE_CALLS_PER_MESSAGE } from "../../src/jobs/r2-cleanup";
import { PAGE_PROJECTS } from "../../src/jobs/walk";
import { counted, subrequests } from "../support/counted";
import { consumeOnce, drain, jobsEnv } from "../support/jobs";
import { insertMany } from "../support/many-rows";

const DAY_MS = 86_400_000;
const LIMIT = 1_000;

/** Orgs of each tier, and `n` projects of them in turn (tier = i mod 3), created `createdAt`, ids `<prefix>_<i>` sorting in order. */
async function manyProjects(prefix: string, n: number, createdAt: number): Promise<string[]> {
  const tiers = Object.keys(TIERS) as Tier[];
  for (const tier of tiers)
    await env.DB.prepare("INSERT INTO orgs (id, name, tier, created_at) VALUES (?, ?, ?, ?)")
      .bind(`${prefix}_org_${tier}`, tier, tier, createdAt)
      .run();
  await insertMany(
    "projects",
    "id, org_id, name, created_at",
    `SELECT printf('${prefix}_%06d', i), '${prefix}_org_' || (CASE i % 3 ${tiers.map((t, k) => `WHEN ${k} THEN '${t}'`).join(" ")} END), 'p', ${createdAt} FROM k`,
    n,
  );
  return Array.from({ length: n }, (_, i) => `${prefix}_${String(i + 1).padStart(6, "0")}`);
}

describe("a page of the project walk", () => {
  it(`lists ${PAGE_PROJECTS} projects in one query and enqueues them ${PROJECTS_PER_MESSAGE} a message with the next page, whatever the project count`, async () => {
    const at = Date.now() + 2 * DAY_MS;
    await manyProjects("prj_walk", PAGE_PROJECTS + 100, Date.now());
    const all = (await env.DB.prepare("SELECT id FROM projects ORDER BY id").all<{ id: string }>()).results.map(
      (r) => r.id,
    );
    const e = jobsEnv();
    const { env: watched, counts, reset } = counted(e);
    const seen: string[] = [];
    let page: JobMessage | undefined = { type: "page", work: "daily", at, lacking: false, after: null };
    let pages = 0;
    while (page) {
      await e.JOBS.sendBatch([{ body: page }]);
      reset();
      await consumeOnce(watched);
      // One query lists the page; its messages go in two sendBatch calls at most (Queues takes 100 a call).
      expect(counts()).toMatchObject({ d1: 1, objects: 0, r2: 0 });
      expect(counts().sends).toBeLessThanOrEqual(2);
      const sent = e.JOBS.takeAll();
      page = sent.find((m) => m.type === "page");
      const work = sent.filter((m) => m.type === "daily");
      expect(work.length).toBeLessThanOrEqual(MESSAGES_PER_PAGE);
      for (const m of work) {
        expect(m.projects.length).toBeLessThanOrEqual(PROJECTS_PER_MESSAGE);
        seen.push(...m.projects);
      }
      pages++;
    }
    expect(pages).toBe(Math.floor(all.length / PAGE_PROJECTS) + 1);
    // Every project exactly once, in order.
    expect(seen).toEqual(all);
  });
});

describe("one consumer invocation", () => {
  it(`stays within ${LIMIT} D1 queries and ${LIMIT} subrequests with a full batch of project messages at their worst`, async () => {
    const batch = env.JOBS_CONSUMER.max_batch_size;
    const at = Date.now();
    // Every project lacks more days than one message writes, and each message holds all three tiers.
    const ids = await manyProjects("prj_bound", batch * PROJECTS_PER_MESSAGE, at - (DAYS_PER_MESSAGE + 1) * DAY_MS);
    const e = jobsEnv();
    for (let i = 0; i < batch; i++)
      await e.JOBS.sendBatch([
        { body: { type: "daily", at, projects: ids.slice(i * PROJECTS_PER_MESSAGE, (i + 1) * PROJECTS_PER_MESSAGE) } },
      ]);
    const { env: watched, counts, reset } = counted(e);
    reset();

    expect(await consumeOnce(watched)).toEqual({ acked: batch, retried: 0 });
    const first = counts();
    // Per message: its projects with their tier, their last days, their devices, the rows five a
    // statement, and per tier the alerts (a batch of two); one closeDay per
    // project-day; one sendBatch for the projects with days left.
    const rowsPerMessage = PROJECTS_PER_MESSAGE * DAYS_PER_MESSAGE;
    expect(first).toMatchObject({
      d1: batch * (3 + rowsPerMessage / 5 + 3 * 2),
      objects: batch * rowsPerMessage,
      r2: 0,
      sends: batch,
    });
    expect(first.d1).toBeLessThanOrEqual(LIMIT);
    expect(subrequests(first)).toBeLessThanOrEqual(LIMIT);

    // The projects with days left go on in follow-ups, a message each.
    expect(e.JOBS.takeAll()).toEqual(
      Array.from({ length: batch }, (_, i) => ({
        type: "daily",
        at,
        projects: ids.slice(i * PROJECTS_PER_MESSAGE, (i + 1) * PROJECTS_PER_MESSAGE),
      })),
    );
    const written = await env.DB.prepare(
      "SELECT count(*) AS n FROM daily_stats WHERE project_id LIKE 'prj_bound_%'",
    ).first<{ n: number }>();
    expect(written!.n).toBe(ids.length * DAYS_PER_MESSAGE);
  });

  it(`stays within ${LIMIT} of each with a full batch of the other messages at their worst`, async () => {
    const at = Date.now();
    // More of each than one message takes: stale uploads, expired tokens and links, deleted projects' prefixes.
    await insertMany(
      "uploads",
      "upload_id, project_id, session_id, device_id, path, key, created_at, active_at",
      "SELECT 'up_' || i, 'prj_x', 's', 'dev_x', 'p', 'artifacts/prj_x/s/p' || i, 0, 0 FROM k",
      ABORTS_PER_MESSAGE + 1,
    );
    await insertMany(
      "registration_tokens",
      "id, org_id, project_id, token_hash, device_type, environment, expires_at, created_at",
      "SELECT 'tok_old_' || i, 'org_x', 'prj_x', 'h' || i, 'amr', 'production', 0, 0 FROM k",
      10_100,
    );
    await insertMany(
      "download_tickets",
      "hash, org_id, key_id, href, expires_at",
      "SELECT 'tk_' || i, 'org_x', 'key_x', '/x', 0 FROM k",
      10_100,
    );
    await insertMany(
      "r2_purges",
      "prefix, created_at",
      "SELECT 'gone/prj_' || i || '/', 0 FROM k",
      PURGE_CALLS_PER_MESSAGE + 1,
    );

    const e = jobsEnv();
    const messages: JobMessage[] = [
      { type: "uploads", at },
      { type: "tokens", at },
      { type: "tickets", at },
      { type: "purges", at },
    ];
    await e.JOBS.sendBatch(messages.map((body) => ({ body })));
    const { env: watched, counts, reset } = counted(e);
    reset();
    expect(await consumeOnce(watched)).toEqual({ acked: messages.length, retried: 0 });
    const c = counts();
    // uploads: a query, then a batch of two and two R2 calls (resume, abort) an upload; tokens and tickets: their deletes; purges: a query, then a list
    // and a statement a prefix done, while two more calls fit.
    const purged = PURGE_CALLS_PER_MESSAGE - 1;
    expect(c).toMatchObject({
      d1: 1 + 2 * ABORTS_PER_MESSAGE + 2 * DELETES_PER_MESSAGE + 1 + purged,
      objects: 0,
      r2: 2 * ABORTS_PER_MESSAGE + purged,
      sends: messages.length,
    });
    expect(c.d1).toBeLessThanOrEqual(LIMIT);
    expect(subrequests(c)).toBeLessThanOrEqual(LIMIT);
    // Each sent its follow-up, which continues: the rest goes.
    await drain(e);
    for (const [table, where] of [
      ["uploads", "upload_id LIKE 'up_%'"],
      ["registration_tokens", "id LIKE 'tok_old_%'"],
      ["download_tickets", "hash LIKE 'tk_%'"],
      ["r2_purges", "prefix LIKE 'gone/%'"],
    ]) {
      expect(
        (await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).first<{ n: number }>())!.n,
        table,
      ).toBe(0);
    }
  });
});
