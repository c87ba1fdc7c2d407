// The D1 repositories called directly, against real D1: the version rules ProjectHubs rely on
// when they write transitions, and the guards routes rely on. (Sessions left D1: their claim and
// version rules are tested on the project's object, project-sessions.test.ts.)
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { type Device, listDevices, markDecommissioned, upsertRegisteredDevice, writeTransitions } from "../../src/db/repos/devices";
import type { PresenceReport } from "../../src/contract/presence";
import { insertKey, revokeKeyUnlessLastAdmin } from "../../src/db/repos/keys";
import { createOrgWithAdminKey } from "../../src/db/repos/orgs";
import { createProject } from "../../src/db/repos/projects";
import { consumeToken, deleteTokensExpiredBefore, insertToken } from "../../src/db/repos/tokens";

const db = createDb(env.DB);

/** An org with one project and `n` registered devices, made through the repositories. */
async function fleet(n = 1) {
  const { org, key } = await createOrgWithAdminKey(db, { name: "Repo Test", tier: "pro" }, { name: "admin", keyHash: crypto.randomUUID(), prefix: "fbk_test" });
  const project = await createProject(db, org.id, "repos");
  const devices: Device[] = [];
  for (let i = 0; i < n; i++) {
    devices.push(
      await upsertRegisteredDevice(db, {
        orgId: org.id,
        projectId: project.id,
        dsn: `SN-${crypto.randomUUID().slice(0, 8)}`,
        deviceType: "amr",
        environment: "production",
        heartbeatIntervalMs: 30_000,
      }),
    );
  }
  return { org, key, project, devices, owner: (i: number) => ({ orgId: org.id, projectId: project.id, deviceId: devices[i]!.id }) };
}

const presence = (deviceId: string, version: number, extra: Partial<PresenceReport> = {}): PresenceReport & { deviceId: string } => ({
  deviceId,
  status: "online",
  status_changed_at: 1_000 * version,
  last_seen_at: 1_000 * version,
  last_heartbeat_at: 1_000 * version,
  metrics: { cpu_usage: version },
  current_session_id: null,
  last_log_at: null,
  version,
  at: 1_000 * version,
  ...extra,
});

const presenceRow = (id: string) =>
  env.DB.prepare("SELECT status, status_changed_at, last_heartbeat_at, metrics, presence_version FROM devices WHERE id = ?").bind(id).first<any>();

describe("writeTransitions", () => {
  const write = (projectId: string, ...reports: ReturnType<typeof presence>[]) => writeTransitions(db, projectId, reports);

  it("a newer version overwrites the row, with the moment of the transition; an older or equal one changes nothing", async () => {
    const { project, devices } = await fleet();
    const id = devices[0]!.id;
    await write(project.id, presence(id, 5, { status: "error" }));
    expect(await presenceRow(id)).toEqual({ status: "error", status_changed_at: 5_000, last_heartbeat_at: 5_000, metrics: '{"cpu_usage":5}', presence_version: 5 });

    await write(project.id, presence(id, 3, { status: "online" }), presence(id, 5, { status: "maintenance" }));
    expect(await presenceRow(id)).toMatchObject({ status: "error", presence_version: 5 });

    await write(project.id, presence(id, 6, { status: "offline", metrics: null }));
    expect(await presenceRow(id)).toEqual({ status: "offline", status_changed_at: 6_000, last_heartbeat_at: 6_000, metrics: null, presence_version: 6 });
    // A device that does not know when its status changed (from before it was kept) leaves the moment as it was.
    await write(project.id, presence(id, 7, { status: "offline", status_changed_at: null }));
    expect(await presenceRow(id)).toMatchObject({ status_changed_at: 6_000, presence_version: 7 });
  });

  it("touches only the devices it names, of the project it names, and never a decommissioned one", async () => {
    const { project, devices } = await fleet(3);
    const other = await fleet();
    await write(project.id, presence(devices[0]!.id, 1), presence(other.devices[0]!.id, 1));
    expect(await presenceRow(devices[1]!.id)).toMatchObject({ status: "offline", presence_version: 0 });
    expect(await presenceRow(other.devices[0]!.id)).toMatchObject({ status: "offline", presence_version: 0 });
    await markDecommissioned(db, devices[2]!.id, 1_000);
    await write(project.id, presence(devices[2]!.id, 9));
    expect(await presenceRow(devices[2]!.id)).toMatchObject({ status: "offline", presence_version: 0 });
  });
});

describe("guards the routes rely on", () => {
  it("a registration token is consumed once, however many race for it", async () => {
    const f = await fleet(0);
    const token = await insertToken(db, {
      orgId: f.org.id,
      projectId: f.project.id,
      tokenHash: crypto.randomUUID(),
      deviceType: "amr",
      environment: "production",
      name: null,
      dsn: null,
      expiresAt: Date.now() + 60_000,
    });
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => consumeToken(db, token.id, Date.now())));
    expect(outcomes.filter(Boolean)).toHaveLength(1);
  });

  it("expired tokens are deleted in chunks of at most the limit", async () => {
    const f = await fleet(0);
    const expired = { orgId: f.org.id, projectId: f.project.id, deviceType: "amr", environment: "production" as const, name: null, dsn: null, expiresAt: 1 };
    for (let i = 0; i < 3; i++) await insertToken(db, { ...expired, tokenHash: crypto.randomUUID() });
    expect(await deleteTokensExpiredBefore(db, 2, 2)).toBe(2);
    expect(await deleteTokensExpiredBefore(db, 2, 2)).toBeLessThan(2);
  });

  it("the last live admin key is never revoked; a viewer key is", async () => {
    const f = await fleet(0);
    const viewer = await insertKey(db, f.org.id, { name: "viewer", role: "viewer", keyHash: crypto.randomUUID(), prefix: "fbk_v" });
    expect(await revokeKeyUnlessLastAdmin(db, f.org.id, f.key.id)).toBe("last_admin");
    expect(await revokeKeyUnlessLastAdmin(db, f.org.id, viewer.id)).toBe("revoked");
    expect(await revokeKeyUnlessLastAdmin(db, f.org.id, viewer.id)).toBe("not_found");
    const other = await fleet(0);
    expect(await revokeKeyUnlessLastAdmin(db, other.org.id, viewer.id)).toBe("not_found");
  });

  it("device search is a literal substring: % and _ match only themselves", async () => {
    const f = await fleet(0);
    const register = (dsn: string) =>
      upsertRegisteredDevice(db, { orgId: f.org.id, projectId: f.project.id, dsn, deviceType: "amr", environment: "testing", heartbeatIntervalMs: 30_000 });
    const percent = await register("ARM_100%");
    await register("ARMX1000");
    const all = { project_id: f.project.id, include_decommissioned: "false" as const };
    expect((await listDevices(db, f.org.id, { ...all, q: "m_100%" }, { limit: 10 })).map((d) => d.id)).toEqual([percent.id]);
    expect(await listDevices(db, f.org.id, { ...all, q: "%" }, { limit: 10 })).toHaveLength(1);
    expect(await listDevices(db, f.org.id, { ...all, q: "arm" }, { limit: 10 })).toHaveLength(2);
  });
});
