// The agent as a program, against a real `npm start`: `register` keeps the device's key in a
// file only its owner can read; `run` wraps a program and ships what it prints, stdout as
// INFO, stderr as ERROR, JSON lines with their own fields, each line once, and exits with the
// program's code.
import { spawn } from "node:child_process";
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allLogs, api, newTenant, type Server, startServer } from "./support/server.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

function agent(args: string[], configDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("npm", ["run", "--silent", "agent", "--", ...args], {
      cwd: ROOT,
      env: { ...process.env, FLEETBEAT_CONFIG_DIR: configDir },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the agent program", () => {
  let server: Server;
  let state: string;
  let work: string;
  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-agent-cli-"));
    work = mkdtempSync(path.join(tmpdir(), "fleetbeat-agent-work-"));
    server = await startServer({ state });
  }, 200_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(state, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it("lists its commands", async () => {
    const help = await agent(["--help"], work);
    expect(help.code).toBe(0);
    for (const command of ["register", "run", "session start", "session end", "upload", "tail", "logs"])
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
  });

  it("registers from a capsule and ships a wrapped program's output with the right levels, once each", async () => {
    const base = server.api;
    const tenant = await newTenant(server, "Agent org");
    const capsule = await api(base, "POST", "/capsules/generate", {
      token: tenant.adminKey,
      body: { project_id: tenant.projectId, device_type: "amr", environment: "testing", dsn: "AMR-CLI-1" },
    });
    const capsuleFile = path.join(work, "capsule.json");
    writeFileSync(capsuleFile, JSON.stringify(capsule.json));
    const config = path.join(work, "config");

    const reg = await agent(["register", "--capsule", capsuleFile], config);
    expect(reg.code, reg.stderr).toBe(0);
    const saved = path.join(config, "device.json");
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    const device = JSON.parse(readFileSync(saved, "utf8"));
    expect(device.device_id).toMatch(/^dev_/);

    const script = [
      "console.log('motor started');",
      "console.error('encoder lost');",
      "console.log(JSON.stringify({ level: 'warning', module: 'nav', message: 'drift 3 cm', context: { cm: 3 } }));",
      "process.exit(3);",
    ].join(" ");
    const run = await agent(["run", "--", process.execPath, "-e", script], config);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toContain("motor started");

    const lines = await allLogs(base, tenant.viewerKey, `device_id=${device.device_id}&order=asc`);
    const program = path.basename(process.execPath);
    expect(lines.map((l) => [l.level, l.module, l.message])).toEqual(
      expect.arrayContaining([
        ["INFO", program, "motor started"],
        ["ERROR", program, "encoder lost"],
        ["WARN", "nav", "drift 3 cm"],
      ]),
    );
    expect(lines).toHaveLength(3);
    expect(lines.find((l) => l.module === "nav").context).toEqual({ cm: 3 });

    // A session: lines of the commands in it belong to it, a file goes to it, and it ends.
    const started = await agent(["session", "start", "--name", "morning run"], config);
    expect(started.code, started.stderr).toBe(0);
    const sessionId = /session (\S+) started/.exec(started.stdout)![1]!;
    expect((await agent(["run", "--", process.execPath, "-e", "console.log('in the session')"], config)).code).toBe(0);
    const file = path.join(work, "pose.csv");
    writeFileSync(file, "t,x\n1,2\n");
    const up = await agent(["upload", file, "--path", "telemetry/pose.csv", "--type", "text/csv"], config);
    expect(up.code, up.stderr).toBe(0);
    const ended = await agent(["session", "end", "--status", "completed"], config);
    expect(ended.code, ended.stderr).toBe(0);
    const session = await api(base, "GET", `/sessions/${encodeURIComponent(sessionId)}`, { token: tenant.viewerKey });
    expect(session.json.session).toMatchObject({ status: "completed", total_logs: 1, name: "morning run" });
    const files = await api(base, "GET", `/sessions/${encodeURIComponent(sessionId)}/files`, {
      token: tenant.viewerKey,
    });
    expect(files.json.files).toMatchObject([{ path: "telemetry/pose.csv", size: 8, content_type: "text/csv" }]);
    expect((await agent(["upload", file], config)).code).toBe(2); // no session open any more

    // tail follows a file across rotation and truncation; every new line goes once.
    const log = path.join(work, "robot.log");
    writeFileSync(log, "before the agent started\n");
    // Node itself (not through npm, whose shell would not pass the SIGTERM on).
    const follower = spawn(
      process.execPath,
      ["--experimental-transform-types", "--no-warnings", "agent/cli.ts", "tail", log],
      {
        cwd: ROOT,
        env: { ...process.env, FLEETBEAT_CONFIG_DIR: config },
      },
    );
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await pause(2500);
    appendFileSync(log, "line 1\nline 2\n");
    await pause(1200);
    renameSync(log, `${log}.1`); // rotated
    writeFileSync(log, "line 3 after rotation\n");
    await pause(1200);
    truncateSync(log, 0); // truncated in place, as logrotate's copytruncate does, then written again
    await pause(1200);
    appendFileSync(log, "line 4 after truncation\n");
    await pause(1200);
    appendFileSync(log, `${JSON.stringify({ level: "ERROR", module: "tailed", message: "line 5 as JSON" })}\n`);
    await pause(1500);
    follower.kill("SIGTERM");
    await new Promise((r) => follower.on("close", r));
    const tailed = (await allLogs(base, tenant.viewerKey, `device_id=${device.device_id}&order=asc`)).filter((l) =>
      /^line \d/.test(l.message),
    );
    expect(tailed.map((l) => l.message)).toEqual([
      "line 1",
      "line 2",
      "line 3 after rotation",
      "line 4 after truncation",
      "line 5 as JSON",
    ]);
    expect(tailed.at(-1)).toMatchObject({ level: "ERROR", module: "tailed" });

    // logs, for people: the newest lines as NDJSON, with an org key.
    const read = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(
        "npm",
        ["run", "--silent", "agent", "--", "logs", "--device", device.device_id, "--level", "ERROR", "--json"],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            FLEETBEAT_CONFIG_DIR: config,
            FLEETBEAT_API_KEY: tenant.viewerKey,
            FLEETBEAT_URL: base.replace("/api/v1", ""),
          },
        },
      );
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.on("close", (code) => resolve({ code, stdout: out }));
    });
    expect(read.code).toBe(0);
    const printed = read.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(printed.map((l) => l.message)).toEqual(["encoder lost", "line 5 as JSON"]);
  }, 120_000);
});
