// Rate limits through the real Workers Rate Limiting bindings of wrangler.toml: per org API key,
// per device and per client IP, each answered 429 rate_limited with Retry-After past its limit,
// while heartbeats and command acknowledgements always pass.
import { describe, expect, it } from "vitest";
import { IP_RATE_LIMIT, type RateLimitRule } from "../../src/contract/rate-limits";
import { TIERS } from "../../src/contract/tiers";
import { settle } from "../support/settle";
import {
  type Answer,
  call,
  type LooseJson,
  line,
  newDevice,
  newOrg,
  newProject,
  openSocket,
  tailTicket,
} from "./helpers";

/**
 * Waits, if need be, for a fresh window of `rule`'s period (the binding's windows are aligned to
 * the clock), so that `limit + 1` requests sent now all fall in one window.
 */
async function freshWindow(rule: RateLimitRule, needMs: number) {
  const periodMs = rule.period * 1000;
  const left = periodMs - (Date.now() % periodMs);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 100));
}

/** `n` calls, `width` at a time, in order of sending; their answers. */
async function burst(n: number, width: number, send: (i: number) => Promise<Answer>): Promise<Answer[]> {
  const out: Answer[] = [];
  for (let i = 0; i < n; i += width)
    out.push(...(await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, j) => send(i + j)))));
  return out;
}

/** The answer past a limit. */
function expectRateLimited(res: Answer, rule: RateLimitRule) {
  expect(res.status).toBe(429);
  expect(res.json.error.code).toBe("rate_limited");
  expect(res.json.error.details).toEqual({ limit: rule.limit, period_s: rule.period });
  expect(res.headers.get("retry-after")).toBe(String(rule.period));
}

describe("rate limits", () => {
  it("an org API key gets its tier's limit, then 429 with Retry-After; another key of the org is not held by it", async () => {
    const rule = TIERS.free.rate_limits.key;
    const { adminKey } = await newOrg("free");
    const viewer = (await call("POST", "/keys", { token: adminKey, body: { role: "viewer", name: "viewer" } })).json
      .key;
    await freshWindow(rule, 10_000);
    const answers = await burst(rule.limit + 1, 25, () => call("GET", "/me", { token: viewer }));
    expect(answers.filter((a) => a.status === 200).length).toBe(rule.limit);
    expectRateLimited(answers.at(-1)!, rule);
    expectRateLimited(await call("GET", "/projects", { token: viewer }), rule);
    expect((await call("GET", "/me", { token: adminKey })).status).toBe(200);
  });

  it("GET /orgs/:id shows the tier's rate limits", async () => {
    const { orgId, adminKey } = await newOrg("pro");
    const res = await call("GET", `/orgs/${orgId}`, { token: adminKey });
    expect(res.json.org.limits.rate_limits).toEqual({
      key: { limit: TIERS.pro.rate_limits.key.limit, period_s: TIERS.pro.rate_limits.key.period },
      device: { limit: TIERS.pro.rate_limits.device.limit, period_s: TIERS.pro.rate_limits.device.period },
    });
  });

  it("a device gets its tier's limit over HTTPS and its socket, while its heartbeats and command acknowledgements pass", async () => {
    const rule = TIERS.free.rate_limits.device;
    const { adminKey } = await newOrg("free");
    const projectId = await newProject(adminKey);
    const { deviceId, deviceKey } = await newDevice(adminKey, projectId);
    const sent = await call("POST", "/fleet/commands", {
      token: adminKey,
      body: { device_id: deviceId, command: "reboot" },
    });
    expect(sent.status).toBe(201);
    await freshWindow(rule, 8_000);

    const polls = await burst(rule.limit + 1, 10, () =>
      call("GET", `/fleet/devices/${deviceId}/commands`, { token: deviceKey }),
    );
    expect(polls.filter((a) => a.status === 200).length).toBe(rule.limit);
    expectRateLimited(polls.at(-1)!, rule);
    expectRateLimited(
      await call("POST", "/logs/ingest", { token: deviceKey, body: { logs: [line("info", "held back")] } }),
      rule,
    );
    expectRateLimited(await call("POST", "/sessions", { token: deviceKey, body: { name: "run" } }), rule);

    // What keeps the device online and a command's outcome known is never refused.
    const beats = await burst(20, 10, () =>
      call("POST", "/fleet/heartbeat", { token: deviceKey, body: { status: "online" } }),
    );
    expect(beats.map((b) => b.status)).toEqual(Array(20).fill(200));
    const ack = await call("POST", `/fleet/devices/${deviceId}/commands/${sent.json.command.id}/ack`, {
      token: deviceKey,
      body: { status: "succeeded" },
    });
    expect(ack.status).toBe(200);

    // What was refused was neither stored nor counted: the polls let through, the heartbeats and the ack were.
    await settle(deviceId);
    const usage = (await call("GET", `/stats/usage?project_id=${projectId}`, { token: adminKey })).json;
    expect(usage.logs).toBe(0);
    expect(usage.device_messages_in).toBe(rule.limit + 20 + 1);
  });

  it("a device's socket: a logs frame past the limit gets a rate_limited error frame, its heartbeats an ack", async () => {
    const rule = TIERS.free.rate_limits.device;
    const { adminKey } = await newOrg("free");
    const projectId = await newProject(adminKey);
    const { deviceKey } = await newDevice(adminKey, projectId);
    await freshWindow(rule, 8_000);
    const dev = await openSocket("/fleet/connect", { authorization: `Bearer ${deviceKey}` });
    expect(dev.status).toBe(101);
    // The upgrade was one request; the frames take the rest of the window's allowance.
    for (let i = 1; i <= rule.limit; i++) dev.send({ type: "logs", id: i, logs: [line("info", `frame ${i}`)] });
    const answered = (f: LooseJson[]) => f.filter((x) => x.type === "ack" || x.type === "error");
    const frames = answered(await dev.until((f) => answered(f).length >= rule.limit, 20_000));
    const refused = frames.filter((f) => f.type === "error");
    expect(frames.filter((f) => f.type === "ack").length).toBe(rule.limit - 1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.error.code).toBe("rate_limited");
    dev.send({ type: "heartbeat", id: 999, status: "online" });
    await dev.until((f) => f.some((x) => x.type === "ack" && x.id === 999));
    dev.ws!.close();
  });

  it("registration and the live tail's upgrade are limited per client IP, and one address does not hold back another", async () => {
    const rule = IP_RATE_LIMIT;
    await freshWindow(rule, 8_000);
    const from = (ip: string) => ({ "cf-connecting-ip": ip });
    const answers = await burst(rule.limit + 1, 25, (i) =>
      call("POST", "/fleet/register", {
        headers: from("203.0.113.7"),
        body: { dsn: `SN-${i}`, registration_token: "not-a-token" },
      }),
    );
    expect(answers.slice(0, rule.limit).every((a) => a.status === 401)).toBe(true);
    expectRateLimited(answers.at(-1)!, rule);
    const upgrade = await call("GET", "/logs/stream?ticket=x", {
      headers: { ...from("203.0.113.7"), upgrade: "websocket" },
    });
    expectRateLimited(upgrade, rule);
    // Another address: the token is checked as ever.
    expect(
      (
        await call("POST", "/fleet/register", {
          headers: from("198.51.100.9"),
          body: { dsn: "SN-x", registration_token: "not-a-token" },
        })
      ).status,
    ).toBe(401);
  });

  it("a tail ticket still opens the live tail from an address within its limit", async () => {
    const { adminKey } = await newOrg();
    const projectId = await newProject(adminKey);
    const ticket = await tailTicket(adminKey, projectId);
    const tail = await openSocket(`/logs/stream?ticket=${ticket}`, { "cf-connecting-ip": "192.0.2.44" });
    expect(tail.status).toBe(101);
    tail.ws!.close();
  });
});
