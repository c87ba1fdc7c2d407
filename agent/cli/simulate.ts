// `simulate`: a fleet of virtual devices against a server, for demos and load: each registers
// through a capsule and is driven through the agent library (agent/simulate/).
import { DATASETS, type Dataset, loadLoghub } from "../samples/loghub.ts";
import type { SampleLine } from "../samples/sample-line.ts";
import { SEND_DEFAULTS } from "../send-policy.ts";
import { type DevicePace, VirtualDevice } from "../simulate/device.ts";
import { loadDevices, type Org, profileOf, provision, type SimDevice, saveDevices } from "../simulate/fleet.ts";
import { Tally } from "../simulate/tally.ts";
import { DeviceSocket } from "../socket.ts";
import { fail, option } from "./config.ts";

const HELP = `Usage: npm run agent -- simulate --devices N --rate R [--duration S] --project <id> [options]

Drives N virtual devices against the server: each registers through a capsule, heartbeats
drifting metrics (CPU, memory, disk, a battery that drains and recharges, temperature), runs
sessions that end with two small files uploaded, logs lines replayed from the Loghub samples,
with bursts of errors now and then, and answers commands: ping, reboot (quiet for 2 s, then
{rebooted: true}), set_log_level {level} (or log-level), upload_logs (sends its spool now),
identify or locate {seconds?}; any other is rejected, naming these. Each device is an agent:
it sends its lines as the agent's send policy says (agent/README.md). Over the device socket
a command arrives the moment it is queued; over HTTPS (and while the socket reconnects) it is
asked for after a heartbeat that says one waits, or every --command-poll seconds.

  --devices N          how many devices
  --rate R             log lines a second, per device (bursts of errors come on top);
                       0: a silent device, no bursts either
  --duration S         stop after S seconds; without it, run until Ctrl-C or SIGTERM
  --project <id>       the project the devices join
  --state <file>       keep the devices' ids and keys in this file (mode 0600), and drive
                       the same devices again on the next run instead of registering new ones;
                       without it, the names carry the run ("Simulated tablet 001 (run 3f9c1a)"),
                       apart from npm start's demo fleet and any other run
  --environment E      production, testing (the default) or development
  --transport T        socket (the device WebSocket, the agent's default; HTTPS while it is
                       not open) or https
  --command-poll S     while the socket is not open (or over HTTPS), ask for commands every
                       S seconds; without it, only after a heartbeat that says some wait
  --send-every S       the send policy's own interval: a line waits at most S seconds (60)
                       unless errors, a command, someone watching, or 1,000 lines call sooner
  --flush S            send every S seconds on a fixed timer instead of the send policy
  --heartbeat S        seconds between heartbeats (the registration's interval, 30 s)
  --session-every D    a session starts every D (e.g. 90s, 30m, 24h), the first within 3 s;
                       without it, each starts 5-30 s after the previous ended
  --sessions-per-day N the same as --session-every 24h/N; 0: no sessions
  --session-length D   how long each session runs (30-120 s by default)
  --files N            files each session uploads at its end, of --file-mb each
  --file-mb M          their size in MiB (1 with --files; at most 64); without either flag,
                       a session uploads its telemetry CSV and a summary
  --burst-every S      a device starts a burst of errors every S seconds on average (600)
  --quiet              report once a minute instead of every 10 s

Durations D take s, m, h or d (seconds without a unit). For the cost workloads of issue 21:
  W-idle:    --rate 0 --sessions-per-day 0 --heartbeat 30
  W-typical: --rate 0.4 --sessions-per-day 1 --session-length 1h --files 2 --file-mb 1
  W-heavy:   --rate 100

Needs an org key with the admin role in FLEETBEAT_API_KEY (capsules need one) and the
server's origin in FLEETBEAT_URL (default http://localhost:8787). Stopping ends the open
sessions, sends what is left and prints what was sent and what the server accepted.
`;

/** Devices registered at once while the fleet is set up. */
const REGISTERING_AT_ONCE = 4;
/** How long stopping may take (ending sessions, last flushes) before the summary is printed anyway. */
const STOP_GRACE_MS = 15_000;

function numberOption(
  args: string[],
  name: string,
  opts: { integer?: boolean; max: number; zero?: boolean },
): number | undefined {
  const text = option(args, name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (
    text.trim() === "" ||
    !Number.isFinite(n) ||
    n < 0 ||
    (n === 0 && !opts.zero) ||
    n > opts.max ||
    (opts.integer && !Number.isInteger(n))
  ) {
    fail(
      `${name} needs a ${opts.integer ? "whole " : ""}number ${opts.zero ? "from 0" : "above 0"} and at most ${opts.max}, not "${text}"`,
    );
  }
  return n;
}

const UNIT_S: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** A duration like 90, 90s, 30m, 1.5h or 2d, in seconds. */
function durationOption(args: string[], name: string): number | undefined {
  const text = option(args, name);
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text);
  const seconds = m ? Number(m[1]) * UNIT_S[m[2]!]! : NaN;
  if (!(seconds > 0 && seconds <= 365 * 86_400))
    fail(`${name} needs a duration above 0 such as 90s, 30m, 24h or 2d, not "${text ?? ""}"`);
  return seconds;
}

/** How each device behaves, from the flags (see HELP). */
function paceOf(args: string[], rate: number): DevicePace {
  const flushEvery = numberOption(args, "--flush", { max: 3600 });
  const sendEvery = numberOption(args, "--send-every", { max: 3600 });
  if (flushEvery !== undefined && sendEvery !== undefined)
    fail("--flush (a fixed timer) and --send-every (the send policy's interval) exclude each other");
  const every = durationOption(args, "--session-every");
  const perDay = numberOption(args, "--sessions-per-day", { max: 86_400, zero: true });
  if (every !== undefined && perDay !== undefined)
    fail("--session-every and --sessions-per-day say the same thing: give one");
  const fileCount = numberOption(args, "--files", { integer: true, max: 100, zero: true });
  const fileMb = numberOption(args, "--file-mb", { max: 64 });
  const transport = option(args, "--transport") ?? (DeviceSocket.available() ? "socket" : "https");
  if (transport !== "socket" && transport !== "https") fail(`--transport is socket or https, not "${transport}"`);
  if (transport === "socket" && !DeviceSocket.available())
    fail("--transport socket needs a runtime with a WebSocket client (Node 22+)");
  const heartbeatEvery = numberOption(args, "--heartbeat", { max: 86_400 });
  const commandPollEvery = numberOption(args, "--command-poll", { max: 3600 });
  const sessionLength = durationOption(args, "--session-length");
  const burstEvery = numberOption(args, "--burst-every", { max: 86_400 });
  return {
    rate,
    transport,
    ...(flushEvery !== undefined ? { flushEvery } : {}),
    ...(sendEvery !== undefined ? { sendEvery } : {}),
    ...(heartbeatEvery !== undefined ? { heartbeatEvery } : {}),
    ...(commandPollEvery !== undefined ? { commandPollEvery } : {}),
    ...(every !== undefined
      ? { sessionEvery: every }
      : perDay !== undefined
        ? { sessionEvery: perDay === 0 ? Infinity : 86_400 / perDay }
        : {}),
    ...(sessionLength !== undefined ? { sessionLength } : {}),
    ...(burstEvery !== undefined ? { burstEvery } : {}),
    ...(fileCount !== undefined || fileMb !== undefined
      ? { files: { count: fileCount ?? 2, bytes: Math.round((fileMb ?? 1) * 1024 * 1024) } }
      : {}),
  };
}

/** The pace in words, for the first line it prints. */
function paceInWords(pace: DevicePace): string {
  const sends = pace.flushEvery
    ? `every ${pace.flushEvery} s`
    : `as the send policy says (a line waits at most ${pace.sendEvery ?? SEND_DEFAULTS.intervalMs / 1000} s)`;
  const sessions =
    pace.sessionEvery === Infinity
      ? "no sessions"
      : pace.sessionEvery
        ? `a session every ${pace.sessionEvery} s`
        : "sessions one after another";
  return `over ${pace.transport === "socket" ? "the device socket" : "HTTPS"}, sending ${sends}, ${sessions}`;
}

/** Each sample read once, however many devices replay it. */
const samples = new Map<Dataset, SampleLine[]>();
const sample = (d: Dataset) => samples.get(d) ?? samples.set(d, loadLoghub(d)).get(d)!;

export async function simulateCommand(args: string[]) {
  if (args.includes("--help") || args.includes("-h")) return void console.log(HELP);
  const count =
    numberOption(args, "--devices", { integer: true, max: 10_000 }) ??
    fail("simulate needs --devices N (see simulate --help)");
  const rate =
    numberOption(args, "--rate", { max: 10_000, zero: true }) ??
    fail("simulate needs --rate R, log lines a second per device (see simulate --help)");
  const duration = numberOption(args, "--duration", { max: 365 * 86_400 });
  const pace = paceOf(args, rate);
  const stateFile = option(args, "--state");
  const quiet = args.includes("--quiet");
  const org: Org = {
    backendUrl: (process.env.FLEETBEAT_URL ?? "http://localhost:8787").replace(/\/+$/, "").replace(/\/api\/v1$/, ""),
    orgKey: process.env.FLEETBEAT_API_KEY ?? fail("simulate needs an org key (admin role) in FLEETBEAT_API_KEY"),
    projectId: option(args, "--project") ?? fail("simulate needs --project <id>"),
    environment: option(args, "--environment") ?? "testing",
  };

  const stopping = new AbortController();
  let signals = 0;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (++signals > 1) process.exit(130);
      stopping.abort();
    });
  }
  // Started with an IPC channel (npm start's demo fleet): stop when the parent goes away.
  if (process.channel) process.on("disconnect", () => stopping.abort());

  const tally = new Tally();
  const started = Date.now();
  const everyone = DATASETS.flatMap(sample);
  const saved = loadDevices(stateFile, org);
  const reused = Math.min(saved.length, count);
  const run = crypto.randomUUID().slice(0, 6);
  const devices: VirtualDevice[] = [];

  /** The `i`th device: the saved one if its key still works, else one registered now (the same DSN gets a new key). */
  const deviceAt = async (i: number): Promise<VirtualDevice> => {
    let sim: SimDevice = saved[i] ?? (await provision(org, profileOf(i, { run, kept: stateFile !== undefined })));
    const drive = (d: SimDevice) =>
      new VirtualDevice(d, org.backendUrl, { own: sample(d.dataset), everyone }, pace, tally);
    let device = drive(sim);
    if (!(await device.greet())) {
      sim = await provision(org, sim);
      device = drive(sim);
      if (!(await device.greet())) throw new Error(`the server refused ${sim.dsn}'s new key`);
    }
    saved[i] = sim;
    if (stateFile) saveDevices(stateFile, org, saved);
    return device;
  };
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(REGISTERING_AT_ONCE, count) }, async () => {
        while (next < count && !stopping.signal.aborted) devices.push(await deviceAt(next++));
      }),
    );
  } catch (err) {
    // fetch's own message is "fetch failed"; its cause says what (ECONNREFUSED, …).
    const reason = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    fail(`setting up the fleet at ${org.backendUrl} failed: ${reason}`);
  }
  const kept = stateFile
    ? ` (${Math.min(reused, devices.length)} from ${stateFile}, ${Math.max(0, devices.length - reused)} registered now)`
    : "";
  console.log(
    `simulate: ${devices.length} devices${kept} in project ${org.projectId} at ${org.backendUrl}, ` +
      `${rate} lines/s each${duration ? ` for ${duration} s` : ""}, ${paceInWords(pace)}; Ctrl-C stops`,
  );

  const seconds = () => (Date.now() - started) / 1000;
  const report = setInterval(() => console.log(tally.progress(seconds(), devices.length)), (quiet ? 60 : 10) * 1000);
  const timeUp = duration ? setTimeout(() => stopping.abort(), duration * 1000) : undefined;
  await Promise.all(devices.map((d) => d.run(stopping.signal)));
  clearInterval(report);
  clearTimeout(timeUp);

  console.log("simulate: stopping: ending open sessions and sending what is left");
  const stopped = Promise.all(devices.map((d) => d.stop()));
  await Promise.race([stopped, new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
  console.log(
    tally.summary(
      seconds(),
      devices.length,
      devices.reduce((n, d) => n + d.spooled(), 0),
    ),
  );
  process.exit(0);
}
