// Drives a project's batch of status transitions to D1 now, as its alarm does within a minute
// of the first one it carries (durable-objects/project-hub/presence.ts).
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { PRESENCE_D1 } from "../../durable-objects/project-hub/presence";
import { projectHub } from "../../src/stubs/project-hub";

/** Runs the project's alarm with the batch due: every transition waiting (up to a batch) reaches D1. */
export async function writeTransitionsNow(projectId: string): Promise<void> {
  const every = PRESENCE_D1.everyMs;
  PRESENCE_D1.everyMs = 0;
  try {
    await runDurableObjectAlarm(projectHub(env, projectId));
  } finally {
    PRESENCE_D1.everyMs = every;
  }
}

/** How many batches of transitions the project has written to D1, and when the last went (its own record). */
export const transitionBatches = (projectId: string): Promise<{ batches: number; at: number }> =>
  runInDurableObject(
    projectHub(env, projectId),
    (_hub, state) => state.storage.kv.get<{ batches: number; at: number }>("presence_d1") ?? { batches: 0, at: 0 },
  );
