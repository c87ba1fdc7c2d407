// A date wherever a query asks for a time: `from=YYYY-MM-DD` is 00:00 UTC that day, `to=YYYY-MM-DD`
// takes the whole day in, whether the endpoint's `to` is exclusive (sessions, logs, metrics,
// timeseries) or inclusive (audit).
import { describe, expect, it } from "vitest";
import { call, ingest, line, tenant } from "./helpers";

const DAY_MS = 86_400_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe("a date for a time", () => {
  it("lists the sessions started on a day, from its first to its last millisecond", async () => {
    const t = await tenant();
    const today = dayOf(Date.now());
    const yesterday = dayOf(Date.now() - DAY_MS);
    const starts = {
      first: `${yesterday}T00:00:00.000Z`,
      last: `${yesterday}T23:59:59.999Z`,
      before: `${dayOf(Date.now() - 2 * DAY_MS)}T23:59:59.999Z`,
      after: `${today}T00:00:00.000Z`,
    };
    for (const [id, started_at] of Object.entries(starts))
      expect(
        (await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: id, started_at } })).status,
      ).toBe(201);
    const ids = async (query: string) => {
      const res = await call("GET", `/sessions?project_id=${t.projectId}&${query}`, { token: t.viewerKey });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      return res.json.sessions.map((s: any) => s.session_id).sort();
    };
    expect(await ids(`from=${yesterday}&to=${yesterday}`)).toEqual(["first", "last"]);
    expect(await ids(`from=${yesterday}`)).toEqual(["after", "first", "last"]);
    expect(await ids(`to=${yesterday}`)).toEqual(["before", "first", "last"]);
    // Without project_id too (the org's projects), and times as before.
    expect(
      (await call("GET", `/sessions?from=${yesterday}&to=${yesterday}`, { token: t.viewerKey })).json.sessions,
    ).toHaveLength(2);
    expect(await ids(`from=${starts.first}&to=${starts.last}`)).toEqual(["first"]);
  });

  it("searches the lines of a day, to its last microsecond, and counts their volume", async () => {
    const t = await tenant();
    const yesterday = dayOf(Date.now() - DAY_MS);
    const today = dayOf(Date.now());
    const at = (timestamp: string, message: string) => ({ ...line("INFO", message), timestamp });
    await ingest(t.deviceKey, {
      logs: [
        at(`${yesterday}T00:00:00.000000Z`, "first"),
        at(`${yesterday}T23:59:59.999999Z`, "last"),
        at(`${today}T00:00:00.000000Z`, "after"),
      ],
    });
    const res = await call("GET", `/logs?device_id=${t.deviceId}&from=${yesterday}&to=${yesterday}`, {
      token: t.viewerKey,
    });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.logs.map((l: any) => l.message).sort()).toEqual(["first", "last"]);
  });

  it("reads a device's metrics, the project's timeseries and the audit log by day", async () => {
    const t = await tenant();
    const today = dayOf(Date.now());
    const yesterday = dayOf(Date.now() - DAY_MS);
    await call("POST", "/fleet/heartbeat", { token: t.deviceKey, body: { metrics: { cpu_usage: 12 } } });
    await ingest(t.deviceKey, { logs: [line("ERROR", "now")] });

    const metrics = async (query: string) => {
      const res = await call("GET", `/fleet/devices/${t.deviceId}/metrics?${query}`, { token: t.viewerKey });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      return res.json.points.length;
    };
    expect(await metrics(`from=${today}&to=${today}`)).toBeGreaterThan(0);
    expect(await metrics(`from=${yesterday}&to=${yesterday}`)).toBe(0);

    const series = await call(
      "GET",
      `/stats/timeseries?project_id=${t.projectId}&metric=logs&interval=60m&from=${today}&to=${today}`,
      { token: t.viewerKey },
    );
    expect(series.status, JSON.stringify(series.json)).toBe(200);
    // Every hour of the day, the last one included.
    expect(series.json.points).toHaveLength(24);
    expect(series.json.points[0].t).toBe(`${today}T00:00:00.000Z`);
    expect(series.json.points.reduce((n: number, p: any) => n + p.value, 0)).toBe(1);

    const audit = async (query: string) => {
      const res = await call("GET", `/audit?${query}`, { token: t.adminKey });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      return res.json.events.length;
    };
    expect(await audit(`from=${today}&to=${today}`)).toBeGreaterThan(0);
    expect(await audit(`to=${yesterday}`)).toBe(0);
  });
});
