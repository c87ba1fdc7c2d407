// The simulator and the living demo, against a real `npm start`: `agent simulate` drives
// virtual devices whose lines the server holds exactly as many as it says were accepted, with
// heartbeat metrics, sessions that end and their files; a restart with --state drives the same
// devices, and SIGTERM ends their sessions. `npm start` runs a demo fleet whose lines show
// within seconds of the server being up and whose devices answer commands within seconds, and
// none with DEMO=0; over HTTPS, --command-poll brings commands without waiting for a heartbeat. The flags the cost workloads
// need shape what the devices do: transport, session pace and length, files, heartbeats.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { allLogs, api, newTenant, type Server, sleep, startServer } from "./support/server.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** `agent simulate` with `args`; resolves with its exit code and output once it exits. */
function simulate(server: Server, orgKey: string, args: string[]) {
  // Node itself (not through npm, whose shell would not pass a SIGTERM on).
  const child: ChildProcess = spawn(
    process.execPath,
    ["--experimental-transform-types", "--no-warnings", "agent/cli.ts", "simulate", ...args],
    {
      cwd: ROOT,
      env: { ...process.env, FLEETBEAT_API_KEY: orgKey, FLEETBEAT_URL: `http://127.0.0.1:${server.port}` },
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done, output: () => stdout };
}

/** The numbers of the summary's "lines:" row. */
function linesOf(summary: string) {
  const m =
    /lines: +(\d+) logged, (\d+) sent, (\d+) accepted, (\d+) rejected, (\d+) duplicate batches, (\d+) refused batches, (\d+) not delivered/.exec(
      summary,
    );
  if (!m) throw new Error(`no summary in:\n${summary}`);
  const [logged, sent, accepted, rejected, duplicates, refused, undelivered] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { logged, sent, accepted, rejected, duplicates, refused, undelivered };
}

const METRICS = ["cpu_usage", "memory_usage", "disk_usage", "battery_level", "temperature"];

/** Queues `command` for a device and waits (at most `withinMs`) until it is answered: its final status, result and how long it took. */
async function answered(
  base: string,
  token: string,
  deviceId: string,
  command: string,
  params?: unknown,
  withinMs = 5000,
) {
  const started = Date.now();
  const sent = await api(base, "POST", "/fleet/commands", {
    token,
    body: { device_id: deviceId, command, ...(params === undefined ? {} : { params }) },
  });
  expect(sent.status, JSON.stringify(sent.json)).toBe(201);
  const id = sent.json.command.id as string;
  for (;;) {
    const history = (await api(base, "GET", `/fleet/devices/${deviceId}/commands/history`, { token })).json
      .commands as { id: string; status: string; result: any }[];
    const c = history.find((x) => x.id === id)!;
    if (!["queued", "delivered"].includes(c.status))
      return { status: c.status, result: c.result, ms: Date.now() - started };
    if (Date.now() - started > withinMs)
      throw new Error(`${command} to ${deviceId} was still ${c.status} after ${withinMs} ms`);
    await sleep(100);
  }
}

/** Waits until `n` devices of the project have sent a heartbeat. */
async function heartbeating(base: string, token: string, projectId: string, n: number, withinMs = 30_000) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const devices = (await api(base, "GET", `/fleet/devices?project_id=${projectId}`, { token })).json.devices as {
      id: string;
      last_heartbeat_at: string | null;
    }[];
    const beating = devices.filter((d) => d.last_heartbeat_at !== null);
    if (beating.length >= n) return beating;
    if (Date.now() > deadline) throw new Error(`${beating.length} of ${n} devices heartbeating after ${withinMs} ms`);
    await sleep(300);
  }
}

describe("agent simulate", () => {
  let server: Server | undefined;
  const dirs: string[] = [];
  const tempDir = (name: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), `fleetbeat-${name}-`));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    await server?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("sends what it says the server accepted, with metrics, sessions and files; --state keeps the devices; SIGTERM ends cleanly", async () => {
    server = await startServer({ state: tempDir("simulate") });
    const healthyAt = Date.now();
    const base = server.api;
    const tenant = await newTenant(server, "Simulated org");
    const stateFile = path.join(tempDir("simulate-work"), "fleet.json");

    const first = await simulate(server, tenant.adminKey, [
      "--devices",
      "3",
      "--rate",
      "5",
      "--duration",
      "10",
      "--project",
      tenant.projectId,
      "--state",
      stateFile,
    ]).done;
    expect(first.code, first.stderr).toBe(0);
    const one = linesOf(first.stdout);
    expect(one.accepted).toBeGreaterThan(3 * 5 * 8);
    expect(one).toMatchObject({ sent: one.logged, accepted: one.logged, rejected: 0, refused: 0, undelivered: 0 });
    expect((await allLogs(base, tenant.viewerKey, `project_id=${tenant.projectId}`)).length).toBe(one.accepted);

    const devices = (
      await api(base, "GET", `/fleet/devices?project_id=${tenant.projectId}`, { token: tenant.viewerKey })
    ).json.devices;
    expect(devices).toHaveLength(3);
    for (const d of devices) {
      expect(Object.keys(d.metrics ?? {}).sort()).toEqual([...METRICS].sort());
      expect(d.last_heartbeat_at).not.toBeNull();
    }
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(stateFile, "utf8"));
    expect(saved.devices.map((d: { device_id: string }) => d.device_id).sort()).toEqual(
      devices.map((d: { id: string }) => d.id).sort(),
    );

    // Every device's first session starts within 3 s; stopping ends it and uploads its files.
    const sessions = (await api(base, "GET", `/sessions?project_id=${tenant.projectId}`, { token: tenant.viewerKey }))
      .json.sessions;
    expect(sessions.length).toBeGreaterThanOrEqual(3);
    expect(sessions.filter((s: { status: string }) => s.status === "active")).toEqual([]);
    expect(first.stdout).toMatch(new RegExp(`sessions: +${sessions.length} started, ${sessions.length} ended`));
    const files = (
      await api(base, "GET", `/sessions/${encodeURIComponent(sessions[0].session_id)}/files`, {
        token: tenant.viewerKey,
      })
    ).json.files;
    expect(files.map((f: { path: string }) => f.path)).toEqual(["summary.json", "telemetry/metrics.csv"]);
    expect(first.stdout).toMatch(new RegExp(`artifacts: +${sessions.length * 2} uploaded`));

    // Again with the same state file, stopped by SIGTERM: the same three devices, no open session.
    const again = simulate(server, tenant.adminKey, [
      "--devices",
      "3",
      "--rate",
      "5",
      "--project",
      tenant.projectId,
      "--state",
      stateFile,
    ]);
    const deadline = Date.now() + 30_000;
    while (!/^simulate: 3 devices/m.test(again.output()) && Date.now() < deadline) await sleep(200);
    expect(again.output()).toContain("(3 from");
    await sleep(4000);
    again.child.kill("SIGTERM");
    const second = await again.done;
    expect(second.code, second.stderr).toBe(0);
    const two = linesOf(second.stdout);
    expect(two).toMatchObject({ accepted: two.logged, undelivered: 0 });
    expect((await allLogs(base, tenant.viewerKey, `project_id=${tenant.projectId}`)).length).toBe(
      one.accepted + two.accepted,
    );
    expect(
      (await api(base, "GET", `/fleet/devices?project_id=${tenant.projectId}`, { token: tenant.viewerKey })).json
        .devices,
    ).toHaveLength(3);
    const after = (await api(base, "GET", `/sessions?project_id=${tenant.projectId}`, { token: tenant.viewerKey })).json
      .sessions;
    expect(after.length).toBeGreaterThan(sessions.length);
    expect(after.filter((s: { status: string }) => s.status === "active")).toEqual([]);

    // This server was started with DEMO=0: its demo project has heard from no device, long after it was up.
    expect(Date.now() - healthyAt).toBeGreaterThan(10_000);
    const demo = server.vars;
    expect((await api(base, "GET", `/logs?project_id=${demo.PROJECT_ID}`, { token: demo.ORG_KEY! })).json.logs).toEqual(
      [],
    );
    expect(
      (await api(base, "GET", `/fleet/devices?project_id=${demo.PROJECT_ID}`, { token: demo.ORG_KEY! })).json.devices,
    ).toEqual([]);
    await server.stop();
    server = undefined;
  }, 180_000);

  it("shapes a workload: sessions at a set pace and length with files of a set size, heartbeats at a set interval, over HTTPS or the device socket", async () => {
    server = await startServer({ state: tempDir("workload") });
    const base = server.api;
    const tenant = await newTenant(server, "Workload org");
    const fileBytes = 256 * 1024;
    const https = await simulate(server, tenant.adminKey, [
      ...["--devices", "2", "--rate", "0.5", "--duration", "14", "--project", tenant.projectId, "--transport", "https"],
      ...["--session-every", "6s", "--session-length", "3s", "--files", "2", "--file-mb", "0.25", "--heartbeat", "2"],
    ]).done;
    expect(https.code, https.stderr).toBe(0);
    expect(https.stdout).toMatch(/over HTTPS, sending as the send policy says/);
    const lines = linesOf(https.stdout);
    expect(lines).toMatchObject({ sent: lines.logged, accepted: lines.logged, undelivered: 0 });
    expect(https.stdout).toMatch(/sockets: +0 opened/);
    // Heartbeats every 2 s for 14 s, per device (and one more whenever a burst of errors starts or ends).
    expect(Number(/heartbeats: (\d+)/.exec(https.stdout)![1])).toBeGreaterThanOrEqual(2 * 6);

    // A session every 6 s, each 3 s long: two or three per device, each with its two files of 256 KiB.
    const sessions = (await api(base, "GET", `/sessions?project_id=${tenant.projectId}`, { token: tenant.viewerKey }))
      .json.sessions;
    expect(sessions.length).toBeGreaterThanOrEqual(2 * 2);
    expect(sessions.length).toBeLessThanOrEqual(2 * 3);
    const ended = sessions.filter((x: { status: string }) => x.status === "completed" || x.status === "failed");
    expect(ended.length).toBeGreaterThanOrEqual(2);
    for (const session of ended) {
      expect(session.duration_seconds).toBeLessThan(6);
      const files = (
        await api(base, "GET", `/sessions/${encodeURIComponent(session.session_id)}/files`, { token: tenant.viewerKey })
      ).json.files;
      expect(files.map((f: { path: string; size: number }) => [f.path, f.size])).toEqual([
        ["recordings/part-1.bin", fileBytes],
        ["recordings/part-2.bin", fileBytes],
      ]);
    }

    // A silent device over the socket: no lines, no sessions, heartbeats only.
    const quiet = await simulate(server, tenant.adminKey, [
      "--devices",
      "1",
      "--rate",
      "0",
      "--sessions-per-day",
      "0",
      "--duration",
      "5",
      "--project",
      tenant.projectId,
    ]).done;
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toMatch(/over the device socket/);
    expect(quiet.stdout).toMatch(/sockets: +1 opened/);
    expect(linesOf(quiet.stdout)).toMatchObject({ logged: 0, sent: 0 });
    expect(quiet.stdout).toMatch(/sessions: +0 started, 0 ended/);

    // Over HTTPS with a heartbeat a minute apart, only --command-poll brings a command within seconds.
    const polled = await newTenant(server, "Polling org");
    const polling = simulate(server, polled.adminKey, [
      ...[
        "--devices",
        "1",
        "--rate",
        "0",
        "--sessions-per-day",
        "0",
        "--duration",
        "20",
        "--project",
        polled.projectId,
      ],
      ...["--transport", "https", "--heartbeat", "60", "--command-poll", "1"],
    ]);
    const [device] = await heartbeating(base, polled.adminKey, polled.projectId, 1);
    // The first heartbeat went; the next is a minute away.
    await sleep(1500);
    const ping = await answered(base, polled.adminKey, device!.id, "ping");
    expect(ping).toMatchObject({ status: "succeeded", result: { pong: true, simulated: true } });
    const polledRun = await polling.done;
    expect(polledRun.code, polledRun.stderr).toBe(0);
    expect(polledRun.stdout).toMatch(/commands: +1 answered/);
    await server.stop();
    server = undefined;
  }, 180_000);

  it("runs a demo fleet under `npm start` that the demo project hears from within seconds, and stops with it", async () => {
    server = await startServer({ state: tempDir("demo"), demo: true });
    const { api: base, vars } = server;
    const healthyAt = Date.now();
    let lines: unknown[] = [];
    while (lines.length === 0 && Date.now() - healthyAt < 30_000) {
      await sleep(1000);
      lines = (await api(base, "GET", `/logs?project_id=${vars.PROJECT_ID}`, { token: vars.ORG_KEY! })).json.logs;
    }
    expect(lines.length, server.output().slice(-3000)).toBeGreaterThan(0);
    const devices = (await api(base, "GET", `/fleet/devices?project_id=${vars.PROJECT_ID}`, { token: vars.ORG_KEY! }))
      .json.devices;
    expect(devices).toHaveLength(10);
    expect(server.output()).toContain("DEMO=0 npm start");

    // Its devices answer commands within seconds (pushed on their sockets), more than ping.
    const key = vars.ORG_KEY!;
    const [a, b] = await heartbeating(base, key, vars.PROJECT_ID!, 10);
    const ping = await answered(base, key, a!.id, "ping");
    expect(ping).toMatchObject({ status: "succeeded", result: { pong: true, simulated: true } });
    expect(ping.ms).toBeLessThan(5000);
    const reboot = await answered(base, key, b!.id, "reboot");
    expect(reboot).toMatchObject({ status: "succeeded", result: { rebooted: true, simulated: true } });
    expect(reboot.ms).toBeGreaterThanOrEqual(2000);
    expect(await answered(base, key, a!.id, "set_log_level", { level: "warn" })).toMatchObject({
      status: "succeeded",
      result: { level: "WARN", previous: "DEBUG" },
    });
    expect(await answered(base, key, a!.id, "set_log_level", { level: "loud" })).toMatchObject({
      status: "rejected",
      result: { error: expect.stringContaining("params.level") },
    });
    expect(await answered(base, key, a!.id, "identify", { seconds: 5 })).toMatchObject({
      status: "succeeded",
      result: { blinking: true, seconds: 5 },
    });
    expect(await answered(base, key, a!.id, "upload_logs")).toMatchObject({
      status: "succeeded",
      result: { uploaded_lines: expect.any(Number) },
    });
    const unknown = await answered(base, key, a!.id, "self_destruct");
    expect(unknown).toMatchObject({
      status: "rejected",
      result: { error: expect.stringContaining('not "self_destruct"') },
    });
    expect(unknown.result.error).toContain('"reboot"');

    // Ctrl-C to `npm start` stops the fleet first: it ends its sessions and prints its summary.
    const started = server;
    expect(await started.interrupt(), started.output().slice(-3000)).toBe(true);
    server = undefined;
    expect(started.output()).toMatch(/^simulate: stopped after/m);
  }, 180_000);
});
