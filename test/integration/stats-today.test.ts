// GET /stats/daily and /stats/monthly with include_today: today's row (UTC) from the live exact
// counters, `final: false`, beside the days the job wrote (`final: true`); for a project and for
// an org; reading it closes nothing, so the job later writes the whole day. Driven with a
// controlled clock, as the jobs' tests are.
import { describe, expect, it } from "vitest";
import { CRON } from "../../src/jobs/schedule";
import { setClock } from "../support/clock";
import { runJobs } from "../support/jobs";
import { settle } from "../support/settle";
import { call, ingest, line, newDevice, newProject, tenant } from "./helpers";

const DAY_MS = 86_400_000;
const day = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10);
const at = (d: string, time: string) => `${d}T${time}Z`;
const lines = (n: number, level = "INFO") => Array.from({ length: n }, (_, i) => line(level, `line ${i}`));

async function get(token: string, path: string) {
  const res = await call("GET", path, { token });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json;
}

describe("stats with include_today", () => {
  it("add today's row from the live counters, not final, beside the written days; reading it closes nothing", async () => {
    const t = await tenant();
    const [d1, d2] = [day(2), day(3)];
    setClock(at(d1, "12:00:00"));
    await ingest(t.deviceKey, { logs: [...lines(5), ...lines(2, "ERROR")] });
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: {} });
    await settle(t.deviceId);
    const scope = `project_id=${t.projectId}`;

    // Without it, only finished days: none yet, on day one.
    expect((await get(t.viewerKey, `/stats/daily?${scope}`)).days).toEqual([]);
    const today = (await get(t.viewerKey, `/stats/daily?${scope}&include_today=1`)).days;
    expect(today).toEqual([
      expect.objectContaining({
        date: d1,
        project_id: t.projectId,
        logs: 7,
        error_lines: 2,
        heartbeats: 1,
        devices: 1,
        active_devices: 1,
        final: false,
      }),
    ]);
    expect(today[0].error_rate).toBeCloseTo(2 / 7);
    expect((await get(t.viewerKey, `/stats/daily?${scope}&include_today=true&from=${d1}&to=${d1}`)).days).toEqual(
      today,
    );
    // A range that ends before today has no today's row.
    expect((await get(t.viewerKey, `/stats/daily?${scope}&include_today=1&to=${day(1)}`)).days).toEqual([]);
    const refused = await call("GET", `/stats/daily?${scope}&include_today=yes`, { token: t.viewerKey });
    expect(refused.status).toBe(400);
    expect(refused.json.error.details).toEqual([expect.objectContaining({ location: "query", path: "include_today" })]);

    // Reading closed nothing: later lines of the day still count for it, and the job writes the whole day.
    await ingest(t.deviceKey, { logs: lines(3) });
    await settle(t.deviceId);
    expect((await get(t.viewerKey, `/stats/daily?${scope}&include_today=1`)).days[0]).toMatchObject({ logs: 10 });
    setClock(at(d2, "09:00:00"));
    await runJobs(CRON.daily, Date.parse(at(d2, "00:05:00")));
    await ingest(t.deviceKey, { logs: lines(1, "WARN") });
    await settle(t.deviceId);
    // (The job also wrote the empty days since the project was made, before d1.)
    const both = (await get(t.viewerKey, `/stats/daily?${scope}&include_today=1&from=${d1}`)).days;
    expect(both.map((d: any) => [d.date, d.logs, d.final])).toEqual([
      [d1, 10, true],
      [d2, 1, false],
    ]);
    // Without include_today the written day is as it always was: no final field.
    const plain = (await get(t.viewerKey, `/stats/daily?${scope}&from=${d1}`)).days;
    expect(plain).toEqual([expect.objectContaining({ date: d1, logs: 10 })]);
    expect(plain[0].final).toBeUndefined();
  });

  it("sum today's rows of an org's projects, and give the month so far", async () => {
    const t = await tenant();
    const other = await newProject(t.adminKey, "second");
    const device2 = await newDevice(t.adminKey, other);
    const d1 = day(2);
    setClock(at(d1, "10:00:00"));
    await ingest(t.deviceKey, { logs: lines(3) });
    await ingest(device2.deviceKey, { logs: [...lines(4), ...lines(1, "ERROR")] });
    await settle(t.deviceId);
    await settle(device2.deviceId);

    const [org] = (await get(t.viewerKey, `/stats/daily?org_id=${t.orgId}&include_today=1`)).days;
    expect(org).toMatchObject({ date: d1, logs: 8, error_lines: 1, devices: 2, active_devices: 2, final: false });
    expect(org.project_id).toBeUndefined();

    const year = d1.slice(0, 4);
    expect((await get(t.viewerKey, `/stats/monthly?org_id=${t.orgId}&year=${year}`)).months).toEqual([]);
    const months = (await get(t.viewerKey, `/stats/monthly?org_id=${t.orgId}&year=${year}&include_today=1`)).months;
    expect(months).toEqual([
      expect.objectContaining({ month: d1.slice(0, 7), logs: 8, error_lines: 1, exceeded_limits: [], final: false }),
    ]);
    const [mine] = (await get(t.viewerKey, `/stats/monthly?project_id=${other}&year=${year}&include_today=1`)).months;
    expect(mine).toMatchObject({ project_id: other, logs: 5, final: false });
    // Another year has no open month.
    expect(
      (await get(t.viewerKey, `/stats/monthly?org_id=${t.orgId}&year=${Number(year) - 1}&include_today=1`)).months,
    ).toEqual([]);
  });
});
