// The README's "A device's first minute", run as written: a fresh `npm start` on a free port
// with its own state (FLEETBEAT_STATE), the `export` line it prints, then every shell block of
// that section as one `bash -euo pipefail` script. Then agent/README.md's complete example
// against the same server. Plain Node: this starts the real server, as a newcomer would.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Server, freshEnv, startServer } from "./support/server.ts";

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
    const { code, stdout, stderr } = await run([exportLine, ...steps].join("\n"), ROOT, 120_000);
    expect(code, `the script failed:\n${stdout}\n${stderr}`).toBe(0);

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
    const work = mkdtempSync(path.join(tmpdir(), "fleetbeat-agent-"));
    try {
      symlinkSync(path.join(ROOT, "agent"), path.join(work, "agent"));
      symlinkSync(path.join(ROOT, "node_modules"), path.join(work, "node_modules"));
      writeFileSync(path.join(work, "package.json"), readFileSync(path.join(ROOT, "package.json")));
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
});
