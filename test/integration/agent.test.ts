import { exports } from "cloudflare:workers";
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { FleetbeatAgent, register } from "../../agent/agent";
import { FileSpool, MemorySpool } from "../../agent/spool";
import { allLogs, call, capsule, newOrg, newProject } from "./helpers";
import { settle } from "../support/settle";

const BACKEND = "http://fleetbeat.test";
const toWorker = (r: Request) => exports.default.fetch(r);

async function device() {
  const { adminKey } = await newOrg();
  const projectId = await newProject(adminKey);
  const token = await capsule(adminKey, projectId);
  const reg = await register(BACKEND, { dsn: `AG-${crypto.randomUUID().slice(0, 6)}`, registration_token: token }, toWorker);
  return { adminKey, projectId, ...reg };
}

describe("device agent", () => {
  it("loses nothing and doubles nothing when it crashes after the backend took a batch", async () => {
    const d = await device();
    const spool = new MemorySpool();
    let calls = 0;
    // The second ingest reaches the backend, but the answer never reaches the agent.
    const flaky = async (r: Request) => {
      const res = await toWorker(r);
      if (r.url.endsWith("/logs/ingest") && ++calls === 2) throw new Error("connection reset");
      return res;
    };
    const first = new FleetbeatAgent({ backendUrl: BACKEND, deviceKey: d.device_key, spool, batchLines: 100, fetch: flaky });
    for (let i = 0; i < 250; i++) first.log(i % 10 === 0 ? "ERROR" : "INFO", "nav", `step ${i}`);
    const partial = await first.flush();
    expect(partial).toMatchObject({ sent: 100, pending: true });

    // The process dies; a new one starts over the same spool.
    const second = new FleetbeatAgent({ backendUrl: BACKEND, deviceKey: d.device_key, spool, batchLines: 100, fetch: toWorker });
    const rest = await second.flush();
    expect(rest).toMatchObject({ sent: 150, accepted: 150, duplicates: 1, pending: false });
    expect(spool.sealed()).toEqual([]);

    expect((await allLogs(d.adminKey, `device_id=${d.device_id}&limit=1000`)).length).toBe(250);
    await settle(d.device_id);
    const usage = await call("GET", `/stats/usage?project_id=${d.projectId}`, { token: d.adminKey });
    expect(usage.json.logs).toBe(250);
  });

  it("keeps lines on disk across a crash, even one that tore the last write", async () => {
    const d = await device();
    const dir = `/tmp/fleetbeat-spool-${crypto.randomUUID()}`;
    const before = new FleetbeatAgent({ backendUrl: BACKEND, deviceKey: d.device_key, spool: new FileSpool(fs, dir), batchLines: 40 });
    for (let i = 0; i < 100; i++) before.log("INFO", "cam", `frame ${i}`, { context: { i } });
    // Crash mid-append: half a line at the end of the open segment.
    fs.appendFileSync(`${dir}/open.ndjson`, '{"timestamp_us":1,"lev');

    const after = new FleetbeatAgent({ backendUrl: BACKEND, deviceKey: d.device_key, spool: new FileSpool(fs, dir), fetch: toWorker });
    const result = await after.flush();
    expect(result).toMatchObject({ sent: 100, accepted: 100, pending: false });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect((await allLogs(d.adminKey, `device_id=${d.device_id}&limit=1000`)).length).toBe(100);
  });

  it("keeps batches while the key is refused, and drops only batches the backend calls malformed", async () => {
    const d = await device();
    const spool = new MemorySpool();
    const refused: number[] = [];
    const wrongKey = new FleetbeatAgent({ backendUrl: BACKEND, deviceKey: "fbd_nope", spool, fetch: toWorker });
    wrongKey.log("INFO", "x", "kept");
    expect((await wrongKey.flush()).pending).toBe(true);
    expect(spool.sealed().length).toBe(1);

    const agent = new FleetbeatAgent({
      backendUrl: BACKEND,
      deviceKey: d.device_key,
      spool,
      fetch: toWorker,
      sessionId: "not/valid",
      onRejectedBatch: (_id, status) => refused.push(status),
    });
    expect((await agent.flush()).pending).toBe(false);
    expect(refused).toEqual([400]);
    expect(spool.sealed()).toEqual([]);
  });

  it("heartbeats, runs a session and takes commands", async () => {
    const d = await device();
    const agent = new FleetbeatAgent({ backendUrl: BACKEND, deviceKey: d.device_key, spool: new MemorySpool(), fetch: toWorker });
    expect((await agent.heartbeat({ metrics: { cpu_usage: 3 } })).pending_commands).toBe(0);
    await agent.startSession("agent-run-1");
    agent.log("WARN", "nav", "slow");
    await agent.endSession("completed");
    const s = await call("GET", "/sessions/agent-run-1", { token: d.adminKey });
    expect(s.json.session).toMatchObject({ status: "completed", total_logs: 1, warning_count: 1 });

    await call("POST", "/fleet/commands", { token: d.adminKey, body: { device_id: d.device_id, command: "reboot" } });
    const [cmd] = await agent.commands(d.device_id);
    expect(cmd!.command).toBe("reboot");
    await agent.ack(d.device_id, cmd!.id, "succeeded");
    const history = await call("GET", `/fleet/devices/${d.device_id}/commands/history`, { token: d.adminKey });
    expect(history.json.commands[0].status).toBe("succeeded");
  });
});
