// One virtual device, driven through the agent library as a real one would use it: it logs its
// sample's lines at the rate asked, heartbeats its drifting metrics, runs sessions that end
// with their files uploaded, answers the commands it is sent (commands.ts: ping, reboot,
// set_log_level, upload_logs, identify), and sends its lines as the agent's send policy says
// (or on a fixed timer, when it is told to), over the device socket or HTTPS. Commands arrive
// pushed on the socket at once; while it is not open they are asked for after a heartbeat that
// says some wait, and every `commandPollEvery` seconds when that is set (the demo fleet's 2 s).
import { levelNumber } from "../../src/contract/levels.ts";
import { FleetbeatAgent } from "../agent.ts";
import type { SampleLine } from "../samples/sample-line.ts";
import { DeviceSocket, type PushedCommand } from "../socket.ts";
import { MemorySpool } from "../spool.ts";
import { putArtifact } from "./artifacts.ts";
import { runSimulated, type Simulated } from "./commands.ts";
import type { SimDevice } from "./fleet.ts";
import { DriftingMetrics } from "./metrics.ts";
import { LineReplay } from "./replay.ts";
import { type FileShape, SimSession } from "./session.ts";
import type { Tally } from "./tally.ts";

const TICK_MS = 1000;
/**
 * Without a session pace: idle between sessions, and how long one runs, in seconds. The first starts soon
 * either way.
 */
const IDLE_S = { min: 5, max: 30 };
const SESSION_S = { min: 30, max: 120 };
const FIRST_SESSION_WITHIN_S = 3;
/** After a session could not start, the next try. */
const RETRY_SESSION_S = 5;
/** A session with errors in it fails this often; the others complete. */
const FAILS_AFTER_ERRORS = 0.5;
/** Flushes tried when the device stops, while the server cannot take the lines. */
const LAST_FLUSHES = 3;

const between = (range: { min: number; max: number }, random: () => number) =>
  range.min + random() * (range.max - range.min);

/** How a virtual device behaves; every field but `rate` and `transport` has today's default. */
export interface DevicePace {
  /** Routine lines a second (bursts of errors come on top); 0 is a silent device, bursts and all. */
  rate: number;
  /** Seconds between sends on a fixed timer; without it, the agent's send policy decides. */
  flushEvery?: number;
  /** The send policy's own interval, in seconds (60 by default). */
  sendEvery?: number;
  /** Seconds between heartbeats; the registration's interval by default. */
  heartbeatEvery?: number;
  /** Seconds from one session's start to the next's (Infinity: no sessions); without it, 5–30 s idle after each. */
  sessionEvery?: number;
  /** How long a session runs, in seconds; 30–120 s by default. */
  sessionLength?: number;
  /** The files each session leaves; its telemetry and summary by default. */
  files?: FileShape;
  /** The device socket (HTTPS while it is not open), or HTTPS only. */
  transport: "socket" | "https";
  /**
   * Seconds between asking for commands while the socket is not open; without it, only after a heartbeat that
   * says some wait.
   */
  commandPollEvery?: number;
  /** Seconds between bursts of errors, on average (600 by default: errors ~5% of a typical device's lines). */
  burstEvery?: number;
}

/** Resolves after `ms`, or at once when `signal` is aborted. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

export class VirtualDevice {
  private readonly spool = new MemorySpool();
  private readonly agent: FleetbeatAgent;
  private readonly socket: DeviceSocket | undefined;
  private readonly metrics: DriftingMetrics;
  private readonly replay: LineReplay;
  private session: SimSession | null = null;
  private nextSessionAt: number;
  private nextHeartbeatAt = 0;
  private nextFlushAt = 0;
  /** Whether the last heartbeat reported a burst of errors: a change is reported at once. */
  private reportedBurst = false;
  /** Whether the last flush left lines spooled: an outage is counted as one error when it starts. */
  private wasPending = false;
  /** Commands taken, so one pushed and listed too runs once. */
  private readonly taken = new Set<string>();
  /** While a simulated reboot lasts (ms since the epoch): no lines, no heartbeats. */
  private downUntil = 0;
  private nextCommandPollAt = 0;
  /** What commands may do to this device (commands.ts). */
  private readonly simulated: Simulated = {
    setLogLevel: (level) => {
      const previous = this.agent.minLevel;
      this.agent.minLevel = level;
      return previous;
    },
    uploadLogs: async () => {
      const result = await this.agent.flush({ force: true });
      this.tally.flushed(result);
      return { sent: result.sent, pending: result.pending, ...(result.reason ? { reason: result.reason } : {}) };
    },
    reboot: (ms) => {
      this.downUntil = Date.now() + ms;
      return new Promise((r) => setTimeout(r, ms));
    },
    log: (level, message) =>
      this.log({ level, module: "system", message, context: { simulated: "true" } }, Date.now() * 1000),
  };

  constructor(
    readonly device: SimDevice,
    private readonly backendUrl: string,
    lines: { own: SampleLine[]; everyone: SampleLine[] },
    private readonly pace: DevicePace,
    private readonly tally: Tally,
    private readonly random: () => number = Math.random,
  ) {
    this.socket =
      pace.transport === "socket"
        ? new DeviceSocket({
            backendUrl,
            deviceKey: device.device_key,
            onCommand: (c) => void this.answer(c),
            onOpenChange: (open) => {
              if (open) tally.socketsOpened++;
            },
          })
        : undefined;
    this.agent = new FleetbeatAgent({
      backendUrl,
      deviceKey: device.device_key,
      logUpload: device.log_upload,
      spool: this.spool,
      onRejectedBatch: () => tally.refusedBatches++,
      ...(this.socket ? { socket: this.socket } : {}),
      ...(pace.sendEvery ? { send: { intervalMs: pace.sendEvery * 1000 } } : {}),
    });
    this.metrics = new DriftingMetrics(random);
    this.replay = new LineReplay(lines.own, lines.everyone, random, pace.burstEvery);
    this.nextSessionAt =
      pace.sessionEvery === Infinity ? Infinity : Date.now() + random() * FIRST_SESSION_WITHIN_S * 1000;
  }

  /** The first heartbeat; false when the server no longer knows the device's key (it must register again). */
  async greet(): Promise<boolean> {
    try {
      await this.heartbeat(Date.now());
      return true;
    } catch (err) {
      if (err instanceof Error && /\((401|403)\)/.test(err.message)) return false;
      this.tally.failed("heartbeat", err);
      return true;
    }
  }

  /** Runs until `signal` is aborted, a step a second; the fleet's devices start spread over the first second. */
  async run(signal: AbortSignal): Promise<void> {
    this.socket?.start();
    await pause(this.random() * TICK_MS, signal);
    let last = Date.now();
    while (!signal.aborted) {
      const now = Date.now();
      await this.step((now - last) / 1000, now);
      last = now;
      await pause(TICK_MS - (Date.now() - now), signal);
    }
  }

  /** Ends the open session (aborted: it was cut short) and sends what is left, backoff or not. */
  async stop(): Promise<void> {
    if (this.session) await this.endSession(Date.now(), "aborted", { force: true });
    for (let attempt = 0; attempt < LAST_FLUSHES; attempt++) {
      if (!(await this.flush({ force: true }))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    this.socket?.stop();
  }

  /** Lines logged that the server has not answered for. */
  spooled(): number {
    return this.spool.openCount() + this.spool.sealed().reduce((n, id) => n + this.spool.read(id).length, 0);
  }

  private async step(seconds: number, now: number): Promise<void> {
    this.metrics.advance(seconds, (this.session ? 0.6 : 0.15) + (this.replay.inBurst ? 0.3 : 0));
    this.session?.record(now, this.metrics.now());
    // A simulated reboot: quiet until it is back up.
    const down = now < this.downUntil;
    const lines = this.pace.rate > 0 && !down ? this.replay.advance(seconds, this.pace.rate) : [];
    // Spread over the second they stand for, so they keep their order in the store.
    for (const [i, line] of lines.entries())
      this.log(line, Math.round((now - seconds * 1000 * (1 - (i + 1) / lines.length)) * 1000));
    if (!down && (now >= this.nextHeartbeatAt || this.replay.inBurst !== this.reportedBurst)) {
      await this.heartbeat(now).catch((err) => this.tally.failed("heartbeat", err));
    }
    // Nothing pushes commands while the socket is not open: ask for them at the pace set.
    if (this.pace.commandPollEvery !== undefined && !this.socket?.open && now >= this.nextCommandPollAt) {
      this.nextCommandPollAt = now + this.pace.commandPollEvery * 1000;
      await this.pollCommands();
    }
    if (this.session && now >= this.session.endsAt) {
      await this.endSession(
        now,
        this.session.problems > 0 && this.random() < FAILS_AFTER_ERRORS ? "failed" : "completed",
      );
    } else if (!this.session && now >= this.nextSessionAt && !this.metrics.isCharging) {
      await this.startSession(now);
    }
    if (this.pace.flushEvery === undefined) {
      // As the agent's send loop would: when the policy says (errors, live, commands, full, or the interval).
      const at = this.agent.nextSendAt();
      if (at !== null && at <= Date.now()) await this.flush();
    } else if (now >= this.nextFlushAt) {
      this.nextFlushAt = now + this.pace.flushEvery * 1000;
      await this.flush();
    }
  }

  /** Runs a command once (commands.ts) and acknowledges it; another delivery of the same one is ignored. */
  private async answer(command: PushedCommand): Promise<void> {
    if (this.taken.has(command.id)) return;
    this.taken.add(command.id);
    const outcome = await runSimulated(command.command, command.params, this.simulated);
    try {
      await this.agent.ack(this.device.device_id, command.id, outcome.status, outcome.result);
      this.tally.commands++;
    } catch (err) {
      this.tally.failed("answering a command", err);
    }
  }

  /**
   * The commands waiting for this device, by HTTPS (the server marks them delivered); each is answered
   * without holding up the device.
   */
  private async pollCommands(): Promise<void> {
    try {
      for (const command of await this.agent.commands(this.device.device_id)) void this.answer(command);
    } catch (err) {
      this.tally.failed("asking for commands", err);
    }
  }

  private log(line: SampleLine, timestampUs: number): void {
    const { level, module, message, ...extra } = line;
    // Below the level set_log_level chose, a line stays on the device (the agent drops it): not counted as logged.
    if (levelNumber(level) < levelNumber(this.agent.minLevel)) return;
    this.agent.log(level, module, message, { ...extra, timestamp_us: timestampUs });
    this.tally.logged++;
    if (this.session) {
      this.session.lines++;
      if (level === "ERROR" || level === "FATAL") this.session.problems++;
    }
  }

  private async heartbeat(now: number): Promise<void> {
    this.nextHeartbeatAt =
      now + (this.pace.heartbeatEvery ? this.pace.heartbeatEvery * 1000 : this.device.heartbeat_interval_ms);
    this.reportedBurst = this.replay.inBurst;
    const answer = await this.agent.heartbeat({
      status: this.replay.inBurst ? "error" : "online",
      metrics: { ...this.metrics.now() },
    });
    this.tally.heartbeats++;
    // Commands wait that nothing pushed (over HTTPS, or queued while the socket was being replaced): ask for them.
    if (answer.pending_commands > 0) await this.pollCommands();
  }

  private async startSession(now: number): Promise<void> {
    const length = this.pace.sessionLength ?? between(SESSION_S, this.random);
    const session = new SimSession(now + length * 1000, this.random);
    try {
      await this.agent.startSession(session.id, session.name);
      this.session = session;
      this.tally.sessionsStarted++;
      // With a pace, sessions start at its beat, however long each runs.
      if (this.pace.sessionEvery !== undefined) this.nextSessionAt = now + this.pace.sessionEvery * 1000;
    } catch (err) {
      this.tally.failed("starting a session", err);
      this.nextSessionAt = now + RETRY_SESSION_S * 1000;
    }
  }

  /** Sends the session's lines, uploads its files, then ends it. */
  private async endSession(
    now: number,
    status: "completed" | "failed" | "aborted",
    flush: { force?: boolean } = {},
  ): Promise<void> {
    const session = this.session!;
    this.session = null;
    if (this.pace.sessionEvery === undefined) this.nextSessionAt = now + between(IDLE_S, this.random) * 1000;
    await this.flush(flush);
    for (const file of session.files(status, this.pace.files)) {
      try {
        await putArtifact(this.backendUrl, this.device.device_key, session.id, file);
        this.tally.artifacts++;
        this.tally.artifactBytes += file.bytes.byteLength;
      } catch (err) {
        this.tally.failed("uploading a file", err);
      }
    }
    try {
      await this.agent.endSession(status);
      this.tally.sessionsEnded++;
    } catch (err) {
      this.tally.failed("ending a session", err);
    }
  }

  /**
   * Sends the spool, unless the agent is backing off after a failure (`force` sends anyway);
   * true when some of it could not go now.
   */
  private async flush(opts: { force?: boolean } = {}): Promise<boolean> {
    let pending: boolean;
    let reason: string | undefined;
    try {
      const result = await this.agent.flush(opts);
      this.tally.flushed(result);
      pending = result.pending;
      reason = result.reason;
    } catch (err) {
      pending = true;
      reason = err instanceof Error ? err.message : String(err);
    }
    if (pending && !this.wasPending)
      this.tally.failed(
        "sending lines",
        `${reason ?? "the server did not take them"} (they stay spooled; the agent tries again)`,
      );
    this.wasPending = pending;
    return pending;
  }
}
