// The audit log: every mutation the org's keys, its devices and the server admin make appends
// exactly one event to the org's log, with who, which role, what, from where and the request's
// id; GET /audit filters and pages it for admins, /audit/export writes it as NDJSON or CSV; steady
// device traffic is not in it; events past the tier's retention go; an event costs one row.
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { ProjectHub } from "../../durable-objects/project-hub/hub";
import { AUDIT_ID_PER_MS, type AuditEntry, type AuditEvent } from "../../src/contract/audit";
import { TIERS } from "../../src/contract/tiers";
import { orgHub } from "../../src/stubs/project-hub";
import { ADMIN, type Answer, call, capsule, line, newKey, newOrg, openSocket, readText } from "./helpers";

const UA = "audit-test/1.0";
const IP = "198.51.100.23";
const as = (token: string) => ({ token, headers: { "user-agent": UA, "cf-connecting-ip": IP } });

/** Every event GET /audit answers for `query`, following next_cursor, with the page size `limit`. */
async function allEvents(adminKey: string, query = "", limit = 50): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor: string | null = null;
  do {
    const res: Answer = await call(
      "GET",
      `/audit?limit=${limit}${query ? `&${query}` : ""}${cursor ? `&cursor=${cursor}` : ""}`,
      { token: adminKey },
    );
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    out.push(...res.json.events);
    cursor = res.json.next_cursor;
  } while (cursor);
  return out;
}

let org: { orgId: string; adminKey: string };
let operatorKey: string;
let viewerKey: string;
let projectId: string;
let deviceId: string;
let deviceKey: string;
let commandId: string;
/** The X-Request-Id of each mutation, by the action it should have appended. */
const requestIds: Record<string, string> = {};

beforeAll(async () => {
  org = await newOrg("pro");
  const made = async (action: string, method: string, path: string, token: string, body?: unknown) => {
    const res = await call(method, path, { ...as(token), ...(body !== undefined ? { body } : {}) });
    expect(res.status, `${method} ${path}: ${JSON.stringify(res.json)}`).toBeLessThan(300);
    requestIds[action] = res.headers.get("x-request-id")!;
    return res;
  };
  operatorKey = (
    await made("key.created", "POST", "/keys", org.adminKey, { role: "operator", name: '=HYPERLINK("http://x")' })
  ).json.key;
  viewerKey = await newKey(org.adminKey, "viewer");
  projectId = (await made("project.created", "POST", "/projects", org.adminKey, { name: "audited" })).json.project.id;
  const token = (
    await made("capsule.generated", "POST", "/capsules/generate", org.adminKey, {
      project_id: projectId,
      device_type: "amr",
      environment: "production",
    })
  ).json.capsule.fleet.registration_token;
  const reg = await call("POST", "/fleet/register", {
    headers: { "user-agent": "agent/1", "cf-connecting-ip": "203.0.113.50" },
    body: { dsn: "SN-AUDIT", registration_token: token },
  });
  expect(reg.status).toBe(201);
  requestIds["device.registered"] = reg.headers.get("x-request-id")!;
  ({ device_id: deviceId, device_key: deviceKey } = reg.json);
  await made("device.updated", "PATCH", `/fleet/devices/${deviceId}`, org.adminKey, { name: "picker 7" });
  commandId = (
    await made("command.sent", "POST", "/fleet/commands", operatorKey, {
      device_id: deviceId,
      command: "set_wifi",
      params: { ssid: "plant", password: "hunter2" },
    })
  ).json.command.id;
  await made("command.delivered", "GET", `/fleet/devices/${deviceId}/commands`, deviceKey);
  await made("command.acked", "POST", `/fleet/devices/${deviceId}/commands/${commandId}/ack`, deviceKey, {
    status: "succeeded",
    result: { token: "s3cret" },
  });
  // Steady device traffic: not audited.
  await call("POST", "/fleet/heartbeat", { token: deviceKey, body: {} });
  await call("POST", "/logs/ingest", { token: deviceKey, body: { logs: [line("info", "hello")] } });
  await call("POST", "/sessions", { token: deviceKey, body: { session_id: "run-1", name: "run" } });
  await call("PUT", "/sessions/run-1/artifacts/a.txt", {
    token: deviceKey,
    raw: "hello",
    headers: { "content-type": "text/plain", "content-length": "5" },
  });
  await made("file.deleted", "DELETE", `/sessions/run-1/files?path=a.txt`, operatorKey);
  const rule = await made("alert_rule.created", "POST", "/alert-rules", org.adminKey, {
    project_id: projectId,
    kind: "device_offline",
    params: { for_s: 300 },
    name: "offline",
    targets: [{ url: "http://127.0.0.1:9/hook" }],
  });
  const ruleId = rule.json.rule.id;
  await made("alert_rule.silenced", "PATCH", `/alert-rules/${ruleId}`, operatorKey, {
    silenced_until: new Date(Date.now() + 3_600_000).toISOString(),
  });
  await made("alert_rule.updated", "PATCH", `/alert-rules/${ruleId}`, org.adminKey, { name: "offline 5 min" });
  await made("alert_rule.deleted", "DELETE", `/alert-rules/${ruleId}`, org.adminKey);
  await made("device.decommissioned", "DELETE", `/fleet/devices/${deviceId}`, org.adminKey);
  const spare = (await call("POST", "/keys", { token: org.adminKey, body: { role: "viewer", name: "spare" } })).json;
  await made("key.revoked", "DELETE", `/keys/${spare.id}`, org.adminKey);
  await made("org.updated", "PATCH", `/orgs/${org.orgId}`, ADMIN, { tier: "enterprise" });
  // A refused mutation changes nothing and appends nothing.
  expect((await call("POST", "/projects", { token: viewerKey, body: { name: "nope" } })).status).toBe(403);
});

describe("audit log", () => {
  it("holds every mutation exactly once, with its actor, role, target, request id, address and agent", async () => {
    const events = await allEvents(org.adminKey);
    const counts: Record<string, number> = {};
    for (const e of events) counts[e.action] = (counts[e.action] ?? 0) + 1;
    // The org and its first key, the keys made, the project, ... in the order made (newest first in the log).
    expect(counts).toEqual({
      "org.created": 1,
      "org.updated": 1,
      "key.created": 4, // the org's first key, the operator, the viewer, the spare
      "key.revoked": 1,
      "project.created": 1,
      "capsule.generated": 1,
      "device.registered": 1,
      "device.updated": 1,
      "command.sent": 1,
      "command.delivered": 1,
      "command.acked": 1,
      "file.deleted": 1,
      "alert_rule.created": 1,
      "alert_rule.silenced": 1,
      "alert_rule.updated": 1,
      "alert_rule.deleted": 1,
      "device.decommissioned": 1,
      "device.connected": 1,
    });
    // Newest first, ids unique and falling, times not rising.
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    for (let i = 1; i < events.length; i++) {
      expect(Number(events[i]!.id)).toBeLessThan(Number(events[i - 1]!.id));
      expect(Date.parse(events[i]!.at)).toBeLessThanOrEqual(Date.parse(events[i - 1]!.at));
    }
    for (const [action, requestId] of Object.entries(requestIds)) {
      const e = events.find((x) => x.action === action && x.request_id === requestId);
      expect(e, `${action} under request ${requestId}`).toBeDefined();
    }
    const byAction = (a: string) => events.find((e) => e.action === a)!;
    expect(byAction("command.sent")).toMatchObject({
      actor: { kind: "key", role: "operator", label: '=HYPERLINK("http://x")' },
      target: { kind: "command", id: commandId, label: "set_wifi" },
      project_id: projectId,
      summary: { device_id: deviceId, command: "set_wifi", params: ["ssid", "password"] },
      ip: IP,
      user_agent: UA,
    });
    expect(byAction("command.acked")).toMatchObject({
      actor: { kind: "device", id: deviceId },
      target: { id: commandId },
      summary: { status: "succeeded" },
    });
    expect(byAction("device.registered")).toMatchObject({
      actor: { kind: "device", id: deviceId },
      ip: "203.0.113.50",
      user_agent: "agent/1",
      summary: { dsn: "SN-AUDIT" },
    });
    expect(byAction("org.updated")).toMatchObject({
      actor: { kind: "system", id: "admin" },
      summary: { tier: "enterprise" },
    });
    expect(byAction("device.updated").summary).toEqual({ name: "picker 7" });
    // The device itself says who changed it last (a viewer sees it too).
    const shown = await call("GET", `/fleet/devices/${deviceId}`, { token: viewerKey });
    expect(shown.json.device.changed_by).toMatchObject({ kind: "key", label: "first admin key" });
    // Secrets never: the command's parameter values, its result, the capsule's token, a key's secret, a webhook's secret.
    const text = JSON.stringify(events);
    for (const secret of ["hunter2", "s3cret", "fbk_", "registration_token", "whsec"])
      expect(text).not.toContain(secret);
  });

  it("filters by actor, action or noun, target, project and time, and pages without gaps or repeats", async () => {
    const all = await allEvents(org.adminKey);
    expect((await allEvents(org.adminKey, "", 3)).map((e) => e.id)).toEqual(all.map((e) => e.id));
    const commands = await allEvents(org.adminKey, "action=command");
    expect(commands.map((e) => e.action).sort()).toEqual(["command.acked", "command.delivered", "command.sent"]);
    expect((await allEvents(org.adminKey, "action=command.sent")).map((e) => e.target.id)).toEqual([commandId]);
    const byDevice = await allEvents(org.adminKey, `actor=${deviceId}`);
    expect(byDevice.map((e) => e.action).sort()).toEqual([
      "command.acked",
      "command.delivered",
      "device.connected",
      "device.registered",
    ]);
    expect((await allEvents(org.adminKey, `target=${commandId}`)).length).toBe(3);
    const inProject = await allEvents(org.adminKey, `project_id=${projectId}`);
    expect(inProject.length).toBe(all.filter((e) => e.project_id === projectId).length);
    expect(inProject.every((e) => e.project_id === projectId)).toBe(true);
    const middle = all[Math.floor(all.length / 2)]!;
    const since = await allEvents(org.adminKey, `from=${encodeURIComponent(middle.at)}`);
    expect(since.map((e) => e.id)).toEqual(
      all.filter((e) => Date.parse(e.at) >= Date.parse(middle.at)).map((e) => e.id),
    );
    const until = await allEvents(org.adminKey, `to=${encodeURIComponent(middle.at)}`);
    expect(until.map((e) => e.id)).toEqual(
      all.filter((e) => Date.parse(e.at) <= Date.parse(middle.at)).map((e) => e.id),
    );
    expect((await call("GET", "/audit?action=Command!", { token: org.adminKey })).status).toBe(400);
  });

  it("is for admins of its own org only", async () => {
    expect((await call("GET", "/audit", { token: operatorKey })).status).toBe(403);
    expect((await call("GET", "/audit", { token: viewerKey })).status).toBe(403);
    const other = await newOrg();
    expect((await call("GET", `/audit?org_id=${org.orgId}`, { token: other.adminKey })).status).toBe(404);
    const theirs = await allEvents(other.adminKey);
    expect(theirs.map((e) => e.action).sort()).toEqual(["key.created", "org.created"]);
  });

  it("exports the same events as NDJSON, and as CSV with formula-safe cells", async () => {
    const all = await allEvents(org.adminKey);
    const ndjson = await exportOf("ndjson");
    expect(ndjson.headers.get("content-type")).toContain("application/x-ndjson");
    expect(ndjson.headers.get("content-disposition")).toMatch(/^attachment; filename="fleetbeat-audit-org_/);
    const rows = ndjson.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as AuditEvent);
    expect(rows).toEqual(all);
    const csv = await exportOf("csv", "action=key");
    const lines = csv.text.trim().split("\r\n");
    expect(lines[0]).toBe(
      "id,at,actor_kind,actor_id,actor_label,role,action,target_kind,target_id,target_label,project_id,summary,ip,user_agent,request_id",
    );
    expect(lines.length).toBe(1 + all.filter((e) => e.action.startsWith("key.")).length);
    // The operator key's name starts with "=": a spreadsheet must show it, not run it.
    expect(csv.text).toContain(`"'=HYPERLINK(""http://x"")"`);
    expect(csv.text).not.toMatch(/(^|,)=HYPERLINK/m);
  });

  it("records a command delivered and acknowledged over the device's socket, by the device", async () => {
    const { adminKey, orgId } = await newOrg();
    const pid = (await call("POST", "/projects", { token: adminKey, body: { name: "socket" } })).json.project.id;
    const reg = await call("POST", "/fleet/register", {
      body: { dsn: "SN-SOCK", registration_token: await capsule(adminKey, pid) },
    });
    const dev = await openSocket("/fleet/connect", { authorization: `Bearer ${reg.json.device_key}` });
    await dev.until((f) => f.some((x) => x.type === "ready"));
    const sent = await call("POST", "/fleet/commands", {
      token: adminKey,
      body: { device_id: reg.json.device_id, command: "reboot" },
    });
    const pushed = (await dev.until((f) => f.some((x) => x.type === "command"))).find(
      (x) => x.type === "command",
    ).command;
    dev.send({ type: "command_ack", id: 1, command_id: pushed.id, status: "failed" });
    await dev.until((f) => f.some((x) => x.type === "ack" && x.id === 1));
    dev.ws!.close();
    const events = await allEvents(adminKey, `target=${sent.json.command.id}`);
    expect(events.map((e) => [e.action, e.actor.kind])).toEqual([
      ["command.acked", "device"],
      ["command.delivered", "device"],
      ["command.sent", "key"],
    ]);
    expect(events[0]!.summary).toMatchObject({ status: "failed" });
    expect(events[1]!.summary).toMatchObject({ via: "socket" });
    expect(orgId).toMatch(/^org_/);
  });

  it("writes one row an event, and lets events go only past the tier's audit retention", async () => {
    const { orgId } = await newOrg("free");
    const hub = orgHub(env, orgId);
    const entry = (n: number): AuditEntry => ({
      actor: { kind: "system", id: "admin", label: "server admin" },
      action: "org.updated",
      target: { kind: "org", id: orgId },
      summary: { n },
      request_id: `r${n}`,
    });
    await hub.appendAudit([entry(0)]);
    const before = (await hub.storageRows()).project;
    await hub.appendAudit(Array.from({ length: 10 }, (_, i) => entry(i + 1)));
    expect((await hub.storageRows()).project - before).toBe(10);

    // Two events stamped in the past: one just inside the free tier's retention, one past it.
    const days = TIERS.free.audit_retention_days;
    // (Written as the log writes them, with the ids their times give: the log itself only ever stamps now.)
    await runInDurableObject(hub as unknown as DurableObjectStub<ProjectHub>, (_, state) => {
      const dayMs = 86_400_000;
      for (const [n, ageDays] of [
        [100, days + 1],
        [101, days - 1],
      ] as const) {
        const id = (Date.now() - ageDays * dayMs) * AUDIT_ID_PER_MS;
        const event = { id: String(id), at: new Date(id / AUDIT_ID_PER_MS).toISOString(), ...entry(n) };
        state.storage.sql.exec(
          "INSERT INTO audit_events (id, actor_id, action, target_id, event) VALUES (?, 'admin', 'org.updated', ?, ?)",
          id,
          orgId,
          JSON.stringify(event),
        );
      }
    });
    await hub.appendAudit([entry(102)]);
    const left = await runInDurableObject(hub as unknown as DurableObjectStub<ProjectHub>, (_, state) =>
      state.storage.sql
        .exec<{ event: string }>("SELECT event FROM audit_events")
        .toArray()
        .map((r) => (JSON.parse(r.event) as AuditEvent).summary.n),
    );
    expect(left).not.toContain(100);
    expect(left).toContain(101);
    // The org's own two events, the eleven appended, 101 and 102.
    expect(left).toHaveLength(15);
  });
});

async function exportOf(format: "ndjson" | "csv", query = "") {
  const res = await exports.default.fetch(
    `http://fleetbeat.test/api/v1/audit/export?format=${format}${query ? `&${query}` : ""}`,
    { headers: { authorization: `Bearer ${org.adminKey}` } },
  );
  expect(res.status).toBe(200);
  return { headers: res.headers, text: await readText(res) };
}
