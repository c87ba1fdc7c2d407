// The agent's send loop (FleetbeatAgent.startSending) against a fake server that can say
// `live` and `send_interval_s`, or say nothing as an older server does, over HTTPS and over a
// device socket of its own; time is vitest's fake clock, moved by hand.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type AgentSocket, FleetbeatAgent } from "../../agent/agent";
import type { ServerHint } from "../../agent/send-policy";
import type { PushedFrame, SocketAnswer } from "../../agent/socket";
import { MemorySpool } from "../../agent/spool";

const BACKEND = "http://fleet.test";

/** What the fake server saw: each batch with the time it came, its id and its messages. */
function fakeServer() {
  const state = {
    batches: [] as { at: number; id: string; messages: string[] }[],
    /** The batch id of every ingest tried, taken or not. */
    tried: [] as string[],
    /** What heartbeat and ingest answers carry; {} is an older server. */
    hint: {} as ServerHint,
    queued: [] as { id: string; command: string; params: unknown }[],
    acked: [] as string[],
    /** Ingests to refuse with a 503 before taking any. */
    failing: 0,
  };
  const fetch = async (r: Request): Promise<Response> => {
    const path = new URL(r.url).pathname;
    if (path.endsWith("/logs/ingest")) {
      const body = (await r.json()) as { batch_id: string; logs: { message: string }[] };
      state.tried.push(body.batch_id);
      if (state.failing > 0) {
        state.failing--;
        return Response.json({ error: { code: "internal", message: "down" } }, { status: 503 });
      }
      state.batches.push({ at: Date.now(), id: body.batch_id, messages: body.logs.map((l) => l.message) });
      return Response.json({ accepted: body.logs.length, rejected: [], duplicate: false, ...state.hint });
    }
    if (path.endsWith("/fleet/heartbeat"))
      return Response.json({
        server_time: new Date().toISOString(),
        pending_commands: state.queued.length,
        ...state.hint,
      });
    if (path.endsWith("/commands") && r.method === "GET") return Response.json({ commands: state.queued.splice(0) });
    if (path.endsWith("/ack")) {
      state.acked.push(path.split("/").at(-2)!);
      return Response.json({ ok: true });
    }
    return Response.json({ error: { code: "not_found", message: path } }, { status: 404 });
  };
  return { state, fetch };
}

/** A device socket that is always open and answers as the fake server's socket would; `push` stands for the server pushing a frame. */
function fakeSocket(server: ReturnType<typeof fakeServer>) {
  const listeners = new Set<(frame: PushedFrame) => void>();
  let id = 0;
  const socket: AgentSocket = {
    open: true,
    async request(frame): Promise<SocketAnswer> {
      const { type, ...body } = frame as { type: string; batch_id: string; logs: { message: string }[] };
      if (type === "logs")
        server.state.batches.push({ at: Date.now(), id: body.batch_id, messages: body.logs.map((l) => l.message) });
      if (type === "command_ack") server.state.acked.push(String((body as Record<string, unknown>).command_id));
      const answer =
        type === "logs"
          ? { accepted: body.logs.length, rejected: [], duplicate: false, ...server.state.hint }
          : type === "heartbeat"
            ? { server_time: "", pending_commands: 0, ...server.state.hint }
            : {};
      return { type: "ack", id: ++id, of: type, ...answer };
    },
    onPush(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return {
    socket,
    push: (frame: PushedFrame) => {
      for (const l of listeners) l(frame);
    },
  };
}

const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe("the agent's send loop", () => {
  let agent: FleetbeatAgent | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.parse("2026-03-01T12:00:00Z") });
  });
  afterEach(() => {
    agent?.stop();
    vi.useRealTimers();
  });

  function newAgent(
    server: ReturnType<typeof fakeServer>,
    extra: Partial<ConstructorParameters<typeof FleetbeatAgent>[0]> = {},
  ) {
    agent = new FleetbeatAgent({
      backendUrl: BACKEND,
      deviceKey: "fbd_test",
      spool: new MemorySpool(),
      fetch: server.fetch,
      gzip: false,
      ...extra,
    });
    return agent;
  }

  it("sends routine lines together a minute after the first, when the server says nothing of a pace", async () => {
    const server = fakeServer();
    const a = newAgent(server);
    a.startSending();
    a.log("INFO", "nav", "one");
    await advance(30_000);
    a.log("INFO", "nav", "two");
    await advance(29_900);
    expect(server.state.batches).toEqual([]);
    await advance(100);
    expect(server.state.batches.map((b) => b.messages)).toEqual([["one", "two"]]);
    // A heartbeat from an older server leaves the agent on its own minute.
    await a.heartbeat();
    expect(a.pace()).toEqual({ intervalMs: 60_000, mode: "own" });
  });

  it("sends an ERROR line at once, with the routine lines waiting before it", async () => {
    const server = fakeServer();
    const a = newAgent(server);
    a.startSending();
    a.log("INFO", "arm", "routine");
    await advance(5_000);
    a.log("ERROR", "arm", "gripper stalled");
    await advance(0);
    expect(server.state.batches.map((b) => b.messages)).toEqual([["routine", "gripper stalled"]]);
    // A FATAL right after waits for the next second, not for the minute.
    a.log("FATAL", "arm", "arm lost");
    await advance(999);
    expect(server.state.batches).toHaveLength(1);
    await advance(1);
    expect(server.state.batches.at(-1)!.messages).toEqual(["arm lost"]);
  });

  it("sends at once when 1,000 lines are waiting", async () => {
    const server = fakeServer();
    const a = newAgent(server);
    a.startSending();
    for (let i = 0; i < 1000; i++) a.log("INFO", "lidar", `scan ${i}`);
    await advance(0);
    expect(server.state.batches.flatMap((b) => b.messages)).toHaveLength(1000);
  });

  it("sends every second while a heartbeat or a batch's answer says live, and goes back to the minute when it stops", async () => {
    const server = fakeServer();
    const a = newAgent(server);
    a.startSending();
    server.state.hint = { live: true, send_interval_s: 1 };
    await a.heartbeat();
    expect(a.pace().mode).toBe("live");
    for (let i = 0; i < 3; i++) {
      a.log("INFO", "nav", `watched ${i}`);
      await advance(1000);
    }
    expect(server.state.batches.map((b) => b.messages)).toEqual([["watched 0"], ["watched 1"], ["watched 2"]]);

    // The viewer leaves: the next batch's answer says so, and lines wait the server's interval again.
    server.state.hint = { live: false, send_interval_s: 45 };
    a.log("INFO", "nav", "last watched");
    await advance(1000);
    expect(a.pace()).toEqual({ intervalMs: 45_000, mode: "server" });
    a.log("INFO", "nav", "unwatched");
    await advance(44_000);
    expect(server.state.batches.at(-1)!.messages).toEqual(["last watched"]);
    await advance(1000);
    expect(server.state.batches.at(-1)!.messages).toEqual(["unwatched"]);
  });

  it("follows the socket's pushed live frames, and sends its batches over the socket", async () => {
    const server = fakeServer();
    const { socket, push } = fakeSocket(server);
    const a = newAgent(server, { socket, fetch: () => Promise.reject(new Error("no HTTP while the socket is open")) });
    a.startSending();
    a.log("INFO", "cam", "before anyone looked");
    await advance(10_000);
    expect(server.state.batches).toEqual([]);
    // Someone opens the live tail: the line that has waited 10 s goes at once.
    push({ type: "live", live: true, send_interval_s: 1 });
    await advance(0);
    expect(server.state.batches.map((b) => b.messages)).toEqual([["before anyone looked"]]);
    push({ type: "live", live: false, send_interval_s: 60 });
    a.log("INFO", "cam", "after they left");
    await advance(59_000);
    expect(server.state.batches).toHaveLength(1);
    await advance(1000);
    expect(server.state.batches).toHaveLength(2);
  });

  it("sends every second while a pushed command is pending, and slows down a while after its acknowledgement", async () => {
    const server = fakeServer();
    const { socket, push } = fakeSocket(server);
    const a = newAgent(server, { socket });
    a.startSending();
    push({ type: "command", command: { id: "cmd-1", command: "calibrate" } });
    expect(a.pace().mode).toBe("command");
    a.log("INFO", "calibrate", "step 1");
    await advance(1000);
    a.log("INFO", "calibrate", "step 2");
    await advance(1000);
    expect(server.state.batches.map((b) => b.messages)).toEqual([["step 1"], ["step 2"]]);

    await a.ack("dev_1", "cmd-1", "succeeded", { ok: true });
    expect(server.state.acked).toEqual(["cmd-1"]);
    a.log("INFO", "calibrate", "done");
    await advance(1000);
    expect(server.state.batches.at(-1)!.messages).toEqual(["done"]);
    await advance(10_000);
    expect(a.pace().mode).toBe("own");
    a.log("INFO", "calibrate", "routine again");
    await advance(59_000);
    expect(server.state.batches.at(-1)!.messages).toEqual(["done"]);
  });

  it("counts polled commands as pending until they are acknowledged", async () => {
    const server = fakeServer();
    const a = newAgent(server);
    a.startSending();
    server.state.queued.push({ id: "cmd-2", command: "ping", params: null });
    expect((await a.heartbeat()).pending_commands).toBe(1);
    const [command] = await a.commands("dev_1");
    expect(a.pace().mode).toBe("command");
    await a.ack("dev_1", command!.id, "succeeded");
    await advance(10_000);
    expect(a.pace().mode).toBe("own");
  });

  it("retries a failed batch under its own id as the backoff says, not a minute later", async () => {
    const server = fakeServer();
    server.state.failing = 2;
    const a = newAgent(server, { backoff: { baseMs: 1000, capMs: 4000, random: () => 1 } });
    const results: boolean[] = [];
    a.startSending({ onFlush: (r) => results.push(r.pending) });
    a.log("ERROR", "nav", "lost");
    await advance(0);
    await advance(1000);
    expect(results).toEqual([true, true]);
    await advance(2000);
    expect(results).toEqual([true, true, false]);
    expect(server.state.batches.map((b) => b.messages)).toEqual([["lost"]]);
    expect(new Set(server.state.tried)).toEqual(new Set([server.state.batches[0]!.id]));
    expect(server.state.tried).toHaveLength(3);
    // Nothing left: no more tries.
    await advance(120_000);
    expect(results).toHaveLength(3);
  });

  it("sends what a previous process left in the spool at once", async () => {
    const server = fakeServer();
    const spool = new MemorySpool();
    new FleetbeatAgent({ backendUrl: BACKEND, deviceKey: "fbd_test", spool, fetch: server.fetch }).log(
      "INFO",
      "nav",
      "before the crash",
    );
    const a = newAgent(server, { spool });
    a.startSending();
    await advance(0);
    expect(server.state.batches.map((b) => b.messages)).toEqual([["before the crash"]]);
  });

  it("still flushes on a fixed timer when start() is given flushMs", async () => {
    const server = fakeServer();
    const a = newAgent(server);
    a.start({ flushMs: 1000, heartbeatMs: 3_600_000 });
    a.log("INFO", "nav", "a");
    await advance(1000);
    a.log("INFO", "nav", "b");
    await advance(1000);
    expect(server.state.batches.map((b) => b.messages)).toEqual([["a"], ["b"]]);
  });

  it("stops sending when stopped", async () => {
    const server = fakeServer();
    const a = newAgent(server);
    a.startSending();
    a.log("INFO", "nav", "kept");
    a.stop();
    await advance(120_000);
    expect(server.state.batches).toEqual([]);
    expect(a.nextSendAt()).not.toBeNull();
  });
});
