// The daily and monthly jobs, driven with a controlled clock: days land where their traffic
// arrived, a second run changes nothing, a missed day is back-filled, a late count for a
// written day moves to the next, the month close is derived from the days, and an org's
// stats are the sum of its projects'.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CRON } from "../../src/jobs/schedule";
import { projectHub } from "../../src/stubs/project-hub";
import { setClock } from "../support/clock";
import { runJobs } from "../support/jobs";
import { settle } from "../support/settle";
import { call, ingest, line, newDevice, newProject, tenant } from "./helpers";

// Days after today, so every one of them is after the projects were created.
const DAY_MS = 86_400_000;
const day = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10);
const at = (d: string, time: string) => `${d}T${time}Z`;

const run = (cron: string, iso: string) => runJobs(cron, Date.parse(iso));
const lines = (n: number, level = "INFO") => Array.from({ length: n }, (_, i) => line(level, `line ${i}`));

async function daily(token: string, scope: string, from: string, to: string) {
  const res = await call("GET", `/stats/daily?${scope}&from=${from}&to=${to}`, { token });
  expect(res.status).toBe(200);
  return res.json.days as Record<string, any>[];
}

describe("the daily job", () => {
  it("writes each day's traffic to that day, across midnight, and a second run changes nothing", async () => {
    const t = await tenant();
    const [d1, d2, d3] = [day(2), day(3), day(4)];
    setClock(at(d1, "23:59:50"));
    await ingest(t.deviceKey, { logs: [...lines(5), ...lines(2, "ERROR")] });
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    setClock(at(d2, "00:00:10"));
    await ingest(t.deviceKey, { logs: lines(3) });
    await settle(t.deviceId);

    await run(CRON.daily, at(d2, "00:05:00"));
    const first = await daily(t.viewerKey, `project_id=${t.projectId}`, day(0), d3);
    expect(first.map((d) => d.date)).toEqual([day(0), day(1), d1]); // d2 is not finished yet
    expect(first[2]).toMatchObject({
      project_id: t.projectId,
      logs: 7,
      error_lines: 2,
      heartbeats: 1,
      devices: 1,
      active_devices: 1,
    });
    expect(first[2]!.error_rate).toBeCloseTo(2 / 7);
    expect(first[0]).toMatchObject({ logs: 0, error_rate: 0 });

    await run(CRON.daily, at(d2, "00:05:00"));
    await run(CRON.hourly, at(d2, "01:00:00"));
    expect(await daily(t.viewerKey, `project_id=${t.projectId}`, day(0), d3)).toEqual(first);

    await run(CRON.daily, at(d3, "00:05:00"));
    const second = await daily(t.viewerKey, `project_id=${t.projectId}`, d2, d2);
    expect(second).toEqual([expect.objectContaining({ date: d2, logs: 3, error_lines: 0 })]);
  });

  it("back-fills the days a missed run left, and a count arriving for a written day lands on the next", async () => {
    const t = await tenant();
    const [d1, d2, d3] = [day(2), day(3), day(4)];
    setClock(at(d1, "12:00:00"));
    await ingest(t.deviceKey, { logs: lines(4) });
    await settle(t.deviceId);
    await run(CRON.daily, at(d2, "00:05:00")); // writes up to d1

    // A delivery held up past midnight: a device counted it on d1, after d1 was written. (Its
    // own id, so the high sequence does not hide the test device's next deliveries.)
    const late = {
      seq: 1_000_000,
      day: d1,
      logs: 6,
      log_bytes: 60,
      sessions: 0,
      heartbeats: 0,
      device_messages_in: 1,
      device_messages_out: 0,
      commands: 0,
      api_calls: 1,
      artifact_bytes: 0,
      error_lines: 0,
    };
    await projectHub(env, t.projectId).deliver("dev_held_up", [late], []);

    setClock(at(d3, "08:00:00"));
    await ingest(t.deviceKey, { logs: lines(1) });
    await settle(t.deviceId);
    // No run on d3's morning: the run of d3+1 writes both d2 and d3.
    await run(CRON.hourly, at(day(5), "00:00:00"));
    const days = await daily(t.viewerKey, `project_id=${t.projectId}`, d1, d3);
    expect(days.map((d) => [d.date, d.logs])).toEqual([
      [d1, 4],
      [d2, 6],
      [d3, 1],
    ]);
  });
});

describe("the monthly job", () => {
  it("closes a month from its days only, writing any day still missing first, and once", async () => {
    const t = await tenant();
    // A month wholly in the future: its days come after the project's creation.
    const now = new Date();
    const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 2, 1)).toISOString().slice(0, 7);
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 3, 1)).toISOString().slice(0, 10);
    setClock(at(`${month}-01`, "09:00:00"));
    await ingest(t.deviceKey, { logs: [...lines(10), ...lines(1, "FATAL")] });
    setClock(at(`${month}-15`, "09:00:00"));
    await ingest(t.deviceKey, { logs: lines(20) });
    await settle(t.deviceId);

    // No daily run has written this month: the monthly job writes its days itself.
    await run(CRON.monthly, at(next, "00:20:00"));
    const res = await call("GET", `/stats/monthly?project_id=${t.projectId}&year=${month.slice(0, 4)}`, {
      token: t.viewerKey,
    });
    const closed = res.json.months.find((m: any) => m.month === month);
    expect(closed).toMatchObject({
      month,
      project_id: t.projectId,
      logs: 31,
      error_lines: 1,
      tier: "pro",
      exceeded_limits: [],
      peak_storage_bytes: 0,
      overage_charge: { currency: "USD", cents: 0 },
    });
    const days = await daily(t.viewerKey, `project_id=${t.projectId}`, `${month}-01`, `${month}-31`);
    expect(days.reduce((n, d) => n + d.logs, 0)).toBe(closed.logs);
    expect(days.at(-1)!.date.slice(0, 7)).toBe(month);

    await run(CRON.monthly, at(next, "03:00:00"));
    const again = await call("GET", `/stats/monthly?project_id=${t.projectId}&year=${month.slice(0, 4)}`, {
      token: t.viewerKey,
    });
    expect(again.json.months).toEqual(res.json.months);
  });
});

describe("org stats", () => {
  it("are the sum of the org's projects, for usage and for days", async () => {
    const t = await tenant();
    const other = await newProject(t.adminKey, "second");
    const device2 = await newDevice(t.adminKey, other);
    const d1 = day(2);
    setClock(at(d1, "10:00:00"));
    await ingest(t.deviceKey, { logs: lines(3) });
    await ingest(device2.deviceKey, { logs: [...lines(4), ...lines(1, "ERROR")] });
    await settle(t.deviceId);
    await settle(device2.deviceId);

    const usage = async (scope: string) => (await call("GET", `/stats/usage?${scope}`, { token: t.viewerKey })).json;
    const [a, b, org] = [
      await usage(`project_id=${t.projectId}`),
      await usage(`project_id=${other}`),
      await usage(`org_id=${t.orgId}`),
    ];
    for (const f of ["logs", "log_bytes", "device_messages_in", "error_lines", "devices"])
      expect(org[f]).toBe(a[f] + b[f]);
    // The org's api_calls also hold its own calls (these reads among them): at least the projects' sum.
    expect(org.api_calls).toBeGreaterThanOrEqual(a.api_calls + b.api_calls);
    expect(org.org_id).toBe(t.orgId);
    expect(org.logs).toBe(8);

    await run(CRON.daily, at(day(3), "00:05:00"));
    const [pa, pb, po] = [
      await daily(t.viewerKey, `project_id=${t.projectId}`, d1, d1),
      await daily(t.viewerKey, `project_id=${other}`, d1, d1),
      await daily(t.viewerKey, `org_id=${t.orgId}`, d1, d1),
    ];
    expect(po).toHaveLength(1);
    expect(po[0]!.project_id).toBeUndefined();
    for (const f of ["logs", "log_bytes", "error_lines", "devices", "active_devices"])
      expect(po[0]![f]).toBe(pa[0]![f] + pb[0]![f]);
    expect(po[0]!.error_rate).toBeCloseTo(1 / 8);

    // Another org's id is not found, like a missing one.
    const stranger = await tenant();
    expect((await call("GET", `/stats/daily?org_id=${stranger.orgId}`, { token: t.viewerKey })).status).toBe(404);
    expect((await call("GET", `/stats/daily`, { token: t.viewerKey })).status).toBe(400);
  });
});
