// A log shard counts the lines it stores for its project exactly once (durable-objects/log-shard/counts.ts):
// the counts of batches it took live in its memory and in the records of the chunks that hold
// them; a delivery names the range of sequences it carries, and the project applies it only
// where it stands. A shard that restarts before delivering reads its counts back from the
// chunks; one whose delivery's answer was lost is told where the project stands, and sends only
// the rest.
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { shardOf as shardIndex, shardName } from "../../src/contract/log-shards";
import { projectHub } from "../../src/stubs/project-hub";
import { shardOf } from "../support/hot-lines";
import { settle } from "../support/settle";
import { call, ingest, line, loghubLines, newDevice, tenant } from "./helpers";

const logsCounted = async (t: { projectId: string; viewerKey: string }) =>
  (await call("GET", `/stats/usage?project_id=${t.projectId}`, { token: t.viewerKey })).json;

describe("a log shard's counts", () => {
  it("survive a restart before they were delivered: they are read back from the chunks", async () => {
    const t = await tenant();
    const second = await newDevice(t.adminKey, t.projectId);
    // The first batch goes to the project at once; the next ones wait for the delivery interval.
    const a = loghubLines("HDFS", 10);
    const b = loghubLines("HDFS", 20, { offset: 10 });
    await ingest(t.deviceKey, { logs: a });
    await ingest(t.deviceKey, { logs: b });
    expect((await ingest(second.deviceKey, { logs: [line("ERROR", "gripper stalled")] })).json.accepted).toBe(1);
    const taken = await runInDurableObject(
      projectHub(env, t.projectId),
      (_h, s) =>
        s.storage.sql
          .exec<{ seq: number }>(
            "SELECT seq FROM intake WHERE sender = ?",
            shardName(t.projectId, shardIndex(t.deviceId)),
          )
          .toArray()[0]?.seq ?? 0,
    );
    expect(taken).toBeGreaterThan(0);
    // Every object stops; the shard's memory of the last batches is gone.
    await abortAllDurableObjects();
    await settle(t.deviceId);
    await settle(second.deviceId);
    const u = await logsCounted(t);
    expect(u.logs).toBe(31);
    expect(u.error_lines).toBe([...a, ...b].filter((l) => l.level === "ERROR" || l.level === "FATAL").length + 1);
    // And a second delivery adds nothing.
    await settle(t.deviceId);
    expect((await logsCounted(t)).logs).toBe(31);
  });

  it("are applied once when the answer to a delivery was lost: the shard hears where the project stands and sends only the rest", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 5) });
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 7, { offset: 5 }) });
    const shard = await shardOf(t.deviceId);
    const name = shardName(t.projectId, shardIndex(t.deviceId));
    // The shard seals what it owes and it reaches the project, but the shard never hears the answer.
    const sealed = await runInDurableObject(shard, (s) =>
      (s as unknown as { counts: { seal(rows: number): unknown } }).counts.seal(0),
    );
    expect(sealed).not.toBeNull();
    const hub = projectHub(env, t.projectId);
    const first = await hub.deliverShard(name, sealed as Parameters<typeof hub.deliverShard>[1]);
    expect(first.taken).toBe((sealed as { through: number }).through);
    // The same range sent again is not applied: the project answers where it stands.
    const again = await hub.deliverShard(name, sealed as Parameters<typeof hub.deliverShard>[1]);
    expect(again.taken).toBe(first.taken);
    // More lines, then the shard restarts and delivers: what the project took is not sent again.
    await ingest(t.deviceKey, { logs: loghubLines("HDFS", 3, { offset: 12 }) });
    await abortAllDurableObjects();
    await settle(t.deviceId);
    expect((await logsCounted(t)).logs).toBe(15);
  });
});
