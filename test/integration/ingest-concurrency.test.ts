// Concurrent batches to one device: each is stored once and counted once, whatever order the
// device's object takes them in.
import { describe, expect, it } from "vitest";
import { settle } from "../support/settle";
import { allLogs, call, ingest, loghubLines, tenant } from "./helpers";

const BATCH = 40;
/** Row id of a log id `<device id>:<row id>`. */
const rowId = (id: string) => Number(id.slice(id.lastIndexOf(":") + 1));

describe("concurrent batches to one device", () => {
  it("are stored, ordered and counted exactly, with repeated batch ids taken once", async () => {
    const t = await tenant();
    // Eight batches with ids, four of them sent twice at once, and two without an id: 14 requests.
    const batches = Array.from({ length: 10 }, (_, b) =>
      loghubLines("HDFS", BATCH, { offset: b * BATCH }).map((l, i) => ({ ...l, message: `b${b}-l${i} ${l.message}` })),
    );
    const bodies = batches.map((logs, b) => ({ session_id: "burst", ...(b < 8 ? { batch_id: `b${b}` } : {}), logs }));
    const sent = [...bodies, bodies[1]!, bodies[3]!, bodies[5]!, bodies[7]!];
    const answers = await Promise.all(sent.map((body) => ingest(t.deviceKey, body)));

    for (const a of answers) expect(a.status).toBe(200);
    for (const id of ["b1", "b3", "b5", "b7"]) {
      const twins = answers.filter((a) => a.json.batch_id === id);
      expect(twins.map((a) => a.json.duplicate).sort()).toEqual([false, true]);
      expect(twins.map((a) => a.json.accepted)).toEqual([BATCH, BATCH]);
    }

    // The counts of requests within one second reach the project together (at most one delivery a second).
    await settle(t.deviceId);
    const usage = (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;
    expect(usage.logs).toBe(10 * BATCH);
    expect(usage.sessions).toBe(1);
    expect(usage.device_messages_in).toBe(sent.length);
    // Every device call, and the org key's capsule for the device (it names the project).
    expect(usage.api_calls).toBe(sent.length + 1);

    const { session } = (await call("GET", "/sessions/burst", { token: t.viewerKey })).json;
    expect(session.total_logs).toBe(10 * BATCH);

    // Each line once; within the device, ids follow each batch's own line order, batch by batch.
    const logs = await allLogs(t.viewerKey, `project_id=${t.projectId}&limit=1000`);
    expect(logs).toHaveLength(10 * BATCH);
    const byId = [...logs].sort((x, y) => rowId(x.id) - rowId(y.id));
    expect(new Set(byId.map((l) => l.message.split(" ")[0])).size).toBe(10 * BATCH);
    for (let i = 0; i < byId.length; i += BATCH) {
      const run = byId.slice(i, i + BATCH);
      const batch = run[0]!.message.split("-")[0];
      expect(run.map((l) => l.message.split(" ")[0])).toEqual(run.map((_, k) => `${batch}-l${k}`));
      expect(rowId(run.at(-1)!.id) - rowId(run[0]!.id)).toBe(BATCH - 1);
    }
  });

  it("count a session batch once when it and its retry come back from the shard in either order", async () => {
    // The retry's duplicate answer may reach the device's object before the first answer does:
    // whichever comes first counts the lines for the session, the other finds them counted.
    const t = await tenant();
    const rounds = 20;
    for (let r = 0; r < rounds; r++) {
      const body = { session_id: "twins", batch_id: `t${r}`, logs: loghubLines("HDFS", 5, { offset: r * 5 }) };
      const answers = await Promise.all([
        ingest(t.deviceKey, body),
        ingest(t.deviceKey, body),
        ingest(t.deviceKey, body),
      ]);
      expect(answers.map((a) => a.json.duplicate).sort()).toEqual([false, true, true]);
    }
    await settle(t.deviceId);
    const { session } = (await call("GET", "/sessions/twins", { token: t.viewerKey })).json;
    expect(session.total_logs).toBe(rounds * 5);
  });
});
