// API key roles: admin, operator, viewer (docs/security.md). Each route that changes something
// is tried with a key of each role: the roles its row allows get past the role check (a real
// answer, not 403), the others get 403 `forbidden` and change nothing. An operator sends
// commands, deletes session files and silences alert rules, and nothing else an admin does.
import { beforeAll, describe, expect, it } from "vitest";
import { call, newKey, tenant } from "./helpers";

type Role = "admin" | "operator" | "viewer";
const ROLES: Role[] = ["admin", "operator", "viewer"];

let t: Awaited<ReturnType<typeof tenant>>;
const keys = {} as Record<Role, string>;
let ruleId: string;

beforeAll(async () => {
  t = await tenant();
  keys.admin = t.adminKey;
  keys.viewer = t.viewerKey;
  keys.operator = await newKey(t.adminKey, "operator");
  const rule = await call("POST", "/alert-rules", {
    token: t.adminKey,
    body: {
      project_id: t.projectId,
      kind: "device_offline",
      params: { for_s: 300 },
      name: "offline",
      targets: [{ url: "http://127.0.0.1:9/hook" }],
    },
  });
  expect(rule.status).toBe(201);
  ruleId = rule.json.rule.id;
});

/** Each route that changes something, who may call it, and a request that does no lasting harm when allowed. */
const ROUTES: { route: string; allowed: Role[]; send: () => [string, string, unknown?] }[] = [
  { route: "POST /projects", allowed: ["admin"], send: () => ["POST", "/projects", { name: "roles" }] },
  {
    route: "DELETE /projects/:id",
    allowed: ["admin"],
    send: () => ["DELETE", "/projects/prj_00000000000000000000000000"],
  },
  { route: "POST /keys", allowed: ["admin"], send: () => ["POST", "/keys", { role: "viewer", name: "made in roles" }] },
  { route: "GET /keys", allowed: ["admin"], send: () => ["GET", "/keys"] },
  { route: "DELETE /keys/:id", allowed: ["admin"], send: () => ["DELETE", "/keys/key_00000000000000000000000000"] },
  {
    route: "POST /capsules/generate",
    allowed: ["admin"],
    send: () => [
      "POST",
      "/capsules/generate",
      { project_id: t.projectId, device_type: "amr", environment: "production" },
    ],
  },
  {
    route: "PATCH /fleet/devices/:id",
    allowed: ["admin"],
    send: () => ["PATCH", `/fleet/devices/${t.deviceId}`, { name: "renamed" }],
  },
  {
    route: "PUT /fleet/devices/:id",
    allowed: ["admin"],
    send: () => ["PUT", `/fleet/devices/${t.deviceId}`, { name: "renamed" }],
  },
  {
    route: "DELETE /fleet/devices/:id",
    allowed: ["admin"],
    send: () => ["DELETE", "/fleet/devices/dev_00000000000000000000000000"],
  },
  {
    route: "POST /fleet/commands",
    allowed: ["admin", "operator"],
    send: () => ["POST", "/fleet/commands", { device_id: t.deviceId, command: "reboot" }],
  },
  {
    route: "POST /alert-rules",
    allowed: ["admin"],
    send: () => [
      "POST",
      "/alert-rules",
      {
        project_id: t.projectId,
        kind: "device_offline",
        params: { for_s: 300 },
        name: "more",
        targets: [{ url: "http://127.0.0.1:9/x" }],
      },
    ],
  },
  {
    route: "PATCH /alert-rules/:id (silence)",
    allowed: ["admin", "operator"],
    send: () => ["PATCH", `/alert-rules/${ruleId}`, { silenced_until: new Date(Date.now() + 3_600_000).toISOString() }],
  },
  {
    route: "PATCH /alert-rules/:id (change)",
    allowed: ["admin"],
    send: () => ["PATCH", `/alert-rules/${ruleId}`, { name: "renamed rule" }],
  },
  {
    route: "DELETE /alert-rules/:id",
    allowed: ["admin"],
    send: () => ["DELETE", "/alert-rules/alr_00000000000000000000000000"],
  },
  {
    route: "DELETE /sessions/:id/files",
    allowed: ["admin", "operator"],
    send: () => ["DELETE", "/sessions/run-1/files?path=none.bin"],
  },
];

describe("API key roles", () => {
  for (const { route, allowed, send } of ROUTES) {
    for (const role of ROLES) {
      const may = allowed.includes(role);
      it(`${route}: ${role} ${may ? "may" : "may not"}`, async () => {
        const [method, path, body] = send();
        const res = await call(method, path, { token: keys[role], body });
        if (may) expect([401, 403], `${res.status} ${JSON.stringify(res.json)}`).not.toContain(res.status);
        else {
          expect(res.status).toBe(403);
          expect(res.json.error.code).toBe("forbidden");
        }
      });
    }
  }

  it("lets an operator queue a command, which shows who sent it, and silence a rule, for real", async () => {
    const sent = await call("POST", "/fleet/commands", {
      token: keys.operator,
      body: { device_id: t.deviceId, command: "calibrate" },
    });
    expect(sent.status, JSON.stringify(sent.json)).toBe(201);
    const me = await call("GET", "/me", { token: keys.operator });
    const sender = { kind: "key", id: me.json.key.id, label: "operator key" };
    expect(sent.json.command.sent_by).toEqual(sender);
    const history = await call("GET", `/fleet/devices/${t.deviceId}/commands/history`, { token: keys.viewer });
    expect(history.json.commands.find((c: { id: string }) => c.id === sent.json.command.id).sent_by).toEqual(sender);
    const until = new Date(Date.now() + 7_200_000).toISOString();
    const silenced = await call("PATCH", `/alert-rules/${ruleId}`, {
      token: keys.operator,
      body: { silenced_until: until },
    });
    expect(silenced.status).toBe(200);
    expect(Date.parse(silenced.json.rule.silenced_until)).toBe(Date.parse(until));
  });

  it("refuses an operator a change beside the silence, and changes nothing", async () => {
    const res = await call("PATCH", `/alert-rules/${ruleId}`, {
      token: keys.operator,
      body: { silenced_until: null, name: "sneaky" },
    });
    expect(res.status).toBe(403);
    expect(res.json.error.message).toContain("name");
    const rule = await call("GET", `/alert-rules/${ruleId}`, { token: keys.viewer });
    expect(rule.json.rule.name).not.toBe("sneaky");
  });

  it("makes operator keys, and each key records the key that created it", async () => {
    const made = await call("POST", "/keys", { token: keys.admin, body: { role: "operator", name: "line lead" } });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ role: "operator", name: "line lead" });
    const me = await call("GET", "/me", { token: made.json.key });
    expect(me.json.key.role).toBe("operator");
    const list = await call("GET", "/keys", { token: keys.admin });
    const byId = new Map<string, { created_by: string | null; role: string }>(
      list.json.keys.map((k: { id: string }) => [k.id, k]),
    );
    const admin = list.json.keys.find(
      (k: { role: string; created_by: string | null }) => k.role === "admin" && k.created_by === null,
    );
    // The org's first key was made by the server admin with the org: no key made it.
    expect(admin).toBeDefined();
    expect(byId.get(made.json.id)).toMatchObject({ role: "operator", created_by: admin.id });
  });
});
