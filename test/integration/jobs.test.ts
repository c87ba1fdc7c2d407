import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { CRON } from "../../src/jobs/schedule";
import { runJobs } from "../support/jobs";
import { call, capsule, newOrg, newProject } from "./helpers";

it("the hourly job drops registration tokens expired over 30 days ago, and keeps the rest", async () => {
  const { adminKey } = await newOrg();
  const projectId = await newProject(adminKey);
  const ancient = await capsule(adminKey, projectId);
  const recent = await capsule(adminKey, projectId);
  const day = 86_400_000;
  await env.DB.prepare("UPDATE registration_tokens SET expires_at = ? WHERE project_id = ?")
    .bind(Date.now() - 31 * day, projectId)
    .run();
  await env.DB.prepare(
    "UPDATE registration_tokens SET expires_at = ? WHERE project_id = ? AND rowid = (SELECT max(rowid) FROM registration_tokens WHERE project_id = ?)",
  )
    .bind(Date.now() - 2 * day, projectId, projectId)
    .run();

  await runJobs(CRON.hourly, Date.now());
  // Run twice: a re-run cron changes nothing more.
  await runJobs(CRON.hourly, Date.now());

  expect((await call("POST", "/fleet/register", { body: { dsn: "OLD-1", registration_token: ancient } })).status).toBe(
    401,
  );
  expect((await call("POST", "/fleet/register", { body: { dsn: "OLD-2", registration_token: recent } })).status).toBe(
    410,
  );
});
