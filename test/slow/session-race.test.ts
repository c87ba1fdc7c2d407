// Two devices of one project naming the same new session at the same moment, against a real
// server (on wrangler dev the requests truly overlap, which the workerd test pool does not
// reproduce). Session ownership is decided once, in one place: exactly one device wins each
// round, the other is refused with 409, and what the winner sent is all the session holds.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allLogs, api, newTenant, type Server, startServer } from "./support/server.ts";

const ROUNDS = 10;

describe("session race drill", () => {
  let server: Server;
  let state: string;
  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-race-"));
    server = await startServer({ state });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(state, { recursive: true, force: true });
  });

  it("gives each new session to exactly one of two racing devices, by ingest and by POST /sessions", async () => {
    const base = server.api;
    const tenant = await newTenant(server, "Race org");
    const register = async (dsn: string) => {
      const capsule = await api(base, "POST", "/capsules/generate", {
        token: tenant.adminKey,
        body: { project_id: tenant.projectId, device_type: "amr", environment: "testing" },
      });
      const reg = await api(base, "POST", "/fleet/register", {
        body: { dsn, registration_token: capsule.json.capsule.fleet.registration_token },
      });
      return { id: reg.json.device_id as string, key: reg.json.device_key as string };
    };
    const a = await register("RACE-A");
    const b = await register("RACE-B");
    const line = (message: string) => ({ timestamp: new Date().toISOString(), level: "INFO", module: "race", message });
    const outcomes: string[] = [];

    for (let round = 0; round < ROUNDS; round++) {
      const session_id = `ingest-race-${round}`;
      const send = (d: { key: string }, who: string) =>
        api(base, "POST", "/logs/ingest", { token: d.key, body: { session_id, logs: [line(who)] } });
      const [ra, rb] = await Promise.all([send(a, "a"), send(b, "b")]);
      outcomes.push(`${ra.status}/${rb.status}`);
      expect([ra.status, rb.status].sort()).toEqual([200, 409]);
      const winner = ra.status === 200 ? "a" : "b";
      const lines = await allLogs(base, tenant.viewerKey, `session_id=${encodeURIComponent(session_id)}`);
      expect(lines.map((l) => l.message)).toEqual([winner]);
      const session = await api(base, "GET", `/sessions/${session_id}`, { token: tenant.viewerKey });
      expect(session.json.session).toMatchObject({ device_id: winner === "a" ? a.id : b.id, total_logs: 1 });
    }

    for (let round = 0; round < ROUNDS; round++) {
      const session_id = `open-race-${round}`;
      const open = (d: { key: string }) => api(base, "POST", "/sessions", { token: d.key, body: { session_id } });
      const [ra, rb] = await Promise.all([open(a), open(b)]);
      outcomes.push(`${ra.status}/${rb.status}`);
      expect([ra.status, rb.status].sort()).toEqual([201, 409]);
      const loser = ra.status === 409 ? a : b;
      const retries = await Promise.all([open(loser), open(loser)]);
      expect(retries.map((r) => r.status)).toEqual([409, 409]);
      const device = await api(base, "GET", `/fleet/devices/${loser.id}`, { token: tenant.viewerKey });
      expect(device.json.device.current_session_id).not.toBe(session_id);
    }
    console.log(`[session-race] ${2 * ROUNDS} rounds, each winner/loser status pair: ${outcomes.join(" ")}`);
  });
});
