// The hourly job's copies: the finished hours of API records copied to D1. Safe to run again
// or late. (Storage is counted where bytes are written and deleted, never by listing R2:
// docs/COSTS.md. Presence needs no sweep here: each project's object asks the devices it has
// not heard from, durable-objects/project-hub/presence.ts.)
import type { Db } from "../db/client";
import { listOrgIds } from "../db/repos/orgs";
import { insertApiHours, jobCursor, saveJobCursor } from "../db/repos/stats";
import { FAN_OUT, mapLimit } from "../lib/concurrency";
import { orgHub, projectHub } from "../stubs/project-hub";
import type { Project } from "../db/repos/projects";
import { JOB_BUDGET, forEachOf, nextProjects } from "./each-project";

const HOUR_MS = 3_600_000;
/** Finished hours copied each run, so a missed run is made up by the next. */
const COPY_HOURS = 24;

/** Runs `work` for the next JOB_BUDGET projects of the walk named `job`, and remembers where it stopped. */
async function walk(db: Db, job: string, work: (p: Project) => Promise<void>, budget?: number): Promise<void> {
  const { projects, next } = await nextProjects(db, await jobCursor(db, job), budget);
  await forEachOf(projects, work);
  await saveJobCursor(db, job, next);
}

/** Copies the last COPY_HOURS finished hours of API records of every project and org to D1. */
export async function copyApiHours(env: Env, db: Db, now: number): Promise<void> {
  const lastFinished = Math.floor(now / HOUR_MS) - 1;
  const first = lastFinished - COPY_HOURS + 1;
  await walk(db, "api_hours", async (p) => insertApiHours(db, p.id, await projectHub(env, p.id).apiHours(first, lastFinished)));
  // The orgs' own hubs, in turn likewise.
  const after = await jobCursor(db, "api_hours_orgs");
  const orgIds = await listOrgIds(db, { afterId: after ?? undefined, limit: JOB_BUDGET });
  await mapLimit(orgIds, FAN_OUT, async (orgId) => insertApiHours(db, `org:${orgId}`, await orgHub(env, orgId).apiHours(first, lastFinished)));
  await saveJobCursor(db, "api_hours_orgs", orgIds.length < JOB_BUDGET ? null : orgIds[orgIds.length - 1]!);
}
