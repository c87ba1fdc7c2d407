// The fault drill: a device agent (agent/agent.ts with a FileSpool, in this process, on the
// global fetch) logs steadily through several sessions while the server's whole process group
// is SIGKILLed in the middle of a batch, more than once, and started again on the same state.
// Afterwards the agent has flushed everything, and the server holds exactly what was logged:
// every line once (GET /logs, paged), each session's total_logs, and the month's usage.
import * as fs from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FleetbeatAgent, register } from "../../agent/agent.ts";
import { FileSpool } from "../../agent/spool.ts";
import { allLogs, api, newTenant, type Server, sleep, startServer } from "./support/server.ts";

/** Sessions, lines in each, and the pace: 20 lines every 100 ms, about 200 lines a second. */
const SESSIONS = 6;
const LINES_PER_SESSION = 700;
const LINES_PER_TICK = 20;
const TICK_MS = 100;
const TOTAL = SESSIONS * LINES_PER_SESSION;
/**
 * Kills, at these shares of the lines logged (each waits for the restart before it), each at
 * another moment of an ingest request:
 * - mid-request: 0–15 ms after the batch leaves, while the server reads, stores or answers it;
 * - answer-lost: the server answered (so it committed), dies, and the answer never reaches the
 *   agent, which must send the batch again and be told it is a duplicate;
 * - after-answer: the agent has its answer; the server dies while it may still be handing the
 *   batch's counts to the project's object or its session to D1.
 */
const KILLS = [
  { at: 0.2, mode: "mid-request" },
  { at: 0.45, mode: "answer-lost" },
  { at: 0.7, mode: "after-answer" },
  { at: 0.85, mode: "mid-request" },
] as const;
type KillMode = (typeof KILLS)[number]["mode"];

describe("fault drill: the server is SIGKILLed mid-batch while an agent ships logs", () => {
  let server: Server;
  let state = "";
  let device = "";

  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-fault-drill-"));
    device = mkdtempSync(path.join(tmpdir(), "fleetbeat-fault-device-"));
    server = await startServer({ state });
  }, 200_000);

  afterAll(async () => {
    await server?.stop();
    if (state) rmSync(state, { recursive: true, force: true });
    if (device) rmSync(device, { recursive: true, force: true });
  }, 60_000);

  it(
    "loses nothing and doubles nothing: stored lines, session totals and usage equal what the agent logged",
    async () => {
      const drillStarted = Date.now();
      const port = server.port;
      const origin = `http://127.0.0.1:${port}`;
      const tenant = await newTenant(server, "Fault drill");
      const reg = await register(origin, { dsn: "FAULT-0001", registration_token: tenant.registrationToken });

      // The fetch the agent uses: the global one, with a time limit, and the trigger of each kill
      // while an ingest request is on its way.
      let armed: KillMode | null = null;
      const kills: { mode: KillMode; atLine: number; downMs: number }[] = [];
      let restarting: Promise<void> | null = null;
      let logged = 0;
      const killAndRestart = (mode: KillMode, delayMs = 0) => {
        const atLine = logged;
        restarting = (async () => {
          await sleep(delayMs);
          const killedAt = Date.now();
          await server.kill();
          server = await startServer({ state, port });
          kills.push({ mode, atLine, downMs: Date.now() - killedAt });
          console.log(
            `[fault-drill] kill ${kills.length} (${mode}) at line ${atLine}; the server was back after ${Date.now() - killedAt} ms`,
          );
        })().finally(() => (restarting = null));
      };
      const send = (request: Request) => fetch(request, { signal: AbortSignal.timeout(20_000) });
      const agentFetch = async (request: Request): Promise<Response> => {
        const mode = request.method === "POST" && request.url.endsWith("/logs/ingest") && !restarting ? armed : null;
        if (!mode) return send(request);
        armed = null;
        if (mode === "mid-request") {
          killAndRestart(mode, Math.floor(Math.random() * 15));
          return send(request);
        }
        const res = await send(request);
        const body = await res.text();
        killAndRestart(mode);
        if (mode === "answer-lost")
          throw new TypeError(`fetch failed: the answer (${res.status}) was lost with the server`);
        return new Response(body, { status: res.status, headers: res.headers });
      };

      const refused: string[] = [];
      const spool = new FileSpool(fs, path.join(device, "spool"));
      const agent = new FleetbeatAgent({
        backendUrl: origin,
        deviceKey: reg.device_key,
        spool,
        batchLines: 250,
        fetch: agentFetch,
        onRejectedBatch: (id, status) => refused.push(`${id}: ${status}`),
      });
      const flushed = { batches: 0, sent: 0, accepted: 0, duplicates: 0, rejected: 0, failedFlushes: 0 };
      // One flush at a time, each result counted once (the agent hands concurrent callers one flush).
      let flushing: Promise<Awaited<ReturnType<typeof agent.flush>> | null> | null = null;
      const flushOnce = () =>
        (flushing ??= (async () => {
          try {
            const r = await agent.flush();
            flushed.sent += r.sent;
            flushed.accepted += r.accepted;
            flushed.duplicates += r.duplicates;
            flushed.rejected += r.rejected;
            if (r.pending) flushed.failedFlushes++;
            return r;
          } catch {
            flushed.failedFlushes++;
            return null;
          }
        })().finally(() => (flushing = null)));
      /** Calls `step` until it succeeds: the server may be down for a while. */
      const untilDone = async (what: string, step: () => Promise<unknown>, ms = 180_000) => {
        const deadline = Date.now() + ms;
        for (;;) {
          try {
            return await step();
          } catch (err) {
            if (Date.now() > deadline) throw new Error(`${what} kept failing for ${ms / 1000} s: ${err}`);
            await sleep(250);
          }
        }
      };
      const drained = () => spool.sealed().length === 0 && spool.openCount() === 0;
      /** Flushes until the spool is empty (through any restart). */
      const drain = async (ms = 180_000) => {
        const deadline = Date.now() + ms;
        for (;;) {
          const r = await flushOnce();
          if (r && !r.pending && drained()) return;
          if (Date.now() > deadline)
            throw new Error(`the spool did not drain in ${ms / 1000} s: ${spool.sealed().length} batches left`);
          await sleep(250);
        }
      };

      // The flusher, as agent.start() would run it, but counting what each flush says.
      let producing = true;
      const flusher = (async () => {
        while (producing) {
          await flushOnce();
          await sleep(200);
        }
      })();

      const perSession = new Map<string, number>();
      const messages = new Set<string>();
      const nextKill: { at: number; mode: KillMode }[] = [...KILLS];
      const loggingStarted = Date.now();
      for (let s = 0; s < SESSIONS; s++) {
        const sessionId = `fault-${s}-${crypto.randomUUID()}`;
        await untilDone(`opening ${sessionId}`, () => agent.startSession(sessionId, `fault drill run ${s}`));
        for (let i = 0; i < LINES_PER_SESSION; i += LINES_PER_TICK) {
          for (let j = i; j < Math.min(i + LINES_PER_TICK, LINES_PER_SESSION); j++) {
            const message = `fault drill s${s} n${j} ${"payload ".repeat(j % 7)}`;
            agent.log(j % 50 === 0 ? "ERROR" : "INFO", `mod-${j % 5}`, message, { context: { session: s, n: j } });
            messages.add(message);
            logged++;
          }
          if (nextKill.length > 0 && logged >= nextKill[0]!.at * TOTAL && !restarting && !armed)
            armed = nextKill.shift()!.mode;
          await sleep(TICK_MS);
        }
        perSession.set(sessionId, LINES_PER_SESSION);
        // A session ends only once its lines are in: the agent sends the current session id with each batch.
        await drain();
        await untilDone(`ending ${sessionId}`, () => agent.endSession("completed"));
      }
      const loggingMs = Date.now() - loggingStarted;
      producing = false;
      await flusher;
      while (restarting) await restarting;
      const drainStarted = Date.now();
      await drain();
      const drainMs = Date.now() - drainStarted;

      // What the server holds.
      const base = server.api;
      const stored = await allLogs(base, tenant.viewerKey, `device_id=${reg.device_id}`);
      const storedMessages = new Set(stored.map((l) => l.message));
      const sessionTotals: Record<string, number> = {};
      for (const sessionId of perSession.keys()) {
        const res = await api(base, "GET", `/sessions/${sessionId}`, { token: tenant.viewerKey });
        expect(res.status, JSON.stringify(res.json)).toBe(200);
        sessionTotals[sessionId] = res.json.session.total_logs;
      }
      // Counts reach the project within a second of each answer; after a crash mid-delivery the object's alarm redelivers within seconds.
      let usage: any = null;
      const usageDeadline = Date.now() + 60_000;
      do {
        usage = (await api(base, "GET", `/stats/usage?project_id=${tenant.projectId}`, { token: tenant.viewerKey }))
          .json;
        if (usage.logs === TOTAL) break;
        await sleep(1000);
      } while (Date.now() < usageDeadline);

      console.log(
        `[fault-drill] ${TOTAL} lines logged in ${SESSIONS} sessions over ${(loggingMs / 1000).toFixed(1)} s; ` +
          `${kills.length} kills (${kills.map((k) => `${k.mode} at line ${k.atLine}, down ${(k.downMs / 1000).toFixed(1)} s`).join("; ")}); ` +
          `agent: ${flushed.sent} lines sent, ${flushed.accepted} accepted, ${flushed.duplicates} duplicate batches, ${flushed.failedFlushes} failed flushes, ` +
          `${flushed.rejected} lines rejected, ${refused.length} batches refused; final drain ${drainMs} ms; ` +
          `server: ${stored.length} lines stored (${storedMessages.size} distinct), session totals ${Object.values(sessionTotals).join("/")}, ` +
          `usage logs ${usage.logs}, sessions ${usage.sessions}; drill ${((Date.now() - drillStarted) / 1000).toFixed(1)} s`,
      );

      expect(kills.length, "the server was killed at least twice").toBeGreaterThanOrEqual(2);
      if (kills.some((k) => k.mode === "answer-lost"))
        expect(flushed.duplicates, "the batch whose answer was lost came back as a duplicate").toBeGreaterThanOrEqual(
          1,
        );
      expect(
        flushed.accepted - TOTAL,
        "accepted more than once only in batches answered as duplicates",
      ).toBeLessThanOrEqual(flushed.duplicates * 250);
      expect(refused, "no batch refused").toEqual([]);
      expect(flushed.rejected, "no line rejected").toBe(0);
      expect(logged).toBe(TOTAL);
      expect(stored.length, "lines stored: none lost, none twice").toBe(TOTAL);
      expect(storedMessages.size, "no line stored twice").toBe(TOTAL);
      expect(
        [...messages].filter((m) => !storedMessages.has(m)),
        "lines lost",
      ).toEqual([]);
      for (const [sessionId, n] of perSession) {
        expect(sessionTotals[sessionId], `${sessionId} total_logs`).toBe(n);
        expect(stored.filter((l) => l.session_id === sessionId).length, `${sessionId} lines`).toBe(n);
      }
      expect(usage.logs, "usage counts every line once").toBe(TOTAL);
      expect(usage.sessions, "usage counts every session once").toBe(SESSIONS);
    },
    9 * 60_000,
  );
});
