// The Loki endpoints newer Grafana versions and Logs Drilldown call beside the query API, shaped
// as they send them, with the data source's headers (X-Scope-OrgID and the key):
// - index/stats?query=<selector>&start&end (ns): the query editor's size estimate
//   (public/app/plugins/datasource/loki/datasource.ts, getQueryStats: one call per stream
//   selector of the query, `{ showErrorAlert: false }`, summing streams, chunks, bytes, entries);
// - detected_labels?start&end, and with `query` when the selector is not `{}`
//   (LanguageProvider.ts: the probe in start(), fetchDetectedLabels; Logs Drilldown);
// - detected_field/<name>/values?start&end&limit=1000, and `query` unless `{}`
//   (LanguageProvider.ts, fetchDetectedLabelValues);
// - patterns?query&start&end (Logs Drilldown's patterns tab, getResource('patterns')).
import { describe, expect, it } from "vitest";
import { ingest, type LooseJson, line, loghubLines, newDevice, tenant } from "./helpers";
import { grafana, loki, ns, qs } from "./loki-client";

/** A minute boundary 30 to 31 minutes ago: lines are stamped at known offsets from it. */
const T0 = Math.floor((Date.now() - 30 * 60_000) / 60_000) * 60_000;
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
/** Grafana's time range over the seeded lines, in ns. */
const window = () => ({ end: ns(T0 + 300_000), start: ns(T0) });

const SESSION_A = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b";
const SESSION_B = "0b2d4f6a-8c0e-4a1b-9d3f-5e7a9c1b3d5f";
const bytes = (...lines: string[]) => lines.reduce((n, l) => n + new TextEncoder().encode(l).length, 0);

/** Two devices of different types and environments; the first's lines in two sessions named by UUIDs. */
async function seeded() {
  const t = await tenant();
  const other = await newDevice(t.adminKey, t.projectId, "SN-I-OTHER", {
    device_type: "forklift",
    environment: "testing",
  });
  // A session is named per batch.
  const http = await ingest(t.deviceKey, {
    session_id: SESSION_A,
    logs: [
      line("INFO", '{"status":200,"path":"/a"}', { timestamp: at(10), module: "http" }),
      line("ERROR", '{"status":503,"path":"/b"}', { timestamp: at(20), module: "http" }),
      line("INFO", '{"status":201,"path":"/a"}', { timestamp: at(130), module: "http" }),
    ],
  });
  const drive = await ingest(t.deviceKey, {
    session_id: SESSION_B,
    logs: [
      line("ERROR", "motor stall", { timestamp: at(70), module: "drive" }),
      line("WARN", "level=warn temp=71.5", { timestamp: at(80), module: "drive" }),
    ],
  });
  expect([http.json.accepted, drive.json.accepted]).toEqual([3, 2]);
  await ingest(other.deviceKey, {
    logs: [
      line("ERROR", "disk full", { timestamp: at(15), module: "storage" }),
      line("INFO", "disk ok", { timestamp: at(75), module: "storage" }),
    ],
  });
  return { ...t, other, h: grafana(t.viewerKey, t.projectId) };
}

describe("Loki index/stats: the query editor's size estimate", () => {
  it("answers streams, entries and bytes of the selector in the range, bare, as Loki", async () => {
    const t = await seeded();
    const all = await loki(`/index/stats?${qs({ ...window(), query: '{module=~".+"}' })}`, t.h);
    expect(all.status).toBe(200);
    // A stream per (device, session, module, level): http INFO and ERROR, drive ERROR and WARN, storage ERROR and INFO.
    expect(all.json).toEqual({
      streams: 6,
      chunks: 0,
      entries: 7,
      bytes: bytes(
        '{"status":200,"path":"/a"}',
        '{"status":503,"path":"/b"}',
        "motor stall",
        "level=warn temp=71.5",
        '{"status":201,"path":"/a"}',
        "disk full",
        "disk ok",
      ),
    });
    const http = await loki(`/index/stats?${qs({ ...window(), query: '{module="http", level!="ERROR"}' })}`, t.h);
    expect(http.json).toEqual({
      streams: 1,
      chunks: 0,
      entries: 2,
      bytes: bytes('{"status":200,"path":"/a"}', '{"status":201,"path":"/a"}'),
    });
    // A module regex is applied to the shards' groups here.
    const regex = await loki(`/index/stats?${qs({ ...window(), query: '{module=~"dr.*|sto.*"}' })}`, t.h);
    expect(regex.json).toMatchObject({ streams: 4, entries: 4 });
    const byType = await loki(`/index/stats?${qs({ ...window(), query: '{device_type="forklift"}' })}`, t.h);
    expect(byType.json).toEqual({ streams: 2, chunks: 0, entries: 2, bytes: bytes("disk full", "disk ok") });
  });

  it("answers zeros for what matches nothing, and refuses what is no selector", async () => {
    const t = await seeded();
    const none = await loki(`/index/stats?${qs({ ...window(), query: '{module="nope"}' })}`, t.h);
    expect(none.json).toEqual({ streams: 0, chunks: 0, entries: 0, bytes: 0 });
    const early = await loki(
      `/index/stats?${qs({ end: ns(T0 - 60_000), start: ns(T0 - 120_000), query: '{module=~".+"}' })}`,
      t.h,
    );
    expect(early.json).toEqual({ streams: 0, chunks: 0, entries: 0, bytes: 0 });
    const filtered = await loki(`/index/stats?${qs({ ...window(), query: '{module="http"} |= "a"' })}`, t.h);
    expect(filtered.status).toBe(400);
    expect(filtered.json.message).toContain("stream selector only");
    expect((await loki(`/index/stats?${qs(window())}`, t.h)).status).toBe(400);
    expect(
      (await loki(`/index/stats?${qs({ ...window(), query: "{}" })}`, { "x-scope-orgid": t.projectId })).status,
    ).toBe(401);
  });
});

describe("Loki detected_labels: the label list of newer Grafana and Logs Drilldown", () => {
  it("answers each label with its number of values, leaving out labels whose values are all ids", async () => {
    const t = await seeded();
    // Grafana's probe sends the range only.
    const probe = await loki(`/detected_labels?${qs(window())}`, t.h);
    expect(probe.status).toBe(200);
    // session_id's values are all UUIDs: Loki leaves such a label out.
    expect(probe.json).toEqual({
      detectedLabels: [
        { label: "device_id", cardinality: 2 },
        { label: "device_type", cardinality: 2 },
        { label: "dsn", cardinality: 2 },
        { label: "environment", cardinality: 2 },
        { label: "level", cardinality: 3 },
        { label: "module", cardinality: 3 },
      ],
    });
    const storage = await loki(`/detected_labels?${qs({ ...window(), query: '{module="storage"}' })}`, t.h);
    expect(storage.json.detectedLabels).toEqual([
      { label: "device_id", cardinality: 1 },
      { label: "device_type", cardinality: 1 },
      { label: "dsn", cardinality: 1 },
      { label: "environment", cardinality: 1 },
      { label: "level", cardinality: 2 },
      { label: "module", cardinality: 1 },
    ]);
  });

  it("lists session_id when its values are names, and nothing for a range without lines", async () => {
    const t = await tenant();
    for (const [session, second] of [
      ["shift-1", 10],
      ["shift-2", 20],
    ] as const)
      await ingest(t.deviceKey, { session_id: session, logs: [line("INFO", session, { timestamp: at(second) })] });
    const h = grafana(t.viewerKey, t.projectId);
    const res = await loki(`/detected_labels?${qs({ ...window(), query: "{}" })}`, h);
    expect(res.json.detectedLabels).toContainEqual({ label: "session_id", cardinality: 2 });
    const empty = await loki(`/detected_labels?${qs({ end: ns(T0 - 60_000), start: ns(T0 - 120_000) })}`, h);
    expect(empty.json).toEqual({ detectedLabels: [] });
    const bad = await loki(`/detected_labels?${qs({ ...window(), query: '{module="a"' })}`, h);
    expect(bad.status).toBe(400);
  });
});

describe("Loki detected_field/<name>/values: a field's values for Grafana's filters", () => {
  it("answers the values json or logfmt found in the newest lines, sorted, with the limit", async () => {
    const t = await seeded();
    const path = (name: string, extra: Record<string, string | number> = {}) =>
      `/detected_field/${encodeURIComponent(name)}/values?${qs({ ...window(), limit: 1000, ...extra })}`;
    const status = await loki(path("status", { query: `{device_id="${t.deviceId}"}` }), t.h);
    expect(status.status).toBe(200);
    expect(status.json).toEqual({ values: ["200", "201", "503"], limit: 1000 });
    // Without `query` (Grafana's `{}`): every line of the project.
    expect((await loki(path("detected_level"), t.h)).json).toEqual({
      values: ["error", "info", "warn"],
      limit: 1000,
    });
    expect((await loki(path("temp"), t.h)).json.values).toEqual(["71.5"]);
    expect((await loki(path("status", { limit: 2 }), t.h)).json).toEqual({ values: ["200", "201"], limit: 2 });
    // A field no line has: no values, and, as Loki, no limit.
    expect((await loki(path("nope"), t.h)).json).toEqual({ values: [] });
    expect((await loki(path("status", { query: '{module="http"} | json' }), t.h)).status).toBe(200);
    expect((await loki(path("status", { limit: 0 }), t.h)).status).toBe(400);
  });
});

describe("Loki patterns: answered as Loki without pattern ingestion", () => {
  it("answers success with no pattern, so Logs Drilldown shows none rather than an error", async () => {
    const t = await seeded();
    const res = await loki(`/patterns?${qs({ ...window(), query: '{module="http"}' })}`, t.h);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: "success", data: [] });
    const iso = await loki(
      `/patterns?${qs({ end: new Date(T0 + 300_000).toISOString(), query: "{}", start: new Date(T0).toISOString() })}`,
      t.h,
    );
    expect(iso.json).toEqual({ status: "success", data: [] });
    expect((await loki(`/patterns?${qs({ ...window(), query: "{module=" })}`, t.h)).status).toBe(400);
    expect((await loki(`/patterns?${qs(window())}`, { "x-scope-orgid": t.projectId })).status).toBe(401);
  });
});

describe("Loki index/stats and detected_labels: cost", () => {
  it("answer over an hour of 4,000 Loghub lines from the shards' counts, every line counted", async () => {
    const t = await tenant();
    const endUs = Date.now() * 1000 - 1_000_000;
    let messageBytes = 0;
    for (const dataset of ["HDFS", "Linux"]) {
      const lines = loghubLines(dataset, 2000, { endUs, stepUs: 1_800_000, offset: dataset === "Linux" ? 0 : 1 });
      messageBytes += bytes(...lines.map((l) => l.message));
      for (let i = 0; i < lines.length; i += 1000)
        expect((await ingest(t.deviceKey, { logs: lines.slice(i, i + 1000) })).json.accepted).toBe(1000);
    }
    const end = Math.floor(endUs / 1000) + 1000;
    const range = { end: ns(end), start: ns(end - 3_600_000) };
    const h = grafana(t.viewerKey, t.projectId);
    let started = Date.now();
    const stats = await loki(`/index/stats?${qs({ ...range, query: `{device_id="${t.deviceId}"}` })}`, h);
    const statsMs = Date.now() - started;
    expect(stats.json).toMatchObject({ entries: 4000, bytes: messageBytes });
    started = Date.now();
    const labels = await loki(`/detected_labels?${qs(range)}`, h);
    const labelsMs = Date.now() - started;
    expect(labels.json.detectedLabels.map((l: LooseJson) => l.label)).toContain("module");
    console.log(`over 4,000 lines: index/stats ${statsMs} ms, detected_labels ${labelsMs} ms`);
    expect(statsMs + labelsMs).toBeLessThan(5000);
  });
});
