// Time buckets: each size counted directly, lines by event time, and for every size the
// buckets of a window add up to exactly the lines accepted in it.
import { describe, expect, it } from "vitest";
import { CRON } from "../../src/jobs/schedule";
import { setClock } from "../support/clock";
import { runJobs } from "../support/jobs";
import { settle } from "../support/settle";
import { call, ingest, newDevice, tenant } from "./helpers";

const HOUR = 3_600_000;
const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number) {
  return () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

async function series(token: string, projectId: string, metric: string, interval: string, from: number, to: number) {
  const res = await call(
    "GET",
    `/stats/timeseries?project_id=${projectId}&metric=${metric}&interval=${interval}&from=${new Date(from).toISOString()}&to=${new Date(to - 1).toISOString()}`,
    { token },
  );
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  expect(res.json).toMatchObject({ metric, interval });
  return res.json.points as { t: string; value: number }[];
}
const total = (points: { value: number }[]) => points.reduce((n, p) => n + p.value, 0);

describe("time buckets", () => {
  it("add up, for every size and every level, to the lines accepted in the window", async () => {
    const t = await tenant();
    const second = await newDevice(t.adminKey, t.projectId);
    // A three-hour window that ended an hour ago, aligned to the hour.
    const to = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const from = to - 3 * HOUR;
    const rnd = random(42);
    const sent: Record<string, number> = Object.fromEntries(LEVELS.map((l) => [l, 0]));
    const minute = new Map<number, number>();
    for (let b = 0; b < 12; b++) {
      const logs = Array.from({ length: 50 }, (_, i) => {
        const level = LEVELS[Math.floor(rnd() * LEVELS.length)]!;
        const ms = from + Math.floor(rnd() * (to - from));
        sent[level]!++;
        minute.set(ms - (ms % 60_000), (minute.get(ms - (ms % 60_000)) ?? 0) + 1);
        return { timestamp_us: ms * 1000 + i, level, module: "nav", message: `b${b} l${i}` };
      });
      const key = b % 2 === 0 ? t.deviceKey : second.deviceKey;
      expect((await ingest(key, { batch_id: `b${b}`, logs })).json.accepted).toBe(50);
      // A retried batch adds nothing.
      if (b === 3) expect((await ingest(key, { batch_id: `b${b}`, logs })).json.duplicate).toBe(true);
    }
    // Lines outside the window are not in its buckets.
    await ingest(t.deviceKey, {
      logs: [{ timestamp_us: (to + 5 * 60_000) * 1000, level: "INFO", module: "nav", message: "after" }],
    });
    await settle(t.deviceId);
    await settle(second.deviceId);

    const accepted = 600;
    for (const interval of ["1m", "5m", "15m", "60m"]) {
      const points = await series(t.viewerKey, t.projectId, "logs", interval, from, to);
      expect(points).toHaveLength((3 * HOUR) / ({ "1m": 1, "5m": 5, "15m": 15, "60m": 60 }[interval]! * 60_000));
      expect(total(points), interval).toBe(accepted);
      for (const level of LEVELS)
        expect(
          total(await series(t.viewerKey, t.projectId, `logs_${level.toLowerCase()}`, interval, from, to)),
          `${interval} ${level}`,
        ).toBe(sent[level]);
      expect(total(await series(t.viewerKey, t.projectId, "errors", interval, from, to))).toBe(
        sent.ERROR! + sent.FATAL!,
      );
    }
    // And bucket by bucket, at the finest size.
    const perMinute = await series(t.viewerKey, t.projectId, "logs", "1m", from, to);
    for (const p of perMinute) expect(p.value, p.t).toBe(minute.get(Date.parse(p.t)) ?? 0);
  });

  it("put a late line in its own bucket, and what arrives (heartbeats, messages) in the bucket of its arrival", async () => {
    const t = await tenant();
    const twoHoursAgo = Date.now() - 2 * HOUR;
    await ingest(t.deviceKey, {
      logs: [{ timestamp_us: twoHoursAgo * 1000, level: "WARN", module: "nav", message: "late" }],
    });
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    await settle(t.deviceId);
    const hour = twoHoursAgo - (twoHoursAgo % HOUR);
    const warn = await series(t.viewerKey, t.projectId, "logs_warn", "60m", hour - HOUR, hour + 4 * HOUR);
    expect(warn.map((p) => p.value)).toEqual([0, 1, 0, 0, 0]);
    const now = Date.now();
    const beats = await series(t.viewerKey, t.projectId, "heartbeats", "5m", now - 3_600_000, now + 300_000);
    expect(total(beats)).toBe(1);
    expect(
      total(await series(t.viewerKey, t.projectId, "device_messages_in", "5m", now - 3_600_000, now + 300_000)),
    ).toBe(2);
  });

  it("serve whole days from the daily rows, and refuse a series too long to answer", async () => {
    const t = await tenant();
    const day = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
    setClock(`${day}T10:00:00Z`);
    await ingest(t.deviceKey, {
      logs: [{ timestamp: new Date().toISOString(), level: "ERROR", module: "nav", message: "x" }],
    });
    await settle(t.deviceId);
    await runJobs(CRON.daily, Date.parse(`${day}T00:05:00Z`) + 86_400_000);
    const res = await call(
      "GET",
      `/stats/timeseries?project_id=${t.projectId}&metric=errors&interval=1d&from=${day}T00:00:00Z&to=${day}T23:59:59Z`,
      { token: t.viewerKey },
    );
    expect(res.json.points).toEqual([{ t: `${day}T00:00:00.000Z`, value: 1 }]);

    const tooLong = await call(
      "GET",
      `/stats/timeseries?project_id=${t.projectId}&metric=logs&interval=1m&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`,
      { token: t.viewerKey },
    );
    expect(tooLong.status).toBe(400);
    expect(
      (await call("GET", `/stats/timeseries?project_id=${t.projectId}&metric=bytes`, { token: t.viewerKey })).status,
    ).toBe(400);
    const other = await tenant();
    expect(
      (await call("GET", `/stats/timeseries?project_id=${other.projectId}&metric=logs`, { token: t.viewerKey })).status,
    ).toBe(404);
  });
});
