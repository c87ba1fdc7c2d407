// Metric queries and the endpoints newer Grafana versions call, shaped as Grafana sends them:
// - Explore's log volume (public/app/plugins/datasource/loki/datasource.ts, getSupplementaryQuery):
//   `sum by (level, detected_level) (count_over_time(<expr> | drop __error__[$__auto]))`, and the
//   older `sum by (level) (count_over_time(<expr>[$__interval]))`, through query_range with step
//   in ms (pkg/tsdb/loki/api.go makeDataRequest: `step=<n>ms`);
// - metric panels: query_range (matrix) and instant query (vector);
// - index/volume and index/volume_range (query, start, end, limit, step, targetLabels,
//   aggregateBy), status/buildinfo and detected_fields (query, start, end, line_limit, limit),
//   with the data source's headers.
import { describe, expect, it } from "vitest";
import { ingest, type LooseJson, line, loghubLines, newDevice, tenant } from "./helpers";
import { grafana, loki, ns, qs } from "./loki-client";

/** A minute boundary 30 to 31 minutes ago: lines are stamped at known offsets from it. */
const T0 = Math.floor((Date.now() - 30 * 60_000) / 60_000) * 60_000;
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** A label set as samples() keys it: JSON with the names sorted. */
const key = (labels: Record<string, string>) => JSON.stringify(Object.fromEntries(Object.entries(labels).sort()));

/** Samples of a matrix answer by series label set (key()), as [seconds since T0, value]. */
function samples(json: LooseJson) {
  expect(json.status, JSON.stringify(json).slice(0, 300)).toBe("success");
  expect(json.data.resultType).toBe("matrix");
  return Object.fromEntries(
    (json.data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((s) => [
      key(s.metric),
      s.values.map(([t, v]) => [Math.round(t - T0 / 1000), v]),
    ]),
  );
}

/** query_range over [T0, T0 + 5 min] with Grafana's ms step. */
const range = (expr: string, stepMs = 60_000) =>
  `/query_range?${qs({ direction: "backward", end: ns(T0 + 300_000), limit: 1000, query: expr, start: ns(T0), step: `${stepMs}ms` })}`;

/** Lines of two devices over T0's first three minutes. */
async function seeded() {
  const t = await tenant();
  const other = await newDevice(t.adminKey, t.projectId, "SN-M-OTHER", { device_type: "forklift" });
  const res = await ingest(t.deviceKey, {
    logs: [
      line("INFO", '{"status":200,"path":"/a","ms":12}', { timestamp: at(10), module: "http" }),
      line("ERROR", '{"status":503,"path":"/b","ms":900}', { timestamp: at(20), module: "http" }),
      line("ERROR", "motor stall", { timestamp: at(70), module: "drive" }),
      line("WARN", "level=warn temp=71.5 dur=1.5s", { timestamp: at(80), module: "drive" }),
      line("INFO", '{"status":201,"path":"/a","ms":30}', { timestamp: at(130), module: "http" }),
    ],
  });
  expect(res.json.accepted).toBe(5);
  await ingest(other.deviceKey, {
    logs: [
      line("ERROR", "disk full", { timestamp: at(15), module: "storage" }),
      line("INFO", "disk ok", { timestamp: at(75), module: "storage" }),
    ],
  });
  return { ...t, other };
}

describe("Loki metric queries: Grafana's log volume", () => {
  it("answers Explore's volume query by level and detected level, a point per step where lines are", async () => {
    const t = await seeded();
    const h = grafana(t.viewerKey, t.projectId);
    // Windows (t - 60 s, t]: the lines at 10, 15, 20 s fall in the step at 60 s, and so on.
    const modern = await loki(
      range(`sum by (level, detected_level) (count_over_time({device_id=~".+"} | drop __error__[1m]))`),
      h,
    );
    expect(modern.status).toBe(200);
    expect(samples(modern.json)).toEqual({
      [key({ level: "ERROR", detected_level: "error" })]: [
        [60, "2"],
        [120, "1"],
      ],
      [key({ level: "INFO", detected_level: "info" })]: [
        [60, "1"],
        [120, "1"],
        [180, "1"],
      ],
      [key({ level: "WARN", detected_level: "warn" })]: [[120, "1"]],
    });
    const classic = await loki(range(`sum by (level) (count_over_time({dsn="${t.dsn}"}[1m]))`), h);
    expect(samples(classic.json)).toEqual({
      [key({ level: "ERROR" })]: [
        [60, "1"],
        [120, "1"],
      ],
      [key({ level: "INFO" })]: [
        [60, "1"],
        [180, "1"],
      ],
      [key({ level: "WARN" })]: [[120, "1"]],
    });
  });

  it("a bare count_over_time answers one series per stream, with every label", async () => {
    const t = await seeded();
    const res = await loki(
      range(`count_over_time({device_id="${t.other.deviceId}"}[5m])`, 300_000),
      grafana(t.viewerKey, t.projectId),
    );
    const result = res.json.data.result as { metric: Record<string, string>; values: [number, string][] }[];
    expect(result.map((s) => s.metric)).toEqual([
      {
        detected_level: "error",
        device_id: t.other.deviceId,
        device_type: "forklift",
        dsn: "SN-M-OTHER",
        environment: "production",
        level: "ERROR",
        module: "storage",
      },
      {
        detected_level: "info",
        device_id: t.other.deviceId,
        device_type: "forklift",
        dsn: "SN-M-OTHER",
        environment: "production",
        level: "INFO",
        module: "storage",
      },
    ]);
    expect(result.map((s) => s.values)).toEqual([[[T0 / 1000 + 300, "1"]], [[T0 / 1000 + 300, "1"]]]);
  });

  it("rate, bytes_over_time, topk and without, over the shards' counts", async () => {
    const t = await seeded();
    const h = grafana(t.viewerKey, t.projectId);
    expect(samples((await loki(range('sum(rate({module="storage"}[1m]))'), h)).json)).toEqual({
      "{}": [
        [60, String(1 / 60)],
        [120, String(1 / 60)],
      ],
    });
    expect(
      samples((await loki(range('sum by (module) (bytes_over_time({module=~"drive|storage"}[5m]))', 300_000), h)).json),
    ).toEqual({
      [key({ module: "drive" })]: [[300, String("motor stall".length + "level=warn temp=71.5 dur=1.5s".length)]],
      [key({ module: "storage" })]: [[300, String("disk full".length + "disk ok".length)]],
    });
    expect(samples((await loki(range("topk(1, sum by (module) (count_over_time({}[5m])))", 300_000), h)).json)).toEqual(
      {
        [key({ module: "http" })]: [[300, "3"]],
      },
    );
    expect(
      Object.keys(
        samples(
          (await loki(range('sum without (level, detected_level) (count_over_time({module="http"}[5m]))', 300_000), h))
            .json,
        ),
      ),
    ).toEqual([
      key({ device_id: t.deviceId, device_type: "amr", dsn: t.dsn, environment: "production", module: "http" }),
    ]);
  });

  it("reads the lines when a filter or parser needs them: | json with a label filter, |= and | logfmt", async () => {
    const t = await seeded();
    const h = grafana(t.viewerKey, t.projectId);
    expect(
      samples(
        (await loki(range('sum by (path) (count_over_time({module="http"} | json | status >= 500 [5m]))', 300_000), h))
          .json,
      ),
    ).toEqual({
      [key({ path: "/b" })]: [[300, "1"]],
    });
    expect(samples((await loki(range('sum(count_over_time({} |= "disk" [1m]))'), h)).json)).toEqual({
      "{}": [
        [60, "1"],
        [120, "1"],
      ],
    });
    expect(
      samples((await loki(range("count(count_over_time({} | logfmt | dur > 1s [5m]))", 300_000), h)).json),
    ).toEqual({
      "{}": [[300, "1"]],
    });
  });

  it("an instant metric query answers a vector at its time", async () => {
    const t = await seeded();
    const res = await loki(
      `/query?${qs({ direction: "backward", limit: 100, query: "sum by (module) (count_over_time({}[5m]))", time: ns(T0 + 300_000) })}`,
      grafana(t.viewerKey, t.projectId),
    );
    expect(res.status).toBe(200);
    expect(res.json.data.resultType).toBe("vector");
    expect(
      Object.fromEntries(res.json.data.result.map((s: LooseJson) => [s.metric.module, [s.value[0], s.value[1]]])),
    ).toEqual({ drive: [T0 / 1000 + 300, "2"], http: [T0 / 1000 + 300, "3"], storage: [T0 / 1000 + 300, "2"] });
  });

  it("takes Loki's default step when none is sent, and refuses more than 11,000 points", async () => {
    const t = await seeded();
    const h = grafana(t.viewerKey, t.projectId);
    // 5 minutes / 250 is under a second: Loki's default is then 1 s, 301 points at most.
    const res = await loki(
      `/query_range?${qs({ end: ns(T0 + 300_000), query: "sum(count_over_time({}[1s]))", start: ns(T0) })}`,
      h,
    );
    expect(res.status).toBe(200);
    expect(res.json.data.result[0].values.map((v: [number, string]) => v[0] - T0 / 1000)).toEqual([
      10, 15, 20, 70, 75, 80, 130,
    ]);
    const tooMany = await loki(
      `/query_range?${qs({ end: ns(T0 + 300_000), query: "sum(count_over_time({}[1s]))", start: ns(T0), step: "10ms" })}`,
      h,
    );
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.message).toContain("maximum resolution of 11000 points");
    const badStep = `/query_range?${qs({ end: ns(T0 + 300_000), query: "sum(count_over_time({}[1m]))", start: ns(T0), step: "soon" })}`;
    expect((await loki(badStep, h)).json.message).toContain("step: a duration");
    // A log query ignores its step, whatever it holds.
    expect((await loki(badStep.replace(encodeURIComponent("sum(count_over_time({}[1m]))"), "%7B%7D"), h)).status).toBe(
      200,
    );
  });
});

describe("Loki metric queries: cost", () => {
  it("answers Explore's volume query over an hour of 4,000 Loghub lines from the shards' counts, every line counted", async () => {
    const t = await tenant();
    const endUs = Date.now() * 1000 - 1_000_000;
    for (const dataset of ["HDFS", "Linux"]) {
      const lines = loghubLines(dataset, 2000, { endUs, stepUs: 1_800_000, offset: dataset === "Linux" ? 0 : 1 });
      for (let i = 0; i < lines.length; i += 1000)
        expect((await ingest(t.deviceKey, { logs: lines.slice(i, i + 1000) })).json.accepted).toBe(1000);
    }
    const end = Math.floor(endUs / 1000) + 1000;
    const query = `/query_range?${qs({
      direction: "backward",
      end: ns(end),
      limit: 1000,
      query: `sum by (level, detected_level) (count_over_time({device_id="${t.deviceId}"} | drop __error__[1m]))`,
      start: ns(end - 3_600_000),
      step: "60000ms",
    })}`;
    const started = Date.now();
    const res = await loki(query, grafana(t.viewerKey, t.projectId));
    const ms = Date.now() - started;
    expect(res.status).toBe(200);
    const total = (res.json.data.result as LooseJson[]).reduce(
      (sum, s) => sum + s.values.reduce((n: number, v: [number, string]) => n + Number(v[1]), 0),
      0,
    );
    expect(total).toBe(4000);
    expect(res.json.warnings).toBeUndefined();
    // The same with a line filter reads each line's text instead of the counts.
    const filtered = query.replace(encodeURIComponent(" | drop __error__"), encodeURIComponent(' |= "e"'));
    const scanStarted = Date.now();
    const scanned = await loki(filtered, grafana(t.viewerKey, t.projectId));
    const scanMs = Date.now() - scanStarted;
    expect(scanned.status).toBe(200);
    console.log(`Explore volume query over 4,000 lines, 61 steps: ${ms} ms from counts, ${scanMs} ms with |= "e"`);
    expect(ms).toBeLessThan(5000);
  });
});

describe("Loki metric queries: bounds", () => {
  it("refuses more than 500 series, and more than a million points to evaluate, naming the bound", async () => {
    const t = await tenant();
    const logs = Array.from({ length: 501 }, (_, i) =>
      line("INFO", `tick ${i}`, { timestamp: at(30), module: `m${i}` }),
    );
    expect((await ingest(t.deviceKey, { logs })).json.accepted).toBe(501);
    const h = grafana(t.viewerKey, t.projectId);
    const series = await loki(range("count_over_time({}[5m])", 300_000), h);
    expect(series.status).toBe(400);
    expect(series.json.message).toContain("maximum of series (500) reached for a single query");
    // 501 series at 10,801 steps of a second.
    const points = await loki(
      `/query_range?${qs({ end: ns(T0 + 10_800_000), query: "sum by (module) (count_over_time({}[1s]))", start: ns(T0), step: "1s" })}`,
      h,
    );
    expect(points.status).toBe(400);
    expect(points.json.message).toContain("more than 1000000 points");
    expect((await loki(range("sum(count_over_time({}[5m]))", 300_000), h)).json.data.result[0].values).toEqual([
      [T0 / 1000 + 300, "501"],
    ]);
  });
});

describe("Loki API: the endpoints newer Grafana versions call", () => {
  const window = () => ({ end: ns(T0 + 300_000), start: ns(T0) });

  it("index/volume: bytes per series of the selector's labels, the largest first, or per targetLabels, or per label name", async () => {
    const t = await seeded();
    const h = grafana(t.viewerKey, t.projectId);
    const byModule = await loki(`/index/volume?${qs({ ...window(), limit: 100, query: '{module=~".+"}' })}`, h);
    expect(byModule.status).toBe(200);
    expect(byModule.json.data.resultType).toBe("vector");
    const http = [
      '{"status":200,"path":"/a","ms":12}',
      '{"status":503,"path":"/b","ms":900}',
      '{"status":201,"path":"/a","ms":30}',
    ];
    expect(byModule.json.data.result.map((r: LooseJson) => [r.metric, r.value[1]])).toEqual([
      [{ module: "http" }, String(http.join("").length)],
      [{ module: "drive" }, String("motor stall".length + "level=warn temp=71.5 dur=1.5s".length)],
      [{ module: "storage" }, String("disk fulldisk ok".length)],
    ]);
    const byType = await loki(
      `/index/volume?${qs({ ...window(), limit: 1, query: '{module=~".+"}', targetLabels: "device_type" })}`,
      h,
    );
    expect(byType.json.data.result.map((r: LooseJson) => r.metric)).toEqual([{ device_type: "amr" }]);
    const labels = await loki(
      `/index/volume?${qs({ ...window(), aggregateBy: "labels", query: '{module=~".+", level=~".+"}' })}`,
      h,
    );
    expect(labels.json.data.result.map((r: LooseJson) => JSON.stringify(r.metric)).sort()).toEqual([
      '{"level":""}',
      '{"module":""}',
    ]);
  });

  it("index/volume_range: a matrix with a point per step", async () => {
    const t = await seeded();
    const res = await loki(
      `/index/volume_range?${qs({ ...window(), limit: 100, query: '{module="storage"}', step: "60" })}`,
      grafana(t.viewerKey, t.projectId),
    );
    expect(res.status).toBe(200);
    expect(samples(res.json)).toEqual({
      [key({ module: "storage" })]: [
        [60, String("disk full".length)],
        [120, String("disk ok".length)],
      ],
    });
  });

  it("status/buildinfo: a Loki 3 version, with or without the data source's headers", async () => {
    const t = await tenant();
    for (const headers of [grafana(t.viewerKey, t.projectId), {}]) {
      const res = await loki("/status/buildinfo", headers);
      expect(res.status).toBe(200);
      expect(res.json.version).toMatch(/^3\.\d+\.\d+$/);
    }
  });

  it("detected_fields: what json and logfmt find in the newest lines, with type, cardinality and parser", async () => {
    const t = await seeded();
    const res = await loki(
      `/detected_fields?${qs({ ...window(), limit: 1000, line_limit: 1000, query: `{device_id="${t.deviceId}"}` })}`,
      grafana(t.viewerKey, t.projectId),
    );
    expect(res.status).toBe(200);
    const fields = Object.fromEntries(res.json.fields.map((f: LooseJson) => [f.label, f]));
    expect(res.json.limit).toBe(1000);
    expect(fields.status).toEqual({
      label: "status",
      type: "int",
      cardinality: 3,
      parsers: ["json"],
      jsonPath: ["status"],
    });
    expect(fields.path).toMatchObject({ type: "string", cardinality: 2, parsers: ["json"] });
    expect(fields.temp).toMatchObject({ type: "float", cardinality: 1, parsers: ["logfmt"] });
    expect(fields.dur).toMatchObject({ type: "duration", parsers: ["logfmt"] });
    expect(fields.module).toMatchObject({ cardinality: 2, parsers: null });
    expect(fields.detected_level).toMatchObject({ cardinality: 3, parsers: null });
  });

  it("log queries run the pipeline: | json, label filters, | line_format, extracted labels in the stream", async () => {
    const t = await seeded();
    const res = await loki(
      `/query_range?${qs({ ...window(), direction: "forward", limit: 100, query: '{module="http"} | json | status < 500 | line_format "{{.path}} took {{.ms}} ms"' })}`,
      grafana(t.viewerKey, t.projectId),
    );
    expect(res.status).toBe(200);
    const got = (res.json.data.result as LooseJson[]).flatMap((s) =>
      s.values.map((v: string[]) => [s.stream.status, v[1]]),
    );
    expect(got).toEqual([
      ["200", "/a took 12 ms"],
      ["201", "/a took 30 ms"],
    ]);
  });
});
