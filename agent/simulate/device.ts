// One virtual device, driven through the agent library as a real one would use it: it logs its
// sample's lines at the rate asked, heartbeats its drifting metrics, runs sessions that end
// with their files uploaded, and flushes every second (or as often as it is told).
import { FleetbeatAgent } from "../agent.ts";
import type { SampleLine } from "../samples/sample-line.ts";
import { MemorySpool } from "../spool.ts";
import { putArtifact } from "./artifacts.ts";
import type { SimDevice } from "./fleet.ts";
import { DriftingMetrics } from "./metrics.ts";
import { LineReplay } from "./replay.ts";
import { SimSession } from "./session.ts";
import type { Tally } from "./tally.ts";

const TICK_MS = 1000;
/** Idle between sessions, and how long one runs, in seconds; the first starts soon. */
const IDLE_S = { min: 5, max: 30 };
const SESSION_S = { min: 30, max: 120 };
const FIRST_SESSION_WITHIN_S = 3;
/** A session with errors in it fails this often; the others complete. */
const FAILS_AFTER_ERRORS = 0.5;
/** Flushes tried when the device stops, while the server cannot take the lines. */
const LAST_FLUSHES = 3;

const between = (range: { min: number; max: number }, random: () => number) => range.min + random() * (range.max - range.min);

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

  constructor(
    readonly device: SimDevice,
    private readonly backendUrl: string,
    lines: { own: SampleLine[]; everyone: SampleLine[] },
    private readonly pace: { /** Routine lines a second. */ rate: number; /** Seconds between flushes. */ flushEvery: number },
    private readonly tally: Tally,
    private readonly random: () => number = Math.random,
  ) {
    this.agent = new FleetbeatAgent({
      backendUrl,
      deviceKey: device.device_key,
      logUpload: device.log_upload,
      spool: this.spool,
      onRejectedBatch: () => tally.refusedBatches++,
    });
    this.metrics = new DriftingMetrics(random);
    this.replay = new LineReplay(lines.own, lines.everyone, random);
    this.nextSessionAt = Date.now() + random() * FIRST_SESSION_WITHIN_S * 1000;
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
  }

  /** Lines logged that the server has not answered for. */
  spooled(): number {
    return this.spool.openCount() + this.spool.sealed().reduce((n, id) => n + this.spool.read(id).length, 0);
  }

  private async step(seconds: number, now: number): Promise<void> {
    this.metrics.advance(seconds, (this.session ? 0.6 : 0.15) + (this.replay.inBurst ? 0.3 : 0));
    this.session?.record(now, this.metrics.now());
    const lines = this.replay.advance(seconds, this.pace.rate);
    // Spread over the second they stand for, so they keep their order in the store.
    lines.forEach((line, i) => this.log(line, Math.round((now - seconds * 1000 * (1 - (i + 1) / lines.length)) * 1000)));
    if (now >= this.nextHeartbeatAt || this.replay.inBurst !== this.reportedBurst) {
      await this.heartbeat(now).catch((err) => this.tally.failed("heartbeat", err));
    }
    if (this.session && now >= this.session.endsAt) {
      await this.endSession(now, this.session.problems > 0 && this.random() < FAILS_AFTER_ERRORS ? "failed" : "completed");
    } else if (!this.session && now >= this.nextSessionAt && !this.metrics.isCharging) {
      await this.startSession(now);
    }
    if (now >= this.nextFlushAt) {
      this.nextFlushAt = now + this.pace.flushEvery * 1000;
      await this.flush();
    }
  }

  private log(line: SampleLine, timestampUs: number): void {
    const { level, module, message, ...extra } = line;
    this.agent.log(level, module, message, { ...extra, timestamp_us: timestampUs });
    this.tally.logged++;
    if (this.session) {
      this.session.lines++;
      if (level === "ERROR" || level === "FATAL") this.session.problems++;
    }
  }

  private async heartbeat(now: number): Promise<void> {
    this.nextHeartbeatAt = now + this.device.heartbeat_interval_ms;
    this.reportedBurst = this.replay.inBurst;
    await this.agent.heartbeat({ status: this.replay.inBurst ? "error" : "online", metrics: { ...this.metrics.now() } });
    this.tally.heartbeats++;
  }

  private async startSession(now: number): Promise<void> {
    const session = new SimSession(now + between(SESSION_S, this.random) * 1000, this.random);
    try {
      await this.agent.startSession(session.id, session.name);
      this.session = session;
      this.tally.sessionsStarted++;
    } catch (err) {
      this.tally.failed("starting a session", err);
      this.nextSessionAt = now + IDLE_S.min * 1000;
    }
  }

  /** Sends the session's lines, uploads its files, then ends it. */
  private async endSession(now: number, status: "completed" | "failed" | "aborted", flush: { force?: boolean } = {}): Promise<void> {
    const session = this.session!;
    this.session = null;
    this.nextSessionAt = now + between(IDLE_S, this.random) * 1000;
    await this.flush(flush);
    for (const file of session.files(status)) {
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
    if (pending && !this.wasPending) this.tally.failed("sending lines", `${reason ?? "the server did not take them"} (they stay spooled; the agent tries again)`);
    this.wasPending = pending;
    return pending;
  }
}
