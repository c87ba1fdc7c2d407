// Creation races over real HTTP: on a fresh free org per kind and run, N creations at once
// against room for L must store exactly min(N, L), every run, and refuse the rest with 429
// quota_exceeded naming the limit as used. (The fast tier's test/integration/quotas.test.ts
// races through the Worker's fetch; this one goes through wrangler dev's sockets and D1.)
import { expect } from "vitest";
import { TIERS } from "../../../src/contract/tiers.ts";
import { api, type Server } from "../support/server.ts";

type Kind = "projects" | "api_keys" | "devices";
type Answer = { status: number; json: any };

/** How many of each kind are fired at once: more than the free tier holds. */
const ATTEMPTS: Record<Kind, number> = { projects: 20, api_keys: 25, devices: 12 };

export interface RaceCounts {
  /** Creations fired at once in each run. */
  attempts: number;
  limit: number;
  /** What each run stored (for api_keys, beside the org's first admin key). */
  stored: number[];
}

/** Runs each kind's race `runs` times and returns what each run stored. */
export async function creationRaces(server: Server, runs = 3): Promise<Record<Kind, RaceCounts>> {
  const limits = TIERS.free.limits;
  const out = {} as Record<Kind, RaceCounts>;
  for (const kind of ["projects", "api_keys", "devices"] as const) {
    out[kind] = { attempts: ATTEMPTS[kind], limit: limits[kind], stored: [] };
    for (let run = 0; run < runs; run++) out[kind].stored.push(await race(server, kind, ATTEMPTS[kind], limits[kind]));
  }
  return out;
}

async function race(server: Server, kind: Kind, n: number, limit: number): Promise<number> {
  const base = server.api;
  const org = await must(
    api(base, "POST", "/orgs", { token: server.vars.ADMIN_TOKEN, body: { name: `race ${kind}`, tier: "free" } }),
    201,
    "org",
  );
  const adminKey: string = org.api_key.key;
  const all = <T>(make: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => make(i)));

  let answers: Answer[];
  let held: () => Promise<number>;
  // The org's first admin key holds one of its api_keys places.
  let room = limit;
  if (kind === "projects") {
    answers = await all((i) => api(base, "POST", "/projects", { token: adminKey, body: { name: `race ${i}` } }));
    held = async () =>
      (await must(api(base, "GET", "/projects?limit=100", { token: adminKey }), 200, "projects")).projects.length;
  } else if (kind === "api_keys") {
    room = limit - 1;
    answers = await all((i) =>
      api(base, "POST", "/keys", { token: adminKey, body: { role: "viewer", name: `race ${i}` } }),
    );
    held = async () => (await must(api(base, "GET", "/keys", { token: adminKey }), 200, "keys")).keys.length;
  } else {
    const project = await must(
      api(base, "POST", "/projects", { token: adminKey, body: { name: "race" } }),
      201,
      "project",
    );
    const projectId: string = project.project.id;
    const body = { project_id: projectId, device_type: "amr", environment: "testing" };
    const capsules = await all(() =>
      must(api(base, "POST", "/capsules/generate", { token: adminKey, body }), 201, "capsule"),
    );
    answers = await all((i) =>
      api(base, "POST", "/fleet/register", {
        body: { dsn: `RACE-${i}`, registration_token: capsules[i].capsule.fleet.registration_token },
      }),
    );
    held = async () =>
      (
        await must(
          api(base, "GET", `/fleet/devices?project_id=${projectId}&limit=100`, { token: adminKey }),
          200,
          "devices",
        )
      ).devices.length;
  }

  const stored = answers.filter((a) => a.status === 201).length;
  const refused = answers.filter((a) => a.status !== 201);
  expect(stored, `${kind}: ${n} at once against room for ${room}; a refusal: ${JSON.stringify(refused[0]?.json)}`).toBe(
    Math.min(n, room),
  );
  for (const r of refused) {
    expect(r.status, `${kind}: ${JSON.stringify(r.json)}`).toBe(429);
    expect(r.json.error).toMatchObject({ code: "quota_exceeded", details: { quota: kind, limit, used: limit } });
  }
  expect(await held(), `${kind} the org holds`).toBe(Math.min(n, room) + limit - room);
  return stored;
}

async function must(p: Promise<Answer>, status: number, what: string): Promise<any> {
  const res = await p;
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}
