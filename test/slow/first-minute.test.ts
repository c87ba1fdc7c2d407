// The README run as written, with the demo fleet on, as a newcomer would: a fresh `npm start`
// on a free port with its own state (FLEETBEAT_STATE), the `export` line it prints, then each
// section's shell blocks as one `bash -euo pipefail` script: "A device's first minute" (in its
// own org, Acme Robotics, which leaves the export line's names alone), the device agent, alerts
// (ending by deleting its rule), OpenTelemetry and Grafana, and the stats with today's row.
// agent/README.md's complete example too. Last, the terminal: quiet enough that the line to
// paste is still in sight. Plain Node: this starts the real server.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, freshEnv, type Server, startServer } from "./support/server.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** The fenced blocks of one language in the part of a markdown file under `heading` (up to the next `## `). */
function blocks(file: string, heading: string | null, lang: string): string[] {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  const part = heading === null ? text : text.split(/^## /m).find((s) => s.startsWith(`${heading}\n`));
  if (part === undefined) throw new Error(`${file} has no section "## ${heading}"`);
  return [...part.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, "gm"))].map((m) => m[1]!);
}

function run(script: string, cwd: string, timeoutMs: number) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], {
      cwd,
      env: freshEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code: number | null) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A directory shaped like the repository (agent/, node_modules, package.json), where a section may write its files. */
function workDir(): string {
  const work = mkdtempSync(path.join(tmpdir(), "fleetbeat-readme-"));
  symlinkSync(path.join(ROOT, "agent"), path.join(work, "agent"));
  symlinkSync(path.join(ROOT, "node_modules"), path.join(work, "node_modules"));
  writeFileSync(path.join(work, "package.json"), readFileSync(path.join(ROOT, "package.json")));
  return work;
}

/** A port nothing listens on now, for the alerts example's receiver (9000 in the README may be taken here). */
function anyFreePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Every line of `text` that is a JSON object, parsed, in order. */
const jsonLines = (text: string): any[] =>
  text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));

describe("the README's first minute, against a fresh `npm start`", () => {
  let server: Server;
  let exportLine = "";
  let state = "";

  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-first-minute-"));
    // Its own process group, so stopping it stops wrangler and workerd beneath it.
    server = await startServer({ state, demo: true });
    exportLine = server.exportLine;
    expect(exportLine).toContain(`B=http://localhost:${server.port}/api/v1 `);
  }, 200_000);

  afterAll(async () => {
    await server?.stop();
    if (state) rmSync(state, { recursive: true, force: true });
  }, 30_000);

  it("runs top to bottom: every step answers as the README says", async () => {
    const steps = blocks("README.md", "A device's first minute", "sh");
    expect(steps.length).toBeGreaterThanOrEqual(3);
    // Acme Robotics gets names of its own; the export line's (the demo org's) are never set again.
    const script = steps.join("\n");
    expect(script).toMatch(/^ACME_KEY=\$\(pick api_key\.key\)$/m);
    expect(script).toMatch(/^ACME_PROJECT=\$\(pick project\.id\)$/m);
    expect(script).not.toMatch(/\b(ORG_KEY|PROJECT_ID)=/);
    expect(script).not.toMatch(/\$(ORG_KEY|PROJECT_ID)\b/);
    const { code, stdout, stderr } = await run(
      [exportLine, script, 'echo "names after: $ORG_KEY $PROJECT_ID $ACME_PROJECT"'].join("\n"),
      ROOT,
      120_000,
    );
    expect(code, `the script failed:\n${stdout}\n${stderr}`).toBe(0);
    const after = /^names after: (\S+) (\S+) (\S+)$/m.exec(stdout);
    expect(after?.slice(1, 3)).toEqual([server.vars.ORG_KEY, server.vars.PROJECT_ID]);
    expect(after?.[3]).not.toBe(server.vars.PROJECT_ID);

    const answers = jsonLines(stdout);
    // The main flow answers in order; the live viewer's frames interleave with the last ingest.
    const expected: [string, (a: any) => boolean][] = [
      ["1. org with its first admin key", (a) => a.org?.id?.startsWith("org_") && a.api_key?.key?.startsWith("fbk_")],
      ["2. project", (a) => a.project?.id?.startsWith("prj_")],
      [
        "2. capsule",
        (a) => a.capsule?.device?.environment === "production" && a.capsule.fleet.registration_token.startsWith("fbr_"),
      ],
      ["3. registration", (a) => a.device_id?.startsWith("dev_") && a.device_key?.startsWith("fbd_")],
      ["4. heartbeat", (a) => typeof a.server_time === "string" && a.pending_commands === 0],
      ["5. command queued", (a) => a.command?.status === "queued"],
      ["6. poll delivers it", (a) => a.commands?.length === 1 && a.commands[0].status === "delivered"],
      ["6. ack succeeds", (a) => a.command?.status === "succeeded"],
      ["7. session opened", (a) => a.session?.session_id === "run-1"],
      ["7. ingest accepted 1", (a) => a.accepted === 1 && a.rejected.length === 0 && a.duplicate === false],
      ["8. search finds it", (a) => a.logs?.length === 1 && a.logs[0].message === "gripper stalled"],
      ["9. file uploaded", (a) => a.path === "telemetry/pose.csv" && a.size === 8 && typeof a.etag === "string"],
      [
        "9. files listed",
        (a) =>
          a.files?.length === 1 && a.files[0].path === "telemetry/pose.csv" && a.files[0].content_type === "text/csv",
      ],
      ["10. sessions with counts", (a) => a.sessions?.[0]?.total_logs === 1 && a.sessions[0].error_count === 1],
      [
        "10. usage",
        (a) =>
          a.logs === 1 && a.commands === 1 && a.heartbeats === 1 && a.artifact_bytes === 8 && a.storage_bytes === 8,
      ],
      ["11. tail ticket", (a) => typeof a.ticket === "string" && a.ticket.includes(".fbt_")],
    ];
    let at = 0;
    for (const [step, matches] of expected) {
      const found = answers.findIndex((a, i) => i >= at && matches(a));
      expect(found, `${step}: not found in order in\n${stdout}`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
    const tail = answers.slice(at);
    expect(
      tail.some((a) => a.type === "ready"),
      `11. the viewer connects:\n${stdout}`,
    ).toBe(true);
    expect(
      tail.some((a) => a.accepted === 1),
      "11. the second batch is accepted",
    ).toBe(true);
    expect(
      tail.some((a) => a.type === "logs" && a.logs.some((l: any) => l.message === "gripper lost")),
      `11. the live viewer gets the line:\n${stdout}`,
    ).toBe(true);
    // 9. the download is the file; the bundle is a zip of some size
    expect(stdout).toMatch(/^t,x\n1,2\n/m);
    expect(stdout).toMatch(/^run-1\.zip: \d+ bytes$/m);
    // 8. the export is CSV with the line in it
    expect(stdout).toMatch(/^id,timestamp,device_id,session_id,level,module,/m);
    expect(stdout).toMatch(/^dev_\w+:1,.*,run-1,ERROR,arm,,gripper stalled,/m);
  }, 180_000);

  it("agent/README.md's example registers, heartbeats and ships its line, as written", async () => {
    const [example] = blocks("agent/README.md", null, "ts");
    const [commands] = blocks("agent/README.md", null, "sh");
    // A copy of the repository's shape: first-device.ts beside agent/, with the project's Node 22.
    const work = workDir();
    try {
      writeFileSync(path.join(work, "first-device.ts"), example!);
      const { code, stdout, stderr } = await run(`${exportLine}\n${commands}`, work, 120_000);
      expect(code, `the example failed:\n${stdout}\n${stderr}`).toBe(0);
      expect(stdout).toMatch(/^device dev_\w+ in project prj_\w+$/m);
      expect(stdout).toContain("flushed { sent: 1, accepted: 1, duplicates: 0, rejected: 0, pending: false }");

      // The device it registered is in the capsule's environment, "dev" stored as its full name.
      const deviceId = /^device (dev_\w+)/m.exec(stdout)![1];
      const vars = Object.fromEntries(
        exportLine
          .slice("export ".length)
          .split(" ")
          .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
      );
      const res = await fetch(`${vars.B}/fleet/devices/${deviceId}`, {
        headers: { authorization: `Bearer ${vars.ORG_KEY}` },
      });
      const { device } = (await res.json()) as any;
      expect(device).toMatchObject({ dsn: "AMR-0002", environment: "development" });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 180_000);

  it("the device agent: registers, wraps a program and reads its error line back", async () => {
    const [commands] = blocks("README.md", "The device agent", "bash");
    const work = workDir();
    try {
      const { code, stdout, stderr } = await run(`${exportLine}\n${commands}`, work, 120_000);
      expect(code, `the section failed:\n${stdout}\n${stderr}`).toBe(0);
      expect(stdout).toMatch(/ERROR\s+dev_\w+ .*encoder lost$/m);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 150_000);

  it("alerts: the receiver hears the demo fleet's error burst, and the example deletes its rule", async () => {
    const [receiver] = blocks("README.md", "Alerts", "js");
    const [commands] = blocks("README.md", "Alerts", "bash");
    const port = String(await anyFreePort());
    const work = workDir();
    try {
      writeFileSync(path.join(work, "receiver.mjs"), receiver!.replaceAll("9000", port));
      const { code, stdout, stderr } = await run(`${exportLine}\n${commands!.replaceAll("9000", port)}`, work, 120_000);
      expect(code, `the section failed:\n${stdout}\n${stderr}`).toBe(0);
      expect(stdout).toMatch(/^firing Error burst \S/m);
      const [alerts] = jsonLines(stdout);
      expect(alerts.alerts.length, stdout).toBeGreaterThan(0);
      expect(stdout).toMatch(/^rule deleted: 204$/m);
      const rules = await api(server.api, "GET", `/alert-rules?project_id=${server.vars.PROJECT_ID}`, {
        token: server.vars.ORG_KEY,
      });
      expect(rules.json.rules.filter((r: any) => r.name === "Error burst")).toEqual([]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 150_000);

  it("OpenTelemetry and Grafana: an OTLP record is found, Loki and the scrape answer", async () => {
    const steps = blocks("README.md", "OpenTelemetry and Grafana", "bash");
    expect(steps).toHaveLength(2);
    const { code, stdout, stderr } = await run([exportLine, ...steps].join("\n"), ROOT, 90_000);
    expect(code, `the section failed:\n${stdout}\n${stderr}`).toBe(0);
    const answers = jsonLines(stdout);
    expect(answers.some((a) => a.logs?.[0]?.message === "path blocked at dock 4")).toBe(true);
    expect(answers.some((a) => a.status === "success" && a.data?.resultType === "streams")).toBe(true);
    expect(stdout).toMatch(/^fleetbeat_\w+/m);
  }, 120_000);

  it("stats: the jobs write finished days only, and include_today adds today's row, not final", async () => {
    const [commands] = blocks("README.md", "Usage, tiers and stats", "bash");
    const { code, stdout, stderr } = await run(`${exportLine}\n${commands}`, ROOT, 60_000);
    expect(code, `the section failed:\n${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/^ok$/m);
    // The bare trigger wrangler's banner suggests ran the jobs (it used to find none for cron ""):
    // the queue's consumer took their messages.
    expect(server.output()).not.toContain("no job for cron");
    expect(server.output()).toMatch(/^\[wrangler:info\] QUEUE fleetbeat-jobs \d+\/\d+/m);
    const [finished, withToday] = jsonLines(stdout);
    const today = new Date().toISOString().slice(0, 10);
    expect(finished.days.some((d: any) => d.date === today)).toBe(false);
    const last = withToday.days.at(-1);
    expect(last).toMatchObject({ date: today, project_id: server.vars.PROJECT_ID, final: false });
    // The demo fleet has been sending since the server started.
    expect(last.logs).toBeGreaterThan(0);
  }, 90_000);

  it("leaves the terminal quiet: the line to paste is among its last 20 lines", () => {
    const lines = server
      .output()
      .split("\n")
      .filter((l, i, all) => i < all.length - 1 || l !== "");
    const last = lines.slice(-20);
    expect(last, `the last 20 lines:\n${last.join("\n")}`).toContain(exportLine);
    // The migrations in one line, and none of wrangler's per-request lines (the demo fleet makes a few a second).
    expect(lines.some((l) => /^D1: (\d+ migrations applied|up to date)/.test(l))).toBe(true);
    expect(lines.filter((l) => /^│ \d+_\S+\.sql/.test(l))).toEqual([]);
    expect(lines.filter((l) => /^\[wrangler:info\] (GET|POST|PUT|PATCH|DELETE) \S+ [1-4]\d\d /.test(l))).toEqual([]);
  });

  it("stops the demo fleet first on Ctrl-C: it delivers all it holds, then the server stops", async () => {
    const gone = await server.interrupt();
    const out = server.output();
    expect(gone, `still running after 40 s:\n${out.slice(-3000)}`).toBe(true);
    const summary = /^simulate: stopped after [\s\S]*?^ {2}errors: +\d+$/m.exec(out);
    expect(summary?.[0], out.slice(-3000)).toMatch(/^ {2}lines: .*, 0 not delivered$/m);
    expect(out.indexOf("stopping the demo fleet")).toBeLessThan(summary!.index);
    expect(out.lastIndexOf("stopping the server")).toBeGreaterThan(summary!.index);
  }, 60_000);
});
