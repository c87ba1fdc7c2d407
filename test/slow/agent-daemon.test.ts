// The agent as a service, against a real `npm start`: heartbeats carry the machine's own
// metrics; commands an admin queues run and are acknowledged, over the device socket and by
// polling; a 429 with Retry-After is waited out; the spool stays within its bound through an
// outage and says what it dropped; the server stopped and started again while the agent keeps
// logging loses and doubles nothing; routine lines wait and go with the first error (the send
// policy); a large file goes multipart; the built bin runs on Node 20.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allLogs, api, newTenant, type Server, sleep, startServer } from "./support/server.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = ["--experimental-transform-types", "--no-warnings", "agent/cli.ts"];

/** Runs an agent command to its end. */
function agent(
  args: string[],
  configDir: string,
  env: Record<string, string> = {},
  node = process.execPath,
  cli = CLI,
) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(node, [...cli, ...args], {
      cwd: ROOT,
      env: { ...process.env, FLEETBEAT_CONFIG_DIR: configDir, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts a long-running agent command (daemon, tail); stop() sends SIGTERM and waits for it. */
function background(args: string[], configDir: string, env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, [...CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, FLEETBEAT_CONFIG_DIR: configDir, ...env },
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdout!.resume();
  return {
    stderr: () => stderr,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("close", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/**
 * A small proxy in front of the server, standing in for what sits between a device and the
 * backend: it forwards, or answers ingest with 429 and Retry-After, or is down (drops the
 * connection). It records when each ingest arrived, what it answered, and the messages it carried,
 * and how many requests it dropped while down.
 */
function proxy(target: string) {
  const state = {
    mode: "pass" as "pass" | "429" | "down",
    retryAfterS: 3,
    ingests: [] as { at: number; status: number; messages?: () => string[] }[],
    dropped: 0,
  };
  const server = http.createServer((req, res) => {
    const ingest = req.url!.endsWith("/logs/ingest");
    if (state.mode === "down") {
      state.dropped++;
      return req.socket.destroy();
    }
    const body: Buffer[] = [];
    req.on("data", (chunk: Buffer) => body.push(chunk));
    const messages = () => {
      const raw = Buffer.concat(body);
      const text = (req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8");
      return (JSON.parse(text) as { logs: { message: string }[] }).logs.map((l) => l.message);
    };
    if (ingest && state.mode === "429") {
      state.ingests.push({ at: Date.now(), status: 429 });
      state.mode = "pass"; // once
      res.writeHead(429, { "content-type": "application/json", "retry-after": String(state.retryAfterS) });
      return res.end(JSON.stringify({ error: { code: "rate_limited", message: "slow down" } }));
    }
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      if (ingest) state.ingests.push({ at: Date.now(), status: answer.statusCode!, messages });
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  return {
    state,
    listen: () =>
      new Promise<string>((r) =>
        server.listen(0, "127.0.0.1", () => r(`http://127.0.0.1:${(server.address() as { port: number }).port}`)),
      ),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe("the agent as a service", () => {
  let server: Server;
  let state: string;
  let work: string;
  let tenant: Awaited<ReturnType<typeof newTenant>>;
  const origin = () => server.api.replace("/api/v1", "");

  /** A registered device in a config folder of its own, with `config` as its config.json. */
  async function device(name: string, config: Record<string, unknown> = {}) {
    const capsule = await api(server.api, "POST", "/capsules/generate", {
      token: tenant.adminKey,
      body: { project_id: tenant.projectId, device_type: "amr", environment: "testing", dsn: name },
    });
    const dir = path.join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "capsule.json"), JSON.stringify(capsule.json));
    const configDir = path.join(dir, "config");
    const reg = await agent(["register", "--capsule", path.join(dir, "capsule.json")], configDir);
    expect(reg.code, reg.stderr).toBe(0);
    writeFileSync(path.join(configDir, "config.json"), JSON.stringify(config));
    const saved = JSON.parse(readFileSync(path.join(configDir, "device.json"), "utf8"));
    return { dir, configDir, id: saved.device_id as string, key: saved.device_key as string };
  }

  /** Points a registered device at another origin (a proxy). */
  function pointAt(configDir: string, url: string) {
    const file = path.join(configDir, "device.json");
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), backend_url: url }), {
      mode: 0o600,
    });
  }

  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-agent-daemon-"));
    work = mkdtempSync(path.join(tmpdir(), "fleetbeat-agent-daemon-work-"));
    server = await startServer({ state });
    tenant = await newTenant(server, "Agent service org");
  }, 200_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(state, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it("heartbeats with the machine's own metrics", async () => {
    const d = await device("METRICS-1");
    // A machine with a thermal zone and a battery, where /sys has neither here.
    const sys = path.join(d.dir, "sys");
    mkdirSync(path.join(sys, "class/thermal/thermal_zone0"), { recursive: true });
    writeFileSync(path.join(sys, "class/thermal/thermal_zone0/temp"), "48500\n");
    mkdirSync(path.join(sys, "class/power_supply/AC"), { recursive: true });
    writeFileSync(path.join(sys, "class/power_supply/AC/type"), "Mains\n");
    mkdirSync(path.join(sys, "class/power_supply/BAT0"), { recursive: true });
    writeFileSync(path.join(sys, "class/power_supply/BAT0/type"), "Battery\n");
    writeFileSync(path.join(sys, "class/power_supply/BAT0/capacity"), "76\n");
    const daemon = background(["daemon"], d.configDir, { FLEETBEAT_SYSFS: sys });
    try {
      const metrics = await until("a heartbeat with metrics", async () => {
        const res = await api(server.api, "GET", `/fleet/devices/${d.id}`, { token: tenant.viewerKey });
        return res.json.device.metrics?.memory_usage !== undefined && res.json.device.metrics;
      });
      const info = readFileSync("/proc/meminfo", "utf8");
      const kb = (n: string) => Number(new RegExp(`^${n}:\\s+(\\d+)`, "m").exec(info)![1]);
      const s = statfsSync(d.configDir);
      // Read again here, a moment later, while other processes write and allocate: close, not equal.
      expect(
        Math.abs(metrics.memory_usage - (100 * (kb("MemTotal") - kb("MemAvailable"))) / kb("MemTotal")),
      ).toBeLessThan(10);
      expect(
        Math.abs(metrics.disk_usage - (100 * (s.blocks - s.bfree)) / (s.blocks - s.bfree + s.bavail)),
      ).toBeLessThan(2);
      expect(metrics.cpu_usage).toBeGreaterThanOrEqual(0);
      expect(metrics.cpu_usage).toBeLessThanOrEqual(100);
      expect(metrics).toMatchObject({ temperature: 48.5, battery_level: 76 });
    } finally {
      await daemon.stop();
    }
  });

  for (const transport of ["socket", "poll"] as const) {
    it(`runs the commands an admin queues and acknowledges them (${transport === "socket" ? "over the device WebSocket" : "polled over HTTP"})`, async () => {
      const d = await device(`COMMANDS-${transport}`, {});
      const allowed = path.join(d.dir, "logs");
      mkdirSync(allowed);
      writeFileSync(path.join(allowed, "run.bag"), "rosbag bytes");
      const tailed = path.join(d.dir, "robot.log");
      writeFileSync(tailed, "");
      writeFileSync(
        path.join(d.configDir, "config.json"),
        JSON.stringify({
          upload_dirs: [allowed],
          tail: [tailed],
          command_poll_s: 1,
          commands: {
            say: { run: [process.execPath, "-e", "console.log('said', process.env.FLEETBEAT_COMMAND_PARAMS)"] },
            stuck: { run: [process.execPath, "-e", "setTimeout(() => {}, 60000)"], timeout_s: 1 },
          },
        }),
      );
      const daemon = background(["daemon"], d.configDir, transport === "poll" ? { FLEETBEAT_SOCKET: "off" } : {});
      const queue = async (command: string, params?: unknown) =>
        (
          await api(server.api, "POST", "/fleet/commands", {
            token: tenant.adminKey,
            body: { device_id: d.id, command, ...(params ? { params } : {}) },
          })
        ).json.command.id as string;
      try {
        await until(
          "the first heartbeat",
          async () =>
            (await api(server.api, "GET", `/fleet/devices/${d.id}`, { token: tenant.viewerKey })).json.device.status ===
            "online",
        );
        const ids = {
          ping: await queue("ping"),
          upload: await queue("upload", { path: path.join(allowed, "run.bag") }),
          key: await queue("upload", { path: path.join(d.configDir, "device.json") }),
          escape: await queue("upload", { path: `${allowed}/../config/device.json` }),
          say: await queue("say", { speed: 2 }),
          stuck: await queue("stuck"),
          unknown: await queue("self-destruct"),
          level: await queue("log-level", { level: "WARN" }),
        };
        const history = await until(
          "every command acknowledged",
          async () => {
            const h = await api(server.api, "GET", `/fleet/devices/${d.id}/commands/history`, {
              token: tenant.viewerKey,
            });
            const byId = new Map<string, any>(h.json.commands.map((c: any) => [c.id, c]));
            return (
              Object.values(ids).every((id) => ["succeeded", "failed", "rejected"].includes(byId.get(id)?.status)) &&
              byId
            );
          },
          transport === "poll" ? 30_000 : 20_000,
        );
        expect(history.get(ids.ping)).toMatchObject({ status: "succeeded", result: { pong: true } });
        expect(history.get(ids.upload)).toMatchObject({ status: "succeeded", result: { path: "run.bag", size: 12 } });
        expect(history.get(ids.key)).toMatchObject({ status: "rejected" });
        expect(history.get(ids.escape)).toMatchObject({ status: "rejected" });
        expect(history.get(ids.say)).toMatchObject({
          status: "succeeded",
          result: { exit_code: 0, stdout: 'said {"speed":2}\n' },
        });
        expect(history.get(ids.stuck)).toMatchObject({ status: "failed", result: { timed_out: true, timeout_s: 1 } });
        expect(history.get(ids.unknown).status).toBe("rejected");
        expect(history.get(ids.level)).toMatchObject({ status: "succeeded", result: { level: "WARN" } });
        expect(daemon.stderr().includes("the device socket is open")).toBe(transport === "socket");

        // The uploaded file is in a session of its own, as it was on the device.
        const sessionId = history.get(ids.upload).result.session_id;
        const file = await fetch(
          `${server.api}/sessions/${encodeURIComponent(sessionId)}/files/download?path=run.bag`,
          { headers: { authorization: `Bearer ${tenant.viewerKey}` } },
        );
        expect(await file.text()).toBe("rosbag bytes");

        // After log-level WARN, the followed file's INFO lines stay on the device.
        appendFileSync(
          tailed,
          `routine pass ${transport}\n${JSON.stringify({ level: "WARN", message: `wheel slip ${transport}` })}\n`,
        );
        const shipped = await until("the WARN line", async () => {
          const lines = await allLogs(server.api, tenant.viewerKey, `device_id=${d.id}&module=robot.log`);
          return lines.length > 0 && lines;
        });
        await sleep(1500);
        expect(shipped.map((l) => l.message)).toEqual([`wheel slip ${transport}`]);
      } finally {
        await daemon.stop();
      }
    }, 90_000);
  }

  it("waits as long as a 429's Retry-After says, then delivers every line once", async () => {
    const d = await device("RATE-LIMITED-1");
    const p = proxy(origin());
    pointAt(d.configDir, await p.listen());
    p.state.mode = "429";
    p.state.retryAfterS = 3;
    const run = await agent(
      ["run", "--", process.execPath, "-e", "for (let i = 0; i < 50; i++) console.log('reading ' + i)"],
      d.configDir,
      { FLEETBEAT_SOCKET: "off" },
    );
    await p.close();
    expect(run.code, run.stderr).toBe(0);
    const [refused, next] = p.state.ingests;
    expect(refused!.status).toBe(429);
    expect(next!.status).toBe(200);
    expect(next!.at - refused!.at).toBeGreaterThanOrEqual(3000);
    const lines = await allLogs(server.api, tenant.viewerKey, `device_id=${d.id}`);
    expect(lines.map((l) => l.message).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `reading ${i}`).sort());
  }, 60_000);

  it("keeps its spool within the bound through a long outage, and reports what it dropped", async () => {
    const maxBytes = 64 * 1024;
    const d = await device("OUTAGE-BOUND-1", { spool_max_mb: maxBytes / (1024 * 1024), batch_lines: 20 });
    const p = proxy(origin());
    pointAt(d.configDir, await p.listen());
    p.state.mode = "down";
    const log = path.join(d.dir, "sensor.log");
    writeFileSync(log, "");
    const tail = background(["tail", log], d.configDir, { FLEETBEAT_SOCKET: "off" });
    try {
      // `tail` follows the file from its end as it is at start, then sends its first heartbeat:
      // once that reaches the proxy, every line appended is the agent's to send or count.
      await until("the agent's first heartbeat", async () => p.state.dropped > 0);
      // About 300 KB of lines, in bursts, while the server cannot be reached.
      for (let burst = 0; burst < 10; burst++) {
        appendFileSync(
          log,
          Array.from({ length: 200 }, (_, i) => `sample ${burst * 200 + i} ${"x".repeat(100)}\n`).join(""),
        );
        await sleep(700);
      }
      const spoolDir = path.join(d.configDir, "spool");
      const onDisk = readdirSync(spoolDir).reduce((sum, f) => sum + statSync(path.join(spoolDir, f)).size, 0);
      // The bound, plus the newest segment that was sealed over it and the open one.
      expect(onDisk).toBeLessThanOrEqual(maxBytes + 2 * 20 * 200);
      p.state.mode = "pass";
      const lines = await until(
        "the kept lines and the drop report",
        async () => {
          const all = await allLogs(server.api, tenant.viewerKey, `device_id=${d.id}&order=asc`);
          return all.some((l) => l.module === "fleetbeat-agent") && all;
        },
        60_000,
      );
      const reports = lines.filter((l) => l.module === "fleetbeat-agent");
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ level: "WARN" });
      const dropped = Number(reports[0].context.dropped_lines);
      const samples = lines.filter((l) => l.module === "sensor.log");
      expect(dropped).toBeGreaterThan(0);
      expect(samples.length + dropped).toBe(2000);
      // The newest lines are the ones kept, each once.
      expect(new Set(samples.map((l) => l.message)).size).toBe(samples.length);
      expect(samples.at(-1).message).toMatch(/^sample 1999 /);
    } finally {
      await tail.stop();
      await p.close();
    }
  }, 120_000);

  it("lets routine lines wait and sends them with the first ERROR, at once (the send policy), over HTTPS when told", async () => {
    const d = await device("POLICY-1");
    const p = proxy(origin());
    pointAt(d.configDir, await p.listen());
    const log = path.join(d.dir, "arm.log");
    writeFileSync(log, "");
    const daemon = background(["daemon", "--tail", log, "--transport", "https"], d.configDir);
    try {
      await until(
        "the first heartbeat",
        async () =>
          (await api(server.api, "GET", `/fleet/devices/${d.id}`, { token: tenant.viewerKey })).json.device.status ===
          "online",
      );
      appendFileSync(log, "joint 1 homed\njoint 2 homed\n");
      await sleep(2000);
      appendFileSync(log, "joint 3 homed\n");
      await sleep(1000);
      const errorAt = Date.now();
      appendFileSync(log, `${JSON.stringify({ level: "ERROR", message: "joint 4 stalled" })}\n`);
      await until("the batch with the error", async () => p.state.ingests.length > 0);
      // One batch: the routine lines logged 3 s before the error waited for it (every second, they would have gone alone).
      const [first] = p.state.ingests;
      expect(first!.messages!()).toEqual(["joint 1 homed", "joint 2 homed", "joint 3 homed", "joint 4 stalled"]);
      // Found by a poll of the file every half second, then sent at once.
      expect(first!.at - errorAt).toBeLessThan(3000);
      expect(daemon.stderr()).not.toContain("the device socket is open");
    } finally {
      await daemon.stop();
      await p.close();
    }
  }, 60_000);

  it("loses and doubles nothing when the server stops for a while and starts again", async () => {
    const d = await device("RESTART-1");
    const log = path.join(d.dir, "mission.log");
    writeFileSync(log, "");
    const daemon = background(["daemon", "--tail", log], d.configDir);
    let written = 0;
    const write = (n: number) => {
      appendFileSync(log, Array.from({ length: n }, () => `step ${written++}\n`).join(""));
    };
    try {
      await sleep(1500);
      for (let i = 0; i < 5; i++) {
        write(20);
        await sleep(300);
      }
      // The server goes away, and the device keeps logging.
      await server.stop();
      for (let i = 0; i < 20; i++) {
        write(20);
        await sleep(300);
      }
      server = await startServer({ state, port: server.port });
      for (let i = 0; i < 5; i++) {
        write(20);
        await sleep(300);
      }
      const steps = await until(
        "every step stored",
        async () => {
          const all = (await allLogs(server.api, tenant.viewerKey, `device_id=${d.id}&module=mission.log`)).map(
            (l) => l.message,
          );
          return all.length >= written && all;
        },
        90_000,
      );
      await sleep(2000);
      const again = (await allLogs(server.api, tenant.viewerKey, `device_id=${d.id}&module=mission.log`)).map(
        (l) => l.message,
      );
      expect(again.length).toBe(written);
      expect(new Set(again)).toEqual(new Set(Array.from({ length: written }, (_, i) => `step ${i}`)));
      expect(steps.length).toBe(written);
    } finally {
      await daemon.stop();
    }
  }, 240_000);

  it("follows a fleet's logs live for people (logs --follow)", async () => {
    const d = await device("FOLLOWED-1");
    const follower = spawn(
      process.execPath,
      [...CLI, "logs", "--follow", "--project", tenant.projectId, "--level", "ERROR", "--json"],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          FLEETBEAT_CONFIG_DIR: path.join(work, "people"),
          FLEETBEAT_API_KEY: tenant.viewerKey,
          FLEETBEAT_URL: origin(),
        },
      },
    );
    let out = "";
    follower.stdout.on("data", (c) => (out += c));
    try {
      await sleep(3000); // the live tail is open
      const run = await agent(
        ["run", "--", process.execPath, "-e", "console.log('all good'); console.error('lidar timeout')"],
        d.configDir,
      );
      expect(run.code, run.stderr).toBe(0);
      const printed = await until("the live line", async () => {
        const lines = out
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l));
        return lines.some((l) => l.message === "lidar timeout") && lines;
      });
      // Only the level asked for, and the device's line once.
      expect(printed.filter((l) => l.device_id === d.id).map((l) => [l.level, l.message])).toEqual([
        ["ERROR", "lidar timeout"],
      ]);
    } finally {
      follower.kill("SIGTERM");
    }
  }, 60_000);

  it("uploads a large file in parts", async () => {
    const d = await device("MULTIPART-1");
    const started = await agent(["session", "start", "--name", "big upload"], d.configDir);
    expect(started.code, started.stderr).toBe(0);
    const sessionId = /session (\S+) started/.exec(started.stdout)![1]!;
    const file = path.join(d.dir, "map.pcd");
    const bytes = Buffer.alloc(12 * 1024 * 1024 + 123);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
    writeFileSync(file, bytes);
    const up = await agent(["upload", file, "--part-mb", "5"], d.configDir);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain("in 3 parts");
    const res = await fetch(`${server.api}/sessions/${encodeURIComponent(sessionId)}/files/download?path=map.pcd`, {
      headers: { authorization: `Bearer ${tenant.viewerKey}` },
    });
    const back = Buffer.from(await res.arrayBuffer());
    expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect((await agent(["session", "end"], d.configDir)).code).toBe(0);
  }, 60_000);

  it("is built into one file that Node 20 runs, for devices", async () => {
    const build = spawnSync("npm", ["run", "--silent", "build:agent"], { cwd: ROOT, encoding: "utf8" });
    expect(build.status, build.stderr).toBe(0);
    const bin = path.join(ROOT, "agent/dist/fleetbeat-agent.mjs");
    // The oldest Node the agent supports, where the machine has one (Debian's is 20).
    const node20 = ["/usr/bin/node", "/usr/local/bin/node"].find((n) =>
      spawnSync(n, ["--version"], { encoding: "utf8" }).stdout?.startsWith("v20."),
    );
    const node = node20 ?? process.execPath;
    if (!node20) console.warn("no Node 20 on this machine: the built agent is tried on", process.version);
    const d = path.join(work, "bin-device");
    mkdirSync(d);
    const capsule = await api(server.api, "POST", "/capsules/generate", {
      token: tenant.adminKey,
      body: { project_id: tenant.projectId, device_type: "amr", environment: "testing", dsn: "BIN-1" },
    });
    writeFileSync(path.join(d, "capsule.json"), JSON.stringify(capsule.json));
    const config = path.join(d, "config");
    const help = await agent(["--help"], config, {}, node, [bin]);
    expect(help.stdout).toMatch(/^ {2}daemon /m);
    const reg = await agent(["register", "--capsule", path.join(d, "capsule.json")], config, {}, node, [bin]);
    expect(reg.code, reg.stderr).toBe(0);
    const run = await agent(
      ["run", "--", process.execPath, "-e", "console.log('from the built agent'); console.error('and its error')"],
      config,
      {},
      node,
      [bin],
    );
    expect(run.code, run.stderr).toBe(0);
    const id = JSON.parse(readFileSync(path.join(config, "device.json"), "utf8")).device_id;
    const lines = await allLogs(server.api, tenant.viewerKey, `device_id=${id}&order=asc`);
    expect(lines.map((l) => [l.level, l.message])).toEqual([
      ["INFO", "from the built agent"],
      ["ERROR", "and its error"],
    ]);
  }, 90_000);
});
