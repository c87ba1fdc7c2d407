// The Loki-compatible read API, called the way Grafana's Loki data source calls it:
// - queries from its backend (pkg/tsdb/loki/api.go makeDataRequest): GET query_range with
//   direction, limit, query, start and end in ns and step in ms; instant GET query with time;
// - "Save & test" (pkg/tsdb/loki/healthcheck.go): the instant query vector(1)+vector(1) at
//   time 4 s (ns), expecting one sample with the value 2;
// - the label browser: GET labels and label/<name>/values with start and end in ns;
// - live tail (public/app/plugins/datasource/loki, createLiveTarget): a WebSocket to
//   tail?query=<expr>, frames {streams:[{stream, values:[[ns, line]]}], dropped_entries};
// each with the data source's custom headers (Authorization, X-Scope-OrgID).
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, ingest, type LooseJson, line, newDevice, newKey, tenant } from "./helpers";
import { grafana, LOKI_BASE, loki, ns, qs } from "./loki-client";

/** A query_range as Grafana's backend builds it, over the last `minutes`. */
const rangeQuery = (expr: string, opts: { limit?: number; direction?: string; minutes?: number } = {}) => {
  const end = Date.now() + 1000;
  return `/query_range?${qs({
    direction: opts.direction ?? "backward",
    end: ns(end),
    limit: opts.limit ?? 1000,
    query: expr,
    start: ns(end - (opts.minutes ?? 60) * 60_000),
    step: "2000ms",
  })}`;
};

const lines = (json: LooseJson) =>
  (json.data.result as { stream: Record<string, string>; values: [string, string][] }[])
    .flatMap((s) => s.values.map(([ts, l]) => ({ ts, line: l, stream: s.stream })))
    .sort((a, b) => (BigInt(b.ts) > BigInt(a.ts) ? 1 : -1));

/** Lines stamped 1 ms apart ending now, so their order is known. */
const stamped = (specs: [string, string, string?][]) => {
  const end = Date.now() - 1000;
  return specs.map(([level, message, module], i) =>
    line(level, message, {
      timestamp: new Date(end - (specs.length - i) * 10).toISOString(),
      module: module ?? "drive",
    }),
  );
};

describe("Loki API: Grafana's requests", () => {
  it("answers Save & test (vector(1)+vector(1) at time 4 s) with the sample 2", async () => {
    const t = await tenant();
    const res = await loki(
      `/query?${qs({ direction: "backward", query: "vector(1)+vector(1)", time: "4000000000" })}`,
      grafana(t.viewerKey, t.projectId),
    );
    expect(res.status).toBe(200);
    expect(res.json.status).toBe("success");
    expect(res.json.data.resultType).toBe("vector");
    expect(res.json.data.result).toHaveLength(1);
    expect(res.json.data.result[0].metric).toEqual({});
    expect(res.json.data.result[0].value[1]).toBe("2");
    expect(typeof res.json.data.result[0].value[0]).toBe("number");
  });

  it("query_range: streams labelled from the line and the registry, ns timestamps, newest first, limit", async () => {
    const t = await tenant();
    const res = await ingest(t.deviceKey, {
      session_id: "run-7",
      logs: stamped([
        ["INFO", "boot ok"],
        ["WARN", "battery low", "power"],
        ["ERROR", "disk failure on /dev/sda"],
        ["ERROR", "disk check ok"],
      ]),
    });
    expect(res.json.accepted).toBe(4);

    const all = await loki(rangeQuery(`{device_id="${t.deviceId}"}`), grafana(t.viewerKey, t.projectId));
    expect(all.status).toBe(200);
    expect(all.type).toContain("application/json");
    expect(all.json.status).toBe("success");
    expect(all.json.data.resultType).toBe("streams");
    const got = lines(all.json);
    expect(got.map((l) => l.line)).toEqual(["disk check ok", "disk failure on /dev/sda", "battery low", "boot ok"]);
    expect(got[0]!.ts).toMatch(/^\d{19}$/);
    expect(got.find((l) => l.line === "battery low")!.stream).toEqual({
      device_id: t.deviceId,
      dsn: t.dsn,
      device_type: "amr",
      environment: "production",
      session_id: "run-7",
      module: "power",
      level: "WARN",
    });
    // One stream per label set; values inside a stream in the direction asked.
    const errors = all.json.data.result.find((s: LooseJson) => s.stream.level === "ERROR");
    expect(errors.values.map((v: string[]) => v[1])).toEqual(["disk check ok", "disk failure on /dev/sda"]);

    const forward = await loki(
      rangeQuery(`{dsn="${t.dsn}"}`, { direction: "forward", limit: 2 }),
      grafana(t.viewerKey, t.projectId),
    );
    expect(forward.json.data.result.flatMap((s: LooseJson) => s.values.map((v: string[]) => v[1])).sort()).toEqual([
      "battery low",
      "boot ok",
    ]);
  });

  it("query_range: regex and negative matchers, line filters, and nothing from another project", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    await ingest(t.deviceKey, {
      logs: stamped([
        ["ERROR", "Disk failure"],
        ["WARN", "disk slow"],
        ["ERROR", "disk failure, retry ok"],
        ["INFO", "disk fine"],
      ]),
    });
    await ingest(other.deviceKey, { logs: stamped([["ERROR", "disk failure elsewhere", "storage"]]) });
    const stranger = await tenant();
    await ingest(stranger.deviceKey, { logs: stamped([["ERROR", "disk failure of a stranger"]]) });
    const h = grafana(t.viewerKey, t.projectId);
    const of = async (expr: string) => {
      const res = await loki(rangeQuery(expr), h);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      return lines(res.json).map((l) => l.line);
    };

    expect(await of('{level=~"ERROR|WARN"} |= "disk"')).toEqual([
      "disk failure elsewhere",
      "disk failure, retry ok",
      "disk slow",
    ]);
    expect(await of('{level="error"} |~ "(?i)disk failure" != "retry"')).toEqual([
      "disk failure elsewhere",
      "Disk failure",
    ]);
    expect(await of(`{dsn!="${other.dsn}", module=~"dr.*"} !~ "fine|slow"`)).toEqual([
      "disk failure, retry ok",
      "Disk failure",
    ]);
    expect(await of(`{device_id=~"${other.deviceId}|${stranger.deviceId}"}`)).toEqual(["disk failure elsewhere"]);
    expect(await of('{module!="drive", level!~"DEBUG|INFO"}')).toEqual(["disk failure elsewhere"]);
    expect(await of(`{device_id="${stranger.deviceId}"}`)).toEqual([]);
    expect(await of('{environment="testing"}')).toEqual([]);
  });

  it("labels and label values, as the label browser asks for them", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId, "SN-OTHER", {
      device_type: "forklift",
      environment: "testing",
    });
    await ingest(t.deviceKey, {
      session_id: "shift-1",
      logs: stamped([
        ["INFO", "a", "nav"],
        ["ERROR", "b", "lidar"],
      ]),
    });
    await ingest(other.deviceKey, { logs: stamped([["INFO", "c", "nav"]]) });
    const h = grafana(t.viewerKey, t.projectId);
    const end = Date.now() + 1000;
    const range = qs({ end: ns(end), start: ns(end - 3_600_000) });

    const labels = await loki(`/labels?${range}`, h);
    expect(labels.status).toBe(200);
    expect(labels.json).toEqual({
      status: "success",
      data: ["device_id", "device_type", "dsn", "environment", "level", "module", "session_id"],
    });

    const values = async (name: string, extra = "") => (await loki(`/label/${name}/values?${range}${extra}`, h)).json;
    expect(await values("level")).toEqual({ status: "success", data: ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"] });
    expect((await values("dsn")).data).toEqual([t.dsn, "SN-OTHER"].sort());
    expect((await values("device_type")).data).toEqual(["amr", "forklift"]);
    expect((await values("device_id")).data).toEqual([t.deviceId, other.deviceId].sort());
    expect((await values("dsn", `&query=${encodeURIComponent('{environment="testing"}')}`)).data).toEqual(["SN-OTHER"]);
    expect((await values("session_id")).data).toEqual(["shift-1"]);
    expect((await values("module")).data).toEqual(["lidar", "nav"]);
    expect((await values("nope")).data).toEqual([]);

    const series = await loki(`/series?${range}&${qs({ "match[]": '{module="nav"}' })}`, h);
    expect(series.status).toBe(200);
    expect(series.json.data.map((s: LooseJson) => s.dsn).sort()).toEqual([t.dsn, "SN-OTHER"].sort());
  });

  it("an instant log query reads the hour before its time", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { logs: stamped([["WARN", "now"]]) });
    const res = await loki(
      `/query?${qs({ direction: "backward", limit: 100, query: '{level="WARN"}', time: ns(Date.now() + 1000) })}`,
      grafana(t.viewerKey, t.projectId),
    );
    expect(res.status).toBe(200);
    expect(res.json.data.resultType).toBe("streams");
    expect(lines(res.json).map((l) => l.line)).toEqual(["now"]);
  });
});

describe("Loki API: who may read", () => {
  it("takes an org key as Bearer or as the Basic password; the project is X-Scope-OrgID, of the key's org only", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, { logs: stamped([["INFO", "mine"]]) });
    const expr = `{device_id="${t.deviceId}"}`;

    const basic = `Basic ${btoa(`grafana:${t.viewerKey}`)}`;
    const viaBasic = await loki(rangeQuery(expr), { authorization: basic, "x-scope-orgid": t.projectId });
    expect(viaBasic.status).toBe(200);
    expect(lines(viaBasic.json).map((l) => l.line)).toEqual(["mine"]);

    const stranger = await tenant();
    const cross = await loki(rangeQuery(expr), grafana(stranger.viewerKey, t.projectId));
    expect(cross.status).toBe(404);
    expect(cross.json.message).toContain("project not found");
    expect(cross.json.error.code).toBe("not_found");
    // Through its own project, the stranger's key finds no line of another org's device either.
    const ownProject = await loki(rangeQuery(expr), grafana(stranger.viewerKey, stranger.projectId));
    expect(ownProject.status).toBe(200);
    expect(ownProject.json.data.result).toEqual([]);

    expect((await loki(rangeQuery(expr), { authorization: `Bearer ${t.viewerKey}` })).json.message).toContain(
      "X-Scope-OrgID",
    );
    expect((await loki(rangeQuery(expr), { authorization: `Bearer ${t.viewerKey}` })).status).toBe(400);
    expect((await loki(rangeQuery(expr), grafana(t.viewerKey, "tenant-1"))).status).toBe(404);
    expect((await loki(rangeQuery(expr), { "x-scope-orgid": t.projectId })).status).toBe(401);
    expect((await loki(rangeQuery(expr), grafana(t.deviceKey, t.projectId))).status).toBe(401);
    expect((await loki(rangeQuery(expr), grafana("fbk_notakey", t.projectId))).status).toBe(401);
    expect(
      (await loki(`/labels`, { authorization: `Basic ${btoa("grafana:wrong")}`, "x-scope-orgid": t.projectId })).status,
    ).toBe(401);
  });

  it("answers what is outside the subset with 400 naming it, in a body Grafana shows (message)", async () => {
    const t = await tenant();
    const h = grafana(t.viewerKey, t.projectId);
    const cases: [string, string][] = [
      ['{module="a"} | pattern "<_> error"', "`| pattern` is not supported"],
      ['sum by (level) (count_over_time({module="a"} [1m])) > 1', "the binary operator `>`"],
      ['quantile_over_time(0.9, {module="a"} | json | unwrap ms [5m])', "`quantile_over_time(…)`"],
      ['{job="varlogs"}', 'unknown label "job"'],
      ['{module="a"} | label_format x="{{.y}}"', "`| label_format`"],
    ];
    for (const [expr, named] of cases) {
      const res = await loki(rangeQuery(expr), h);
      expect(res.status, expr).toBe(400);
      expect(res.json.status).toBe("error");
      expect(res.json.message).toContain(named);
      expect(res.json.error).toMatchObject({ code: "bad_request", message: res.json.message });
    }
    expect((await loki(`/query?${qs({ query: "vector(2)", time: ns(Date.now()) })}`, h)).json.message).toContain(
      "`vector(…)` is not supported",
    );
    expect((await loki(rangeQuery("{}", { limit: 5001 }), h)).status).toBe(400);
    expect((await loki(rangeQuery("{}", { direction: "sideways" }), h)).status).toBe(400);
    expect((await loki(`/query_range?${qs({ query: "{}", start: "soon" })}`, h)).status).toBe(400);
    expect((await loki(`/query_range?${qs({ end: ns(1_000), query: "{}", start: ns(2_000) })}`, h)).status).toBe(400);
  });
});

/** Issue 20: regexes that kept a backtracking engine busy for minutes over a line of 1,000 x. */
const STALLERS: [string, string][] = [
  ["16 × .* then =x", `${".*".repeat(16)}=x`],
  ["10 × (.*) then Z", `${"(.*)".repeat(10)}Z`],
  ["10 × [ax]*[bx]*… then Q", `${[..."abcdefghij"].map((c) => `[${c}x]*`).join("")}Q`],
  ["11 × \\w* then Q", `${"\\w*".repeat(11)}Q`],
];
const XS = "x".repeat(1000);
/** A line every staller matches (=x, Z, Q), after the 1,000 x that none does. */
const XS_MATCHED = `${XS} =x Z Q`;

/** A regex of about 4,000 RE2 instructions, so each character it reads counts 63 times, and cheap on lines of x. */
const HEAVY = "a{1000}|b{1000}|c{1000}|d{1000}";

describe("Loki API: regexes are RE2, and what they read is bounded", () => {
  it("answers each regex that stalled the server at once over a 1,000-character line, as Loki would", async () => {
    const t = await tenant();
    await ingest(t.deviceKey, {
      logs: stamped([
        ["INFO", XS],
        ["INFO", XS_MATCHED],
      ]),
    });
    const h = grafana(t.viewerKey, t.projectId);
    for (const [name, shape] of STALLERS) {
      const started = Date.now();
      const res = await loki(rangeQuery(`{level=~".*"} |~ ${JSON.stringify(shape)}`), h);
      const ms = Date.now() - started;
      expect(res.status, `${name}: ${JSON.stringify(res.json).slice(0, 300)}`).toBe(200);
      expect(
        lines(res.json).map((l) => l.line),
        name,
      ).toEqual([XS_MATCHED]);
      expect(ms, `${name} took ${ms} ms`).toBeLessThan(2000);
      const negated = await loki(rangeQuery(`{level=~".*"} !~ ${JSON.stringify(shape)}`), h);
      expect(
        lines(negated.json).map((l) => l.line),
        name,
      ).toEqual([XS]);
    }
  });

  it("refuses lookaround and backreferences, which RE2 lacks, with a 400 naming them", async () => {
    const t = await tenant();
    const h = grafana(t.viewerKey, t.projectId);
    const lookaround = await loki(rangeQuery('{} |~ "motor(?!ok)"'), h);
    expect(lookaround.status).toBe(400);
    expect(lookaround.json.message).toContain("lookaround");
    const backreference = await loki(rangeQuery('{module=~"(a)\\\\1"}'), h);
    expect(backreference.status).toBe(400);
    expect(backreference.json.message).toContain("backreference");
  });

  it("answers 400 with details {limit, max} when its regexes would read more than 8 Mi characters, weighted by size", async () => {
    const t = await tenant();
    // 3 lines of 16,000 x: 48,000 characters, each counting 63 times in each heavy regex.
    await ingest(t.deviceKey, {
      logs: stamped([
        ["INFO", "x".repeat(16_000)],
        ["INFO", "x".repeat(16_000)],
        ["INFO", "x".repeat(16_000)],
      ]),
    });
    const h = grafana(t.viewerKey, t.projectId);
    const heavy = (n: number) => `{} ${Array.from({ length: n }, () => `!~ "${HEAVY}"`).join(" ")}`;
    // Two: 6 M of the 8 Mi.
    const within = await loki(rangeQuery(heavy(2)), h);
    expect(within.status, JSON.stringify(within.json).slice(0, 300)).toBe(200);
    expect(lines(within.json)).toHaveLength(3);
    // Three: 9 M.
    const past = await loki(rangeQuery(heavy(3)), h);
    expect(past.status).toBe(400);
    expect(past.json.error).toMatchObject({
      code: "bad_request",
      details: { limit: "chars_tested", max: 8 * 1024 * 1024 },
    });
    expect(past.json.message).toContain("narrow the time range");
  });

  it("answers 400 with details {limit, max} when its regexes would test more than 100,000 lines", async () => {
    const t = await tenant();
    for (let batch = 0; batch < 2; batch++) {
      const logs = Array.from({ length: 3200 }, (_, i) => line("INFO", `tick ${batch}-${i}`));
      expect((await ingest(t.deviceKey, { logs })).json.accepted).toBe(3200);
    }
    // Every line passes 15 filters and fails the 16th, so each of the 6,400 lines is tested 16 times.
    const filters = (n: number) =>
      [...Array.from({ length: n - 1 }, (_, i) => `!~ "nope${i}"`), '|~ "never"'].join(" ");
    const h = grafana(t.viewerKey, t.projectId);
    const within = await loki(rangeQuery(`{} ${filters(15)}`), h);
    expect(within.status, JSON.stringify(within.json).slice(0, 300)).toBe(200);
    const past = await loki(rangeQuery(`{} ${filters(16)}`), h);
    expect(past.status).toBe(400);
    expect(past.json.error).toMatchObject({ code: "bad_request", details: { limit: "lines_tested", max: 100_000 } });
  });
});

/** A WebSocket to the Loki API, its frames collected as parsed JSON. */
async function lokiSocket(path: string, headers: Record<string, string>) {
  const res = await exports.default.fetch(`${LOKI_BASE}${path}`, { headers: { upgrade: "websocket", ...headers } });
  const ws = res.webSocket;
  const frames: LooseJson[] = [];
  const closes: number[] = [];
  const reasons: string[] = [];
  ws?.accept();
  ws?.addEventListener("message", (e) => {
    frames.push(JSON.parse(e.data as string));
  });
  ws?.addEventListener("close", (e) => {
    closes.push(e.code);
    reasons.push(e.reason);
  });
  const until = async (pred: () => boolean, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out; frames: ${JSON.stringify(frames).slice(0, 800)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { status: res.status, body: ws ? null : await res.json<LooseJson>(), ws, frames, closes, reasons, until };
}

const tailed = (frames: LooseJson[]) =>
  frames.flatMap((f) =>
    (f.streams as LooseJson[]).flatMap((s) =>
      s.values.map((v: string[]) => ({ ts: v[0], line: v[1], stream: s.stream })),
    ),
  );

describe("Loki API: tail over WebSocket", () => {
  it("sends the recent lines, then each fresh line the query matches, as Loki tail frames", async () => {
    const t = await tenant();
    const other = await newDevice(t.adminKey, t.projectId);
    await ingest(t.deviceKey, {
      logs: stamped([
        ["ERROR", "before the tail: motor stall"],
        ["INFO", "before the tail: fine"],
      ]),
    });

    // Grafana's live tail: tail?query=<expr> only, through its proxy with the data source's headers.
    const expr = '{level=~"ERROR|FATAL"} |= "motor" != "ignore"';
    const tail = await lokiSocket(`/tail?${qs({ query: expr })}`, grafana(t.viewerKey, t.projectId));
    expect(tail.status).toBe(101);
    await tail.until(() => tailed(tail.frames).length >= 1);
    expect(tail.frames[0]).toMatchObject({ dropped_entries: null });
    expect(tailed(tail.frames).map((l) => l.line)).toEqual(["before the tail: motor stall"]);

    await ingest(other.deviceKey, {
      logs: [
        line("ERROR", "motor overheating, ignore"),
        line("INFO", "motor fine"),
        line("FATAL", "motor seized", { module: "arm" }),
      ],
    });
    await ingest(t.deviceKey, { logs: [line("ERROR", "motor stall again")] });
    await tail.until(() => tailed(tail.frames).length >= 3);
    const got = tailed(tail.frames);
    expect(got.map((l) => l.line)).toEqual(["before the tail: motor stall", "motor seized", "motor stall again"]);
    expect(got[1]!.ts).toMatch(/^\d{19}$/);
    expect(got[1]!.stream).toEqual({
      device_id: other.deviceId,
      dsn: other.dsn,
      device_type: "amr",
      environment: "production",
      module: "arm",
      level: "FATAL",
    });
    tail.ws!.close(1000, "done");
  });

  it("keeps flowing past the project's window: each frame is acknowledged upstream", async () => {
    const t = await tenant();
    const tail = await lokiSocket(
      `/tail?${qs({ query: `{device_id="${t.deviceId}"}` })}`,
      grafana(t.viewerKey, t.projectId),
    );
    expect(tail.status).toBe(101);
    // The bridge holds the project's tail to 100 unacknowledged frames; 120 frames all arrive.
    for (let i = 0; i < 120; i++) await ingest(t.deviceKey, { logs: [line("INFO", `tick ${i}`)] });
    await tail.until(() => tailed(tail.frames).length >= 120, 20_000);
    expect(
      tailed(tail.frames)
        .map((l) => l.line)
        .at(-1),
    ).toBe("tick 119");
    tail.ws!.close(1000, "done");
  });

  it("closes when the key that opened it is revoked (4001)", async () => {
    const t = await tenant();
    const key = await newKey(t.adminKey, "viewer");
    const tail = await lokiSocket(`/tail?${qs({ query: "{}" })}`, grafana(key, t.projectId));
    expect(tail.status).toBe(101);
    const keyId = (await call("GET", "/keys", { token: t.adminKey })).json.keys.find(
      (k: { id: string; prefix: string }) => key.startsWith(k.prefix),
    ).id;
    expect((await call("DELETE", `/keys/${keyId}`, { token: t.adminKey })).status).toBe(200);
    await tail.until(() => tail.closes.length > 0);
    expect(tail.closes).toEqual([4001]);
    expect((await loki(`/labels`, grafana(key, t.projectId))).status).toBe(401);
  });

  it("filters live lines with RE2: a regex that stalled the server passes the matching line at once", async () => {
    const t = await tenant();
    const tail = await lokiSocket(
      `/tail?${qs({ query: `{} |~ ${JSON.stringify(STALLERS[0]![1])}` })}`,
      grafana(t.viewerKey, t.projectId),
    );
    expect(tail.status).toBe(101);
    await ingest(t.deviceKey, { logs: [line("INFO", XS), line("INFO", XS_MATCHED)] });
    await tail.until(() => tailed(tail.frames).length >= 1);
    expect(tailed(tail.frames).map((l) => l.line)).toEqual([XS_MATCHED]);
    tail.ws!.close(1000, "done");
  });

  it("closes with 4400 naming the bound when one frame's lines would cost its regexes too much", async () => {
    const t = await tenant();
    const expr = `{} ${Array.from({ length: 3 }, () => `!~ "${HEAVY}"`).join(" ")}`;
    const tail = await lokiSocket(`/tail?${qs({ query: expr })}`, grafana(t.viewerKey, t.projectId));
    expect(tail.status).toBe(101);
    await ingest(t.deviceKey, {
      logs: [line("INFO", "x".repeat(16_000)), line("INFO", "x".repeat(16_000)), line("INFO", "x".repeat(16_000))],
    });
    await tail.until(() => tail.closes.length > 0);
    expect(tail.closes).toEqual([4400]);
    expect(tail.reasons[0]).toContain("chars_tested");
  });

  it("refuses a tail without a WebSocket, of another org's project, or outside the subset", async () => {
    const t = await tenant();
    const stranger = await tenant();
    const q = qs({ query: "{}" });
    expect((await loki(`/tail?${q}`, grafana(t.viewerKey, t.projectId))).status).toBe(400);
    const cross = await lokiSocket(`/tail?${q}`, grafana(stranger.viewerKey, t.projectId));
    expect(cross.status).toBe(404);
    expect(cross.ws).toBeNull();
    const metric = await lokiSocket(`/tail?${qs({ query: "rate({}[1m])" })}`, grafana(t.viewerKey, t.projectId));
    expect(metric.status).toBe(400);
    expect(metric.body.message).toContain("a metric query is not a log query");
  });
});
