// People sign in through a real OpenID provider (oidc-provider, test/oidc-providers.ts) and act
// with a session cookie: owners, admins, operators and viewers per org, invitations by email,
// the last owner kept, removal and sign-out effective on the next request, cross-site
// mutations refused, and every step in the org's audit log.

import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { generateKeyPair, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { deviceHub } from "../../src/stubs/device-hub";
import { ACCESS_CLIENT, OTHER_CLIENT } from "../oidc-clients";
import { rewriteDeviceState } from "../support/device-state";
import { ADMIN, call, newDevice, newKey, newOrg, newProject, readText } from "./helpers";
import { Browser, codeFor, idTokenFrom } from "./sign-in";

/** An org made for `email` as its owner, and that person signed in. */
async function ownedOrg(email: string, tier: "free" | "pro" = "pro") {
  const res = await call("POST", "/orgs", { token: ADMIN, body: { name: `${email}'s org`, tier, owner_email: email } });
  expect(res.status).toBe(201);
  const owner = new Browser();
  const back = await owner.signIn(email);
  expect(back.status, await readText(back.clone())).toBe(302);
  return { orgId: res.json.org.id as string, adminKey: res.json.api_key.key as string, owner };
}

/** An invitation made by `by` (a browser in `orgId`), accepted by a new browser signed in as `email`. */
async function invited(by: Browser, orgId: string, email: string, role: string) {
  const made = await by.call("POST", "/invitations", { org: orgId, body: { email, role } });
  expect(made.status, JSON.stringify(made.json)).toBe(201);
  const person = new Browser();
  expect((await person.signIn(email)).status).toBe(302);
  const token = new URL(made.json.url).hash.replace("#/accept/", "");
  const accepted = await person.call("POST", "/invitations/accept", { body: { token } });
  expect(accepted.status, JSON.stringify(accepted.json)).toBe(200);
  return person;
}

describe("signing in", () => {
  it("signs a person in through the provider's form, sets an HttpOnly SameSite=Lax session cookie, and makes the org's named owner its owner", async () => {
    const res = await call("POST", "/orgs", {
      token: ADMIN,
      body: { name: "Owned", tier: "pro", owner_email: "alice@example.com" },
    });
    const orgId = res.json.org.id;
    const alice = new Browser();
    const back = await alice.signIn("alice@example.com", "/auth/login?return_to=%2F%23%2Ffleet");
    expect(back.status).toBe(302);
    expect(back.headers.get("location")).toBe("/#/fleet");
    const cookie = back.headers.getSetCookie().find((c) => c.startsWith("fleetbeat_session="))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).not.toMatch(/Secure/i); // plain http: local development
    const me = await alice.call("GET", "/me", { org: orgId });
    expect(me.status).toBe(200);
    expect(me.json.person).toMatchObject({ email: "alice@example.com", name: "Alice Admin", role: "owner" });
    expect(me.json.org.id).toBe(orgId);
    expect(me.json.orgs.map((o: { id: string }) => o.id)).toContain(orgId);
    expect(me.json.key).toBeUndefined();
  });

  it("refuses a replayed authorization code, an unknown session and a return path off this site", async () => {
    const b = new Browser();
    const callback = await b.toCallback("carol@example.com");
    const login = b.jar.header("http://fleetbeat.test");
    expect((await b.fetch(callback)).status).toBe(302);
    // The same code again, with the same sign-in state: the provider refuses it, and so do we.
    const replay = await exports.default.fetch(callback, { headers: { cookie: login }, redirect: "manual" });
    expect(replay.status).toBe(401);
    expect((await replay.json<{ error: { code: string } }>()).error.code).toBe("unauthorized");
    // A callback with no sign-in in progress.
    expect((await new Browser().fetch(callback)).status).toBe(401);
    const stranger = await exports.default.fetch("http://fleetbeat.test/api/v1/me", {
      headers: { cookie: "fleetbeat_session=fbs_made_up", "sec-fetch-site": "same-origin" },
    });
    expect(stranger.status).toBe(401);
    // Failed sign-ins: one that named an org is in its log; one that named none, in the deployment's.
    const named = await newOrg();
    const c2 = new Browser();
    const withOrg = await c2.toCallback("carol@example.com", `/auth/login?org_id=${named.orgId}`);
    const kept = c2.jar.header("http://fleetbeat.test");
    expect((await c2.fetch(withOrg)).status).toBe(302);
    expect((await exports.default.fetch(withOrg, { headers: { cookie: kept }, redirect: "manual" })).status).toBe(401);
    const orgLog = await call("GET", "/audit?action=person.sign_in_failed", { token: named.adminKey });
    expect(orgLog.json.events).toHaveLength(1);
    expect(orgLog.json.events[0].summary.reason).toMatch(/invalid_grant|grant/i);
    const deployment = await call("GET", "/audit/deployment?action=person.sign_in_failed", { token: ADMIN });
    expect(deployment.status).toBe(200);
    expect(
      deployment.json.events.some((e: { summary: { reason: string } }) =>
        /no sign-in in progress/.test(e.summary.reason),
      ),
    ).toBe(true);
    expect((await call("GET", "/audit/deployment", { token: named.adminKey })).status).toBe(403);
    expect((await call("GET", "/auth/login?return_to=//evil.example/x")).status).toBe(400);
    expect((await call("GET", "/auth/login?return_to=https://evil.example/")).status).toBe(400);
  });

  it("signs out on the server: the cookie stops at once, wherever it was copied", async () => {
    const { orgId, owner } = await ownedOrg("dave@example.com");
    const copied = owner.session!;
    expect((await owner.call("POST", "/auth/logout")).status).toBe(204);
    const again = await exports.default.fetch(`http://fleetbeat.test/api/v1/me?org_id=${orgId}`, {
      headers: { cookie: `fleetbeat_session=${copied}` },
    });
    expect(again.status).toBe(401);
  });

  it("refuses a cross-site mutation made with a session cookie, and takes the same one from this site", async () => {
    const { orgId, owner } = await ownedOrg("bob@example.com");
    const body = { name: "from elsewhere" };
    expect(
      (await owner.call("POST", "/projects", { org: orgId, body, headers: { "sec-fetch-site": "cross-site" } })).status,
    ).toBe(403);
    expect(
      (await owner.call("POST", "/projects", { org: orgId, body, headers: { "sec-fetch-site": "same-site" } })).status,
    ).toBe(403);
    // A browser without Fetch Metadata: its Origin decides, and no Origin is not this site.
    const noMetadata = (origin?: string) =>
      owner.fetch("http://fleetbeat.test/api/v1/projects", {
        method: "POST",
        headers: { "content-type": "application/json", "x-fleetbeat-org": orgId, ...(origin ? { origin } : {}) },
        body: JSON.stringify(body),
      });
    expect((await noMetadata("https://evil.example")).status).toBe(403);
    expect((await noMetadata()).status).toBe(403);
    expect((await noMetadata("http://fleetbeat.test")).status).toBe(201);
    expect((await owner.call("POST", "/projects", { org: orgId, body })).status).toBe(201);
  });
});

describe("tokens a correct provider would not give the Worker", () => {
  it("a code issued to another application is refused at the callback (401)", async () => {
    const b = new Browser();
    const start = await b.fetch("http://fleetbeat.test/api/v1/auth/login");
    const state = new URL(start.headers.get("location")!).searchParams.get("state")!;
    const code = await codeFor(env.OIDC_ISSUER, OTHER_CLIENT, "carol@example.com", state);
    const res = await b.fetch(
      `http://fleetbeat.test/api/v1/auth/callback?${new URLSearchParams({ code, state, iss: env.OIDC_ISSUER })}`,
    );
    expect(res.status).toBe(401);
  });

  describe("behind Cloudflare Access (Cf-Access-Jwt-Assertion, the second provider standing in for Access)", () => {
    const me = (assertion: string) =>
      exports.default.fetch("http://fleetbeat.test/api/v1/me", { headers: { "cf-access-jwt-assertion": assertion } });
    let orgId: string;
    beforeAll(async () => {
      orgId = (
        await call("POST", "/orgs", {
          token: ADMIN,
          body: { name: "Behind Access", tier: "pro", owner_email: "dave@example.com" },
        })
      ).json.org.id;
    });

    it("takes a valid assertion for this application: the person, owner of the org made for them", async () => {
      const res = await me(await idTokenFrom(env.CF_ACCESS_ISSUER, ACCESS_CLIENT, "dave@example.com"));
      expect(res.status).toBe(200);
      const body = await res.json<{ person: { email: string; role: string }; orgs: { id: string }[] }>();
      expect(body.person).toMatchObject({ email: "dave@example.com" });
      expect(body.orgs.map((o) => o.id)).toContain(orgId);
    });

    it("refuses another application's token: a wrong audience (401)", async () => {
      expect((await me(await idTokenFrom(env.CF_ACCESS_ISSUER, OTHER_CLIENT, "dave@example.com"))).status).toBe(401);
    });

    it("refuses an expired token (401): the provider's ID tokens live 1 s", async () => {
      const token = await idTokenFrom(env.CF_ACCESS_ISSUER, ACCESS_CLIENT, "dave@example.com");
      await new Promise((r) => setTimeout(r, 2_100));
      const res = await me(token);
      expect(res.status).toBe(401);
      expect(JSON.stringify(await res.json())).toMatch(/exp/);
    });

    it("refuses a bad signature (401): the team's key id, another key", async () => {
      const { privateKey } = await generateKeyPair("RS256");
      const forged = await new SignJWT({ email: "dave@example.com" })
        .setProtectedHeader({ alg: "RS256", kid: "fleetbeat-dev-own" })
        .setIssuer(env.CF_ACCESS_ISSUER)
        .setAudience(ACCESS_CLIENT.client_id)
        .setSubject("dave@example.com")
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(privateKey);
      const res = await me(forged);
      expect(res.status).toBe(401);
      expect(JSON.stringify(await res.json())).toMatch(/signature/i);
      // The main provider's token: a good signature, but not the team's issuer or keys.
      expect((await me(await idTokenFrom(env.OIDC_ISSUER, OTHER_CLIENT, "dave@example.com"))).status).toBe(401);
    });
  });
});

describe("people and invitations", () => {
  let org: Awaited<ReturnType<typeof ownedOrg>>;
  beforeAll(async () => {
    org = await ownedOrg("alice@example.com");
  });

  it("an invitation works once, for its email only, and makes its role", async () => {
    const made = await org.owner.call("POST", "/invitations", {
      org: org.orgId,
      body: { email: "Carol@Example.com", role: "viewer" },
    });
    expect(made.status).toBe(201);
    expect(made.json.invitation).toMatchObject({ email: "carol@example.com", role: "viewer" });
    expect(Date.parse(made.json.invitation.expires_at) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    const token = new URL(made.json.url).hash.replace("#/accept/", "");
    const bob = new Browser();
    await bob.signIn("bob@example.com");
    expect((await bob.call("POST", "/invitations/accept", { body: { token } })).status).toBe(404);
    const carol = new Browser();
    await carol.signIn("carol@example.com");
    const accepted = await carol.call("POST", "/invitations/accept", { body: { token } });
    expect(accepted.json).toEqual({ org_id: org.orgId, role: "viewer" });
    expect((await carol.call("POST", "/invitations/accept", { body: { token } })).status).toBe(404);
    expect((await carol.call("GET", "/me", { org: org.orgId })).json.person.role).toBe("viewer");
    // Without a session, nobody accepts anything.
    expect((await call("POST", "/invitations/accept", { body: { token } })).status).toBe(401);
    const listed = await org.owner.call("GET", `/people?org_id=${org.orgId}`, { org: org.orgId });
    expect(listed.json.people.map((p: { email: string; role: string }) => [p.email, p.role])).toEqual(
      expect.arrayContaining([
        ["alice@example.com", "owner"],
        ["carol@example.com", "viewer"],
      ]),
    );
  });

  it("keeps the last owner: neither demoted nor removed, and owners are touched by owners only", async () => {
    const { orgId, owner } = await ownedOrg("alice@example.com");
    const me = (await owner.call("GET", "/me", { org: orgId })).json.person.id;
    expect((await owner.call("PATCH", `/people/${me}`, { org: orgId, body: { role: "admin" } })).status).toBe(409);
    expect((await owner.call("DELETE", `/people/${me}`, { org: orgId })).status).toBe(409);
    const dave = await invited(owner, orgId, "dave@example.com", "admin");
    // An admin may not touch an owner, nor make one (the org has one).
    expect((await dave.call("DELETE", `/people/${me}`, { org: orgId })).status).toBe(403);
    const daveId = (await dave.call("GET", "/me", { org: orgId })).json.person.id;
    expect((await dave.call("PATCH", `/people/${daveId}`, { org: orgId, body: { role: "owner" } })).status).toBe(403);
    expect(
      (await dave.call("POST", "/invitations", { org: orgId, body: { email: "x@example.com", role: "owner" } })).status,
    ).toBe(403);
    // With a second owner, the first may step down.
    expect((await owner.call("PATCH", `/people/${daveId}`, { org: orgId, body: { role: "owner" } })).status).toBe(200);
    expect((await owner.call("PATCH", `/people/${me}`, { org: orgId, body: { role: "admin" } })).status).toBe(200);
    expect((await dave.call("DELETE", `/people/${daveId}`, { org: orgId })).status).toBe(409);
  });

  it("removing a person refuses their session's next request to the org", async () => {
    const { orgId, owner } = await ownedOrg("alice@example.com");
    const bob = await invited(owner, orgId, "bob@example.com", "operator");
    expect((await bob.call("GET", "/projects", { org: orgId })).status).toBe(200);
    const bobId = (await bob.call("GET", "/me", { org: orgId })).json.person.id;
    expect((await owner.call("DELETE", `/people/${bobId}`, { org: orgId })).status).toBe(200);
    expect((await bob.call("GET", "/projects", { org: orgId })).status).toBe(403);
  });

  it("a person of several orgs names one; one of none gets 403; a person never reaches an org they are not in", async () => {
    const a = await ownedOrg("alice@example.com");
    const b = await ownedOrg("alice@example.com");
    const several = await b.owner.call("GET", "/projects");
    expect(several.status).toBe(400);
    expect((await b.owner.call("GET", "/projects", { org: a.orgId })).status).toBe(200);
    // Or the project or device the request names decides.
    const mine = await newProject(a.adminKey);
    const { deviceId } = await newDevice(a.adminKey, mine);
    expect((await b.owner.call("GET", `/projects/${mine}`)).status).toBe(200);
    expect((await b.owner.call("GET", `/fleet/devices/${deviceId}`)).json.device.id).toBe(deviceId);
    expect((await b.owner.call("GET", `/sessions?project_id=${mine}`)).status).toBe(200);
    const other = await newOrg();
    expect((await b.owner.call("GET", "/projects", { org: other.orgId })).status).toBe(403);
    const project = await newProject(other.adminKey);
    expect((await b.owner.call("GET", `/logs?project_id=${project}`)).status).toBe(404);
    const nobody = new Browser();
    await nobody.signIn("dave@example.com");
    const me = await nobody.call("GET", "/me");
    expect([403, 200]).toContain(me.status);
  });

  it("counts people and pending invitations toward the tier's people limit", async () => {
    const { orgId, owner } = await ownedOrg("bob@example.com", "free");
    // Free: 5 people; the owner is one.
    for (let i = 0; i < 4; i++)
      expect(
        (await owner.call("POST", "/invitations", { org: orgId, body: { email: `p${i}@example.com`, role: "viewer" } }))
          .status,
      ).toBe(201);
    const over = await owner.call("POST", "/invitations", {
      org: orgId,
      body: { email: "p9@example.com", role: "viewer" },
    });
    expect(over.status).toBe(429);
    expect(over.json.error.details).toMatchObject({ quota: "people", limit: 5, used: 5 });
    const pending = await owner.call("GET", "/invitations", { org: orgId });
    expect(pending.json.invitations).toHaveLength(4);
    expect((await owner.call("DELETE", `/invitations/${pending.json.invitations[0].id}`, { org: orgId })).status).toBe(
      200,
    );
    expect(
      (await owner.call("POST", "/invitations", { org: orgId, body: { email: "p9@example.com", role: "viewer" } }))
        .status,
    ).toBe(201);
  });

  it("an admin key may invite an owner while the org has none", async () => {
    const { adminKey } = await newOrg();
    const made = await call("POST", "/invitations", {
      token: adminKey,
      body: { email: "dave@example.com", role: "owner" },
    });
    expect(made.status).toBe(201);
    expect(
      (
        await call("POST", "/invitations", {
          token: await newKey(adminKey, "viewer"),
          body: { email: "x@example.com", role: "viewer" },
        })
      ).status,
    ).toBe(403);
  });
});

describe("a person's role", () => {
  type Role = "owner" | "admin" | "operator" | "viewer";
  const ROLES: Role[] = ["owner", "admin", "operator", "viewer"];
  const as = {} as Record<Role, Browser>;
  let orgId: string;
  let projectId: string;
  let deviceId: string;
  beforeAll(async () => {
    const org = await ownedOrg("alice@example.com");
    orgId = org.orgId;
    as.owner = org.owner;
    as.admin = await invited(org.owner, orgId, "bob@example.com", "admin");
    as.operator = await invited(org.owner, orgId, "dave@example.com", "operator");
    as.viewer = await invited(org.owner, orgId, "carol@example.com", "viewer");
    projectId = await newProject(org.adminKey);
    deviceId = (await newDevice(org.adminKey, projectId)).deviceId;
  });

  const ROUTES: { route: string; allowed: Role[]; send: () => [string, string, unknown?] }[] = [
    { route: "GET /projects", allowed: ["owner", "admin", "operator", "viewer"], send: () => ["GET", "/projects"] },
    {
      route: "GET /logs/export",
      allowed: ["owner", "admin", "operator", "viewer"],
      send: () => ["GET", `/logs/export?project_id=${projectId}&format=ndjson`],
    },
    {
      route: "POST /logs/stream/ticket",
      allowed: ["owner", "admin", "operator", "viewer"],
      send: () => ["POST", "/logs/stream/ticket", { project_id: projectId }],
    },
    {
      route: "POST /fleet/commands",
      allowed: ["owner", "admin", "operator"],
      send: () => ["POST", "/fleet/commands", { device_id: deviceId, command: "dock" }],
    },
    { route: "POST /projects", allowed: ["owner", "admin"], send: () => ["POST", "/projects", { name: "by role" }] },
    {
      route: "POST /keys",
      allowed: ["owner", "admin"],
      send: () => ["POST", "/keys", { role: "viewer", name: "by role" }],
    },
    {
      route: "POST /capsules/generate",
      allowed: ["owner", "admin"],
      send: () => [
        "POST",
        "/capsules/generate",
        { project_id: projectId, device_type: "amr", environment: "production" },
      ],
    },
    {
      route: "PATCH /fleet/devices/:id",
      allowed: ["owner", "admin"],
      send: () => ["PATCH", `/fleet/devices/${deviceId}`, { name: "renamed" }],
    },
    { route: "GET /people", allowed: ["owner", "admin"], send: () => ["GET", "/people"] },
    {
      route: "POST /invitations",
      allowed: ["owner", "admin"],
      send: () => ["POST", "/invitations", { email: "new@example.com", role: "viewer" }],
    },
    { route: "GET /audit", allowed: ["owner", "admin"], send: () => ["GET", "/audit"] },
  ];

  for (const r of ROUTES) {
    for (const role of ROLES) {
      const allowed = r.allowed.includes(role);
      it(`${r.route}: ${role} ${allowed ? "may" : "is refused (403)"}`, async () => {
        const [method, path, body] = r.send();
        const res = await as[role].call(method, path, { org: orgId, ...(body !== undefined ? { body } : {}) });
        if (allowed) expect(res.status, JSON.stringify(res.json)).toBeLessThan(300);
        else {
          expect(res.status).toBe(403);
          expect(res.json.error.code).toBe("forbidden");
        }
      });
    }
  }

  it("the audit log names each person who acted, with their role, and their sign-ins", async () => {
    const events = (await as.owner.call("GET", "/audit?limit=200", { org: orgId })).json.events as {
      action: string;
      actor: { kind: string; label: string; role?: string };
    }[];
    const by = (action: string, label: string) => events.find((e) => e.action === action && e.actor.label === label);
    expect(by("person.signed_in", "alice@example.com")?.actor).toMatchObject({ kind: "person", role: "owner" });
    expect(by("person.joined", "alice@example.com")).toBeDefined();
    expect(by("person.invited", "alice@example.com")).toBeDefined();
    expect(by("person.joined", "carol@example.com")?.actor.role).toBe("viewer");
    expect(by("command.sent", "dave@example.com")?.actor).toMatchObject({ kind: "person", role: "operator" });
    expect(by("project.created", "bob@example.com")?.actor).toMatchObject({ kind: "person", role: "admin" });
  });
});

describe("activity stats", () => {
  it("count, for the day, what the org's people, keys and devices did", async () => {
    const org = await call("POST", "/orgs", {
      token: ADMIN,
      body: { name: "Active", tier: "pro", owner_email: "dave@example.com" },
    });
    const orgId = org.json.org.id;
    const adminKey = org.json.api_key.key;
    const dave = new Browser();
    expect((await dave.signIn("dave@example.com")).status).toBe(302);
    // A second sign-in, and a failed one that named the org: its code used again.
    const failing = new Browser();
    const callback = await failing.toCallback("dave@example.com", `/auth/login?org_id=${orgId}`);
    const kept = failing.jar.header("http://fleetbeat.test");
    await failing.fetch(callback);
    expect((await exports.default.fetch(callback, { headers: { cookie: kept }, redirect: "manual" })).status).toBe(401);
    // Keys: one made and revoked (the org's first key counts too).
    const spare = (await call("POST", "/keys", { token: adminKey, body: { role: "viewer", name: "spare" } })).json;
    await call("DELETE", `/keys/${spare.id}`, { token: adminKey });
    // A device registers, connects, and later goes silent.
    const projectId = await newProject(adminKey);
    const { deviceId, deviceKey } = await newDevice(adminKey, projectId);
    expect((await call("POST", "/fleet/heartbeat", { token: deviceKey, body: {} })).status).toBe(200);
    // Three commands from Dave: one succeeds, one fails, one expires.
    const send = async (ttl_s?: number) =>
      (
        await dave.call("POST", "/fleet/commands", {
          org: orgId,
          body: { device_id: deviceId, command: "dock", ...(ttl_s ? { ttl_s } : {}) },
        })
      ).json.command.id;
    const [ok1, bad, late] = [await send(), await send(), await send(1)];
    await call("GET", `/fleet/devices/${deviceId}/commands`, { token: deviceKey });
    await call("POST", `/fleet/devices/${deviceId}/commands/${ok1}/ack`, {
      token: deviceKey,
      body: { status: "succeeded" },
    });
    await call("POST", `/fleet/devices/${deviceId}/commands/${bad}/ack`, {
      token: deviceKey,
      body: { status: "failed" },
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const history = await call("GET", `/fleet/devices/${deviceId}/commands/history`, { token: adminKey });
    expect(history.json.commands.find((c: { id: string }) => c.id === late).status).toBe("expired");
    const hub = deviceHub(env, deviceId);
    await rewriteDeviceState(hub, (st) => ({ ...st, heartbeatIntervalMs: 10, lastHeartbeatAt: Date.now() - 60_000 }));
    await runDurableObjectAlarm(hub);

    const today = new Date().toISOString().slice(0, 10);
    const res = await dave.call("GET", `/stats/activity?from=${today}&to=${today}`, { org: orgId });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.days).toEqual([
      {
        date: today,
        active_people: 1,
        weekly_active_people: 1,
        monthly_active_people: 1,
        sign_ins: 2,
        failed_sign_ins: 1,
        commands_sent: 3,
        commands_succeeded: 1,
        commands_failed: 1,
        commands_expired: 1,
        devices_registered: 1,
        devices_connected: 1,
        devices_disconnected: 1,
        keys_created: 2,
        keys_revoked: 1,
      },
    ]);
    // A viewer key reads no activity; a range too long is refused.
    expect((await call("GET", "/stats/activity", { token: await newKey(adminKey, "viewer") })).status).toBe(403);
    expect((await call("GET", "/stats/activity?from=2026-01-01&to=2026-12-31", { token: adminKey })).status).toBe(400);
  });
});
