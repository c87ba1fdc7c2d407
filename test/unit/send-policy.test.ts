// When the agent sends its logs (agent/send-policy.ts): the rules of issue 21, on a clock the
// test moves by hand.
import { describe, expect, it } from "vitest";
import { SEND_DEFAULTS, SendScheduler } from "../../agent/send-policy";

const T0 = Date.parse("2026-03-01T12:00:00Z");
const s = (seconds: number) => T0 + seconds * 1000;

/** A send at `at` that delivered everything (or, `pending`, nothing, until `retryAt`). */
function send(p: SendScheduler, at: number, result: { pending: boolean; retryAt?: number } = { pending: false }) {
  p.sendStarted(at);
  p.sendFinished(at, result);
}

describe("the send policy", () => {
  it("has nothing to send while nothing waits, and lets routine lines wait the agent's own minute", () => {
    const p = new SendScheduler();
    expect(p.nextSendAt(s(0))).toBeNull();
    p.logged(s(0), 100, false);
    p.logged(s(20), 100, false);
    expect(p.nextSendAt(s(20))).toBe(s(60));
    expect(p.due(s(59.9))).toBe(false);
    expect(p.due(s(60))).toBe(true);
    expect(p.pace(s(60))).toEqual({ intervalMs: 60_000, mode: "own" });
    send(p, s(60));
    expect(p.nextSendAt(s(61))).toBeNull();
    // The next line waits its own minute, from when it was logged.
    p.logged(s(90), 100, false);
    expect(p.nextSendAt(s(90))).toBe(s(150));
  });

  it("takes an interval of its own, a short one too (config.json's flush_ms may say 100 ms)", () => {
    const p = new SendScheduler({ intervalMs: 30_000 });
    p.logged(s(0), 10, false);
    expect(p.nextSendAt(s(0))).toBe(s(30));
    const short = new SendScheduler({ intervalMs: 500 });
    expect(short.pace(s(0)).intervalMs).toBe(500);
  });

  it("sends at once when 1,000 lines or 256 KiB are waiting", () => {
    const lines = new SendScheduler();
    for (let i = 0; i < 999; i++) lines.logged(s(1), 50, false);
    expect(lines.due(s(1))).toBe(false);
    lines.logged(s(1), 50, false);
    expect(lines.nextSendAt(s(1))).toBe(s(1));

    const bytes = new SendScheduler();
    bytes.logged(s(1), 200 * 1024, false);
    expect(bytes.due(s(1))).toBe(false);
    bytes.logged(s(2), 56 * 1024, false);
    expect(bytes.due(s(2))).toBe(true);
    expect(SEND_DEFAULTS).toMatchObject({ maxLines: 1000, maxBytes: 256 * 1024 });
  });

  it("sends an ERROR or FATAL line at once, and a storm of them at most once a second", () => {
    const p = new SendScheduler();
    p.logged(s(0), 10, false);
    p.logged(s(5), 10, true);
    expect(p.nextSendAt(s(5))).toBe(s(5));
    send(p, s(5));
    p.logged(s(5.2), 10, true);
    expect(p.nextSendAt(s(5.2))).toBe(s(6));
    send(p, s(6));
    p.logged(s(30), 10, true);
    expect(p.nextSendAt(s(30))).toBe(s(30));
  });

  it("sends every second while the server says someone watches, and slows down when it stops saying so", () => {
    const p = new SendScheduler();
    expect(p.heard({ live: true, send_interval_s: 1 })).toBe(true);
    expect(p.pace(s(0))).toEqual({ intervalMs: 1000, mode: "live" });
    p.logged(s(0), 10, false);
    expect(p.nextSendAt(s(0))).toBe(s(1));
    // Live means every second, whatever interval comes with it.
    expect(p.heard({ live: true, send_interval_s: 5 })).toBe(true);
    expect(p.pace(s(0)).intervalMs).toBe(1000);
    expect(p.heard({ live: true, send_interval_s: 5 })).toBe(false);

    p.heard({ live: false, send_interval_s: 30 });
    expect(p.pace(s(0))).toEqual({ intervalMs: 30_000, mode: "server" });
    expect(p.nextSendAt(s(0))).toBe(s(30));
  });

  it("follows the server's send_interval_s, within its fast beat and its own interval", () => {
    const p = new SendScheduler();
    p.heard({ live: false, send_interval_s: 600 });
    expect(p.pace(s(0))).toEqual({ intervalMs: 60_000, mode: "server" });
    p.heard({ live: false, send_interval_s: 0.1 });
    expect(p.pace(s(0)).intervalMs).toBe(1000);
    p.heard({ live: false, send_interval_s: 45 });
    expect(p.pace(s(0)).intervalMs).toBe(45_000);
  });

  it("takes an answer without the fields (an older server) as the agent's own default", () => {
    const p = new SendScheduler();
    p.heard({ live: true, send_interval_s: 1 });
    expect(p.heard({})).toBe(true);
    expect(p.pace(s(0))).toEqual({ intervalMs: 60_000, mode: "own" });
    // Nonsense is not a pace.
    p.heard({ live: "yes", send_interval_s: -4 });
    expect(p.pace(s(0)).mode).toBe("own");
    p.heard({ send_interval_s: Number.NaN });
    expect(p.pace(s(0)).mode).toBe("own");
  });

  it("sends every second while a command is pending, and for a little while after its acknowledgement", () => {
    const p = new SendScheduler();
    p.logged(s(0), 10, false);
    expect(p.nextSendAt(s(5))).toBe(s(60));
    p.commandReceived("cmd-1");
    expect(p.pace(s(5)).mode).toBe("command");
    // The line logged before the command has waited more than a second already: it goes now.
    expect(p.nextSendAt(s(5))).toBe(s(1));
    send(p, s(5));
    p.commandAnswered("cmd-1", s(100));
    p.logged(s(101), 10, false);
    expect(p.nextSendAt(s(101))).toBe(s(102));
    const lingerEnds = 100 + SEND_DEFAULTS.commandLingerMs / 1000;
    expect(p.pace(s(lingerEnds - 0.1)).mode).toBe("command");
    expect(p.pace(s(lingerEnds))).toEqual({ intervalMs: 60_000, mode: "own" });

    // The same command delivered again (a poll after the push) does not hold the pace fast.
    p.commandReceived("cmd-1");
    expect(p.pace(s(lingerEnds)).mode).toBe("own");
  });

  it("holds the pace fast while any of several commands is pending", () => {
    const p = new SendScheduler({ commandLingerMs: 0 });
    p.commandReceived("a");
    p.commandReceived("b");
    p.commandAnswered("a", s(1));
    expect(p.pace(s(2)).mode).toBe("command");
    p.commandAnswered("b", s(3));
    expect(p.pace(s(3)).mode).toBe("own");
  });

  it("keeps what a failed send took waiting, and tries again when the backoff says", () => {
    const p = new SendScheduler();
    p.logged(s(0), 10, false);
    p.sendStarted(s(60));
    p.logged(s(61), 10, false);
    p.sendFinished(s(62), { pending: true, retryAt: s(64) });
    expect(p.nextSendAt(s(62))).toBe(s(64));
    // An error line does not jump the backoff: the server asked to wait.
    p.logged(s(63), 10, true);
    expect(p.nextSendAt(s(63))).toBe(s(64));
    send(p, s(64));
    expect(p.nextSendAt(s(64))).toBeNull();

    // Without a backoff (retryAt unknown), the next try is a fast beat later.
    const q = new SendScheduler();
    q.logged(s(0), 10, false);
    send(q, s(60), { pending: true });
    expect(q.nextSendAt(s(60))).toBe(s(61));
  });

  it("does not forget lines logged while a send was under way", () => {
    const p = new SendScheduler();
    p.logged(s(0), 10, false);
    p.sendStarted(s(60));
    p.logged(s(60.5), 10, false);
    p.sendFinished(s(61), { pending: false });
    expect(p.nextSendAt(s(61))).toBe(s(120.5));
  });
});
