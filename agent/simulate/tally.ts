// What the simulator sent and what the server made of it, summed over its devices, and how
// that is printed: a line now and then while it runs, a summary when it stops.
import type { FlushResult } from "../agent.ts";

export class Tally {
  /** Lines handed to the agents. */
  logged = 0;
  /** Lines in batches the server answered (accepted, rejected or recognised as a duplicate). */
  sent = 0;
  accepted = 0;
  rejected = 0;
  duplicateBatches = 0;
  /** Flushes that carried lines: what the send policy (or --flush) costs in requests, one batch or more each. */
  sends = 0;
  /** Batches the server refused whole (400, 409, 413, 415): never sent again. */
  refusedBatches = 0;
  heartbeats = 0;
  sessionsStarted = 0;
  sessionsEnded = 0;
  artifacts = 0;
  artifactBytes = 0;
  /** Commands answered (ping succeeds, others are rejected). */
  commands = 0;
  /** Device sockets that opened (each reconnect counts), with --transport socket. */
  socketsOpened = 0;
  /**
   * Requests that failed (a network error, a 5xx, a refusal; a spell of undelivered lines counts once): the
   * first of each kind is told on stderr.
   */
  errors = 0;
  private readonly told = new Set<string>();

  flushed(r: FlushResult): void {
    this.sent += r.sent;
    if (r.sent > 0) this.sends++;
    this.accepted += r.accepted;
    this.rejected += r.rejected;
    this.duplicateBatches += r.duplicates;
  }

  /** Counts a failure; the first of each kind (its message without numbers) is printed. */
  failed(what: string, err: unknown): void {
    this.errors++;
    // fetch's own message is "fetch failed"; its cause says what (ECONNREFUSED, …).
    const reason = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    const message = `${what}: ${reason}`;
    const kind = message.replace(/\d+/g, "#");
    if (!this.told.has(kind)) {
      this.told.add(kind);
      console.error(
        `simulate: ${message}${this.told.size === 1 ? " (further failures of a kind are counted, not printed)" : ""}`,
      );
    }
  }

  /** One line for the periodic report. */
  progress(seconds: number, devices: number): string {
    return (
      `simulate [${Math.round(seconds)} s] ${devices} devices: lines ${this.logged} logged, ${this.accepted} accepted, ${this.rejected} rejected, in ${this.sends} sends; ` +
      `${this.heartbeats} heartbeats; sessions ${this.sessionsStarted} started, ${this.sessionsEnded} ended; ${this.artifacts} artifacts; ${this.errors} errors`
    );
  }

  /** The closing summary; `spooled` is what the agents still held, undelivered. */
  summary(seconds: number, devices: number, spooled: number): string {
    return [
      `simulate: stopped after ${seconds.toFixed(1)} s with ${devices} devices`,
      `  lines:      ${this.logged} logged, ${this.sent} sent, ${this.accepted} accepted, ${this.rejected} rejected, ${this.duplicateBatches} duplicate batches, ${this.refusedBatches} refused batches, ${spooled} not delivered`,
      `  sends:      ${this.sends} flushes carried lines (${this.sends ? Math.round(this.sent / this.sends) : 0} lines each on average)`,
      `  heartbeats: ${this.heartbeats}`,
      `  sessions:   ${this.sessionsStarted} started, ${this.sessionsEnded} ended`,
      `  artifacts:  ${this.artifacts} uploaded (${this.artifactBytes} bytes)`,
      `  commands:   ${this.commands} answered`,
      `  sockets:    ${this.socketsOpened} opened`,
      `  errors:     ${this.errors}`,
    ].join("\n");
  }
}
