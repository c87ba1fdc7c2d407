// The abuse drill: against a fresh `npm start`, about a minute in three phases while a device
// ingests steadily throughout (big batches, few requests):
// 1. a reconnect storm of live-tail viewers that connect, wait for `ready` and close, over and over;
// 2. forged credentials in volume: well-formed device keys that name no device, on
//    POST /fleet/heartbeat, and well-formed tail tickets that name no project, on the stream;
// 3. live-tail viewers that complete the WebSocket handshake and then never read (raw TCP
//    sockets, paused, so the server's sends back up behind a full TCP window).
// Then: while the viewers are stuck, the server's workerd processes grew by less than 50 MB
// and each stuck viewer cost at most the documented 4 MiB before it was told what it missed
// and closed with 4008 (DESIGN.md invariant 9, the contract's live tail); no Durable Object
// storage appeared for the forged ids (invariant 8); forged credentials were all refused with
// 401; the storm's viewers all connected; ingest never failed.
//
// Why memory is asserted over the stuck phase only: a wrangler dev server's workerd grows by
// tens of KB per request, whatever the request (GET /health too), until V8's heap levels off
// near a gigabyte here, so RSS across thousands of storm and forged requests measures the
// runtime's garbage, not the app. The stuck phase makes few requests and moves many bytes:
// without a cap its viewers hold what they are sent (tens of MB each), with one a few MB.
// Every phase's growth is printed.
//
// A second server, with production's webhook setting, then meets the attack classes of the
// second attack pass (test/slow/attacks/): stalling regexes, hostile file types in Chromium,
// creation races at a limit, and webhook addresses that only look public.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { type Socket, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentTypeDrill } from "./attacks/content-types.ts";
import { creationRaces } from "./attacks/creation-races.ts";
import { regexAttacks } from "./attacks/regex.ts";
import { webhookAddresses } from "./attacks/webhook-addresses.ts";
import { api, durableObjectFiles, newTenant, type Server, sleep, startServer, workerdRss } from "./support/server.ts";

/** How long the abuse lasts: a quarter storm, a quarter forged credentials, a half stuck viewers (ABUSE_SECONDS for a local run). */
const ABUSE_MS = Number(process.env.ABUSE_SECONDS ?? 60) * 1000;
const STUCK_VIEWERS = 6;
const STORM_LOOPS = 3;
/** Forged credentials of each kind, spread over their phase. */
const FORGED_PER_KIND = 1000;
const FORGED_LOOPS_PER_KIND = 2;
/** The steady device: a batch of this many lines of about this many bytes every INGEST_EVERY_MS (about 1 MB/s). */
const INGEST_LINES = 500;
const INGEST_LINE_BYTES = 900;
const INGEST_EVERY_MS = 500;
const MAX_GROWTH_BYTES = 50 * 1024 * 1024;
/** docs/limits.md: a viewer is closed past 4 MiB sent since its last acknowledgement; one frame may straddle it. */
const STUCK_CAP_BYTES = 4 * 1024 * 1024;
const FRAME_SLACK_BYTES = 1024 * 1024;

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const madeUpId = (prefix: string) => `${prefix}_${[...randomBytes(26)].map((b) => CROCKFORD[b & 31]).join("")}`;
const forgedDeviceKey = () => `fbd_${madeUpId("dev")}.${randomBytes(32).toString("hex")}`;
const forgedTicket = () => `${madeUpId("prj")}.fbt_${randomBytes(32).toString("hex")}`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** What a raw viewer saw once it was read again: frames by type and how the server closed it. */
interface StuckViewer {
  socket: Socket;
  /** Bytes read before it stopped reading, and after it was resumed at the end. */
  readBefore: number;
  readAfter: number;
  /** What came after the handshake's answer in the same read: the start of the first frames, parsed with the rest. */
  leftover: Buffer;
  frames: Record<string, number>;
  closeCode: number | null;
  /** A `dropped` frame came before the close. */
  droppedBeforeClose: boolean;
  ended: boolean;
}

/**
 * A client address of its own for each viewer and forged ticket, as a storm from many
 * addresses would come (wrangler dev keeps a client's CF-Connecting-IP; Cloudflare sets it): one
 * address is held to 300 upgrades in 10 s (429, test/integration/rate-limits.test.ts), and the
 * drill is about what gets past that.
 */
const anyAddress = () => `10.${randomBytes(3).join(".")}`;

/** Opens a live-tail WebSocket by hand on a raw TCP socket and stops reading once it is open. */
async function stuckViewer(port: number, ticket: string): Promise<StuckViewer> {
  const socket = tcpConnect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(
    [
      `GET /api/v1/logs/stream?ticket=${encodeURIComponent(ticket)} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
      "Sec-WebSocket-Version: 13",
      `CF-Connecting-IP: ${anyAddress()}`,
      "",
      "",
    ].join("\r\n"),
  );
  const head = await new Promise<Buffer>((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.includes("\r\n\r\n")) {
        socket.off("data", onData);
        resolve(got);
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
    setTimeout(() => reject(new Error(`no handshake answer: ${got.toString().slice(0, 200)}`)), 10_000);
  });
  const status = head.toString("latin1", 0, head.indexOf("\r\n"));
  if (!/^HTTP\/1\.1 101/.test(status))
    throw new Error(`the stream answered ${status}: ${head.toString().slice(0, 300)}`);
  // From here on nothing is read: the kernel's buffers fill, then the server's.
  socket.pause();
  socket.on("error", () => {});
  const leftover = head.subarray(head.indexOf("\r\n\r\n") + 4);
  return {
    socket,
    readBefore: head.length,
    readAfter: 0,
    leftover,
    frames: {},
    closeCode: null,
    droppedBeforeClose: false,
    ended: false,
  };
}

/** Reads a stuck viewer again for up to `ms`, parsing the server's (unmasked) frames. */
async function readBack(v: StuckViewer, ms: number): Promise<void> {
  // Frames start right after the handshake's answer, which may have come in the same read.
  let buf: Buffer = v.leftover;
  let lastType = "";
  await new Promise<void>((resolve) => {
    const done = () => {
      v.socket.off("data", onData);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const onData = (d: Buffer) => {
      v.readAfter += d.length;
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      let at = 0;
      while (at + 2 <= buf.length) {
        const opcode = buf[at]! & 0x0f;
        let len = buf[at + 1]! & 0x7f;
        let header = 2;
        if (len === 126) {
          if (at + 4 > buf.length) break;
          len = buf.readUInt16BE(at + 2);
          header = 4;
        } else if (len === 127) {
          if (at + 10 > buf.length) break;
          len = Number(buf.readBigUInt64BE(at + 2));
          header = 10;
        }
        if (at + header + len > buf.length) break;
        const payload = buf.subarray(at + header, at + header + len);
        at += header + len;
        if (opcode === 8) {
          v.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          v.droppedBeforeClose = lastType === "dropped";
          clearTimeout(timer);
          done();
          return;
        }
        if (opcode === 1) {
          const type =
            /^\{"type":"(\w+)"/.exec(payload.toString("utf8", 0, Math.min(40, payload.length)))?.[1] ?? "other";
          v.frames[type] = (v.frames[type] ?? 0) + 1;
          lastType = type;
        }
      }
      buf = buf.subarray(at);
    };
    v.socket.on("data", onData);
    v.socket.once("end", () => {
      v.ended = true;
      clearTimeout(timer);
      done();
    });
    v.socket.resume();
  });
}

/** A tail-ticket request with forged credentials, as a browser would open it (Upgrade: websocket). */
function openWithTicket(port: number, ticket: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: "127.0.0.1",
      port,
      path: `/api/v1/logs/stream?ticket=${encodeURIComponent(ticket)}`,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-key": randomBytes(16).toString("base64"),
        "sec-websocket-version": "13",
        "cf-connecting-ip": anyAddress(),
      },
    });
    req.on("upgrade", (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.setTimeout(20_000, () => req.destroy(new Error("timed out")));
    req.end();
  });
}

describe("abuse drill: stuck viewers, a reconnect storm and forged credentials while a device ingests", () => {
  let server: Server;
  let state = "";
  const stuck: StuckViewer[] = [];

  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-abuse-drill-"));
    server = await startServer({ state });
  }, 200_000);

  afterAll(async () => {
    for (const v of stuck) v.socket.destroy();
    await server?.stop();
    if (state) rmSync(state, { recursive: true, force: true });
  }, 120_000);

  it(
    "keeps memory and storage bounded, closes stuck viewers, refuses forged credentials, and keeps ingesting",
    async () => {
      const base = server.api;
      const tenant = await newTenant(server, "Abuse drill");
      const reg = await api(base, "POST", "/fleet/register", {
        body: { dsn: "ABUSE-0001", registration_token: tenant.registrationToken },
      });
      expect(reg.status).toBe(201);
      const deviceKey: string = reg.json.device_key;
      const ticket = async () => {
        const res = await api(base, "POST", "/logs/stream/ticket", {
          token: tenant.viewerKey,
          body: { project_id: tenant.projectId },
        });
        if (res.status !== 200) throw new Error(`ticket: ${res.status} ${JSON.stringify(res.json)}`);
        return res.json.ticket as string;
      };

      let running = true;
      const loops: Promise<void>[] = [];

      // The steady device, from the start to the end.
      const ingest = { batches: 0, failed: [] as string[], latencies: [] as number[] };
      const padding = "x".repeat(INGEST_LINE_BYTES);
      loops.push(
        (async () => {
          let n = 0;
          while (running) {
            const started = Date.now();
            const logs = Array.from({ length: INGEST_LINES }, (_, i) => ({
              timestamp_us: Date.now() * 1000,
              level: i % 10 === 0 ? "ERROR" : "INFO",
              module: "abuse",
              message: `line ${n}-${i} ${padding}`,
            }));
            try {
              const res = await fetch(`${base}/logs/ingest`, {
                method: "POST",
                headers: { authorization: `Bearer ${deviceKey}`, "content-type": "application/json" },
                body: JSON.stringify({ batch_id: `abuse-${n}`, logs }),
                signal: AbortSignal.timeout(30_000),
              });
              const body: any = await res.json();
              if (res.status !== 200 || body.accepted !== INGEST_LINES)
                ingest.failed.push(`${res.status} ${JSON.stringify(body).slice(0, 200)}`);
            } catch (err) {
              ingest.failed.push(String(err));
            }
            ingest.batches++;
            ingest.latencies.push(Date.now() - started);
            n++;
            await sleep(Math.max(0, INGEST_EVERY_MS - (Date.now() - started)));
          }
        })(),
      );
      // A viewer that reads and acknowledges everything: lines still flow, and what it is sent
      // is what each stuck viewer is offered (the same filter, below the 1 MiB/s a stuck one may get).
      const healthy = { logs: 0, bytes: 0, dropped: 0 };
      const healthyWs = new WebSocket(`${base.replace("http", "ws")}/logs/stream?ticket=${await ticket()}`);
      healthyWs.addEventListener("message", (m) => {
        const text = String(m.data);
        const frame = JSON.parse(text);
        if (frame.type === "logs") {
          healthy.logs += frame.logs.length;
          healthy.bytes += text.length;
          healthyWs.send(JSON.stringify({ type: "ack", seq: frame.seq }));
        } else if (frame.type === "dropped") healthy.dropped += frame.count;
      });

      // Warm up, then the baseline.
      await sleep(5000);
      const rssStart = workerdRss(server);
      const phases: { name: string; before: number; after: number; offered: number }[] = [];
      const phase = async (name: string, ms: number, work: (until: () => boolean) => Promise<void>) => {
        const before = workerdRss(server).bytes;
        const offeredBefore = healthy.bytes;
        const started = Date.now();
        const until = () => Date.now() - started < ms;
        await work(until);
        await sleep(Math.max(0, ms - (Date.now() - started)));
        phases.push({ name, before, after: workerdRss(server).bytes, offered: healthy.bytes - offeredBefore });
      };

      // Phase 1: a reconnect storm.
      const storm = { connects: 0, failed: [] as string[] };
      await phase("reconnect storm", ABUSE_MS / 4, (until) =>
        Promise.all(
          Array.from({ length: STORM_LOOPS }, async () => {
            while (until()) {
              try {
                // undici's WebSocket (Node's) takes headers beside the protocols.
                const ws = new WebSocket(`${base.replace("http", "ws")}/logs/stream?ticket=${await ticket()}`, {
                  headers: { "cf-connecting-ip": anyAddress() },
                } as unknown as string[]);
                await new Promise<void>((resolve, reject) => {
                  const timer = setTimeout(() => reject(new Error("no ready frame in 10 s")), 10_000);
                  ws.addEventListener("message", (m) => {
                    if (JSON.parse(String(m.data)).type === "ready") {
                      clearTimeout(timer);
                      resolve();
                    }
                  });
                  ws.addEventListener("error", () => reject(new Error("socket error")));
                });
                ws.close();
                storm.connects++;
              } catch (err) {
                storm.failed.push(String(err));
              }
              await sleep(20);
            }
          }),
        ).then(() => {}),
      );

      // Phase 2: forged credentials, paced over the phase; storage files counted around it.
      const filesBefore = durableObjectFiles(state);
      const forged = { deviceKeys: 0, tickets: 0, statuses: {} as Record<string, number> };
      const note = (status: number | string) => (forged.statuses[status] = (forged.statuses[status] ?? 0) + 1);
      const forgedMs = ABUSE_MS / 4;
      const paceMs = (forgedMs * FORGED_LOOPS_PER_KIND) / FORGED_PER_KIND;
      const paced = async (count: () => boolean, attempt: () => Promise<void>) => {
        while (count()) {
          const started = Date.now();
          await attempt();
          await sleep(Math.max(0, paceMs - (Date.now() - started)));
        }
      };
      await phase("forged credentials", forgedMs, () =>
        Promise.all(
          Array.from({ length: FORGED_LOOPS_PER_KIND }, () => [
            paced(
              () => forged.deviceKeys++ < FORGED_PER_KIND,
              async () => {
                try {
                  const res = await fetch(`${base}/fleet/heartbeat`, {
                    method: "POST",
                    headers: { authorization: `Bearer ${forgedDeviceKey()}`, "content-type": "application/json" },
                    body: JSON.stringify({ status: "online", metrics: { cpu_usage: 1 } }),
                    signal: AbortSignal.timeout(20_000),
                  });
                  await res.arrayBuffer();
                  note(res.status);
                } catch (err) {
                  note(`error ${(err as Error).name}`);
                }
              },
            ),
            paced(
              () => forged.tickets++ < FORGED_PER_KIND,
              async () => {
                try {
                  note(await openWithTicket(server.port, forgedTicket()));
                } catch (err) {
                  note(`error ${(err as Error).message}`);
                }
              },
            ),
          ]).flat(),
        ).then(() => {}),
      );
      forged.deviceKeys = Math.min(forged.deviceKeys, FORGED_PER_KIND);
      forged.tickets = Math.min(forged.tickets, FORGED_PER_KIND);
      const filesAfter = durableObjectFiles(state);

      // Phase 3: viewers that stop reading once they are in, measured while they are stuck.
      await phase(`${STUCK_VIEWERS} stuck viewers`, ABUSE_MS / 2, async () => {
        for (let i = 0; i < STUCK_VIEWERS; i++) stuck.push(await stuckViewer(server.port, await ticket()));
      });
      const stuckPhase = phases.at(-1)!;
      const rssEnd = workerdRss(server);
      running = false;
      await Promise.all(loops);
      healthyWs.close();

      // What the stuck viewers were sent, read back now.
      await Promise.all(stuck.map((v) => readBack(v, 8000)));

      const growth = stuckPhase.after - stuckPhase.before;
      const sorted = [...ingest.latencies].sort((a, b) => a - b);
      const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
      const newFiles = Object.fromEntries(
        Object.keys({ ...filesBefore, ...filesAfter }).map((k) => [k, (filesAfter[k] ?? 0) - (filesBefore[k] ?? 0)]),
      );
      console.log(
        [
          `[abuse-drill] ${(ABUSE_MS / 1000).toFixed(0)} s of abuse against workerd pids ${rssEnd.pids.join(",")}`,
          `[abuse-drill] memory (workerd RSS): start ${mb(rssStart.bytes)}, end ${mb(rssEnd.bytes)}; by phase: ${phases
            .map(
              (ph) =>
                `${ph.name} ${mb(ph.before)} → ${mb(ph.after)} (${ph.after >= ph.before ? "+" : ""}${mb(ph.after - ph.before)}; ${mb(ph.offered)} offered to each viewer)`,
            )
            .join("; ")}; asserted: stuck-phase growth ${mb(growth)} < ${mb(MAX_GROWTH_BYTES)}`,
          `[abuse-drill] stuck viewers: ${STUCK_VIEWERS}; each was sent: ${stuck.map((v) => `${mb(v.readBefore + v.readAfter)} ${JSON.stringify(v.frames)} close ${v.closeCode ?? "none"}${v.ended ? " (ended)" : ""}`).join("; ")}`,
          `[abuse-drill] reconnect storm: ${storm.connects} viewers connected and closed, ${storm.failed.length} failed${storm.failed.length ? ` (${storm.failed.slice(0, 3).join("; ")})` : ""}`,
          `[abuse-drill] forged: ${forged.deviceKeys} device keys on POST /fleet/heartbeat, ${forged.tickets} tail tickets on /logs/stream; answers ${JSON.stringify(forged.statuses)}`,
          `[abuse-drill] Durable Object files around the forged phase: before ${JSON.stringify(filesBefore)}, after ${JSON.stringify(filesAfter)}, new ${JSON.stringify(newFiles)}`,
          `[abuse-drill] ingest: ${ingest.batches} batches of ${INGEST_LINES} lines, ${ingest.failed.length} failed, latency p50 ${p(0.5)} ms p99 ${p(0.99)} ms max ${sorted.at(-1)} ms; the reading viewer got ${healthy.logs} lines (${mb(healthy.bytes)}), ${healthy.dropped} reported dropped`,
        ].join("\n"),
      );

      // Every check runs, so the report names each that fails.
      expect
        .soft(
          growth,
          `workerd grew by ${mb(growth)} while ${STUCK_VIEWERS} viewers were stuck: memory per connection is not bounded (invariant 9)`,
        )
        .toBeLessThan(MAX_GROWTH_BYTES);
      for (const [i, v] of stuck.entries()) {
        expect
          .soft(v.readBefore + v.readAfter, `stuck viewer ${i} was sent at most the 4 MiB cap and a frame`)
          .toBeLessThanOrEqual(STUCK_CAP_BYTES + FRAME_SLACK_BYTES);
        expect.soft(v.closeCode, `stuck viewer ${i} closed with 4008`).toBe(4008);
        expect.soft(v.droppedBeforeClose, `stuck viewer ${i} was sent a dropped frame before the close`).toBe(true);
      }
      expect
        .soft(newFiles, "forged ids created Durable Object storage (invariant 8)")
        .toEqual(Object.fromEntries(Object.keys(newFiles).map((k) => [k, 0])));
      expect
        .soft(forged.statuses, "every forged credential refused with 401")
        .toEqual({ 401: forged.deviceKeys + forged.tickets });
      expect.soft(storm.failed, "every viewer of the storm connected").toEqual([]);
      expect.soft(ingest.failed, "ingest never failed").toEqual([]);
      expect.soft(healthy.logs, "a viewer that reads still gets lines").toBeGreaterThan(0);
    },
    8 * 60_000,
  );
});

// The attack classes of the second attack pass (issue 20), kept so variants stay fixed: against
// a live server with production's webhook setting, the regex shapes that stalled the server
// answer quickly while /health keeps answering, no file a device uploads runs script in
// Chromium however it is typed or opened, concurrent creations at a limit store exactly the
// limit, and every address form that only looks public is refused as a webhook target.
describe("abuse drill: the attack classes of the second pass, against production's settings", () => {
  let server: Server;
  let state: string;
  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-attacks-"));
    server = await startServer({ state, env: { ALLOW_PRIVATE_WEBHOOKS: "false" } });
  }, 200_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(state, { recursive: true, force: true });
  }, 120_000);

  it("regexes that stalled the server answer within 2 s, and /health within 1 s meanwhile", async () => {
    const tenant = await newTenant(server, "Regex drill");
    const times = await regexAttacks(server, tenant);
    console.log(
      `[attacks] regex shapes: ${times.queries.map((q) => `${q.shape} ${q.status} in ${q.ms.toFixed(0)} ms`).join("; ")}; /health polled ${times.health.polls} times, slowest ${times.health.maxMs.toFixed(0)} ms`,
    );
  });

  it("no file a device uploads runs script in Chromium, whatever its type, opened by link or through the API", async () => {
    const summary = await contentTypeDrill(server);
    console.log(`[attacks] content types: ${JSON.stringify(summary)}`);
  });

  it("concurrent creations at a limit store exactly the limit, every time", async () => {
    const counts = await creationRaces(server);
    console.log(`[attacks] creation races: ${JSON.stringify(counts)}`);
  });

  it("every address form that only looks public is refused as a webhook target", async () => {
    const counts = await webhookAddresses(server);
    console.log(`[attacks] webhook addresses: ${JSON.stringify(counts)}`);
  });
});
