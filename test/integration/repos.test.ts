// The D1 repositories called directly, against real D1: the version rules ProjectHubs rely on
// when they write transitions, and the guards routes rely on. (Sessions left D1: their claim and
// version rules are tested on the project's object, project-sessions.test.ts.)
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { type Device, listDevices, upsertRegisteredDevice, writeProjectStatuses } from "../../src/db/repos/devices";
import { insertKey, revokeKeyUnlessLastAdmin } from "../../src/db/repos/keys";
import { createOrgWithAdminKey } from "../../src/db/repos/orgs";
import { createProject } from "../../src/db/repos/projects";
import { consumeToken, deleteTokensExpiredBefore, insertToken } from "../../src/db/repos/tokens";

const db = createDb(env.DB);

/** An org with one project and `n` registered devices, made through the repositories. */
async function fleet(n = 1) {
  const { org, key } = await createOrgWithAdminKey(
    db,
    { name: "Repo Test", tier: "pro" },
    { name: "admin", keyHash: crypto.randomUUID(), prefix: "fbk_test" },
  );
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
  return {
    org,
    key,
    project,
    devices,
    owner: (i: number) => ({ orgId: org.id, projectId: project.id, deviceId: devices[i]!.id }),
  };
}

const ids = (rows: Device[]) => rows.map((d) => d.id).sort();

describe("writeProjectStatuses and the status filter", () => {
  it("one row per project holds its devices' statuses; the filter reads it, offline being every device it does not list", async () => {
    const { org, project, devices } = await fleet(3);
    const [a, b, c] = devices.map((d) => d.id) as [string, string, string];
    const list = (status: "online" | "offline" | "error", projectId?: string) =>
      listDevices(
        db,
        org.id,
        { status, include_decommissioned: "false", ...(projectId ? { project_id: projectId } : {}) },
        { limit: 10 },
      );
    // Before the project's object has written anything, every device is offline, as registered.
    expect(ids(await list("offline", project.id))).toEqual([a, b, c].sort());
    await writeProjectStatuses(db, project.id, { [a]: ["online", 1], [b]: ["error", 2] }, 1_000);
    expect(ids(await list("online", project.id))).toEqual([a]);
    expect(ids(await list("error"))).toEqual([b]);
    expect(ids(await list("offline", project.id))).toEqual([c]);
    // A rewrite replaces the row whole: one D1 row, however many devices changed.
    const rows = await env.DB.prepare(
      "INSERT INTO project_statuses (project_id, statuses, written_at) VALUES (?, '{}', 0) ON CONFLICT (project_id) DO UPDATE SET statuses = excluded.statuses",
    )
      .bind(project.id)
      .run();
    expect(rows.meta.rows_written).toBe(1);
    await writeProjectStatuses(db, project.id, { [c]: ["online", 3] }, 2_000);
    expect(ids(await list("online"))).toEqual([c]);
    expect(ids(await list("offline", project.id))).toEqual([a, b].sort());
  });

  it("never reaches another project or org, and a deleted project's row is not written again", async () => {
    const one = await fleet(1);
    const two = await fleet(1);
    await writeProjectStatuses(
      db,
      one.project.id,
      { [one.devices[0]!.id]: ["online", 1], [two.devices[0]!.id]: ["online", 1] },
      1_000,
    );
    expect(
      ids(await listDevices(db, two.org.id, { status: "online", include_decommissioned: "false" }, { limit: 10 })),
    ).toEqual([]);
    expect(
      ids(await listDevices(db, one.org.id, { status: "online", include_decommissioned: "false" }, { limit: 10 })),
    ).toEqual([one.devices[0]!.id]);
    await env.DB.prepare("DELETE FROM projects WHERE id = ?").bind(two.project.id).run();
    await writeProjectStatuses(db, two.project.id, { [two.devices[0]!.id]: ["online", 2] }, 2_000);
    expect(
      await env.DB.prepare("SELECT count(*) AS n FROM project_statuses WHERE project_id = ?")
        .bind(two.project.id)
        .first("n"),
    ).toBe(0);
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
    const expired = {
      orgId: f.org.id,
      projectId: f.project.id,
      deviceType: "amr",
      environment: "production" as const,
      name: null,
      dsn: null,
      expiresAt: 1,
    };
    for (let i = 0; i < 3; i++) await insertToken(db, { ...expired, tokenHash: crypto.randomUUID() });
    expect(await deleteTokensExpiredBefore(db, 2, 2)).toBe(2);
    expect(await deleteTokensExpiredBefore(db, 2, 2)).toBeLessThan(2);
  });

  it("the last live admin key is never revoked; a viewer key is", async () => {
    const f = await fleet(0);
    const viewer = await insertKey(db, f.org.id, {
      name: "viewer",
      role: "viewer",
      keyHash: crypto.randomUUID(),
      prefix: "fbk_v",
    });
    expect(await revokeKeyUnlessLastAdmin(db, f.org.id, f.key.id)).toBe("last_admin");
    expect(await revokeKeyUnlessLastAdmin(db, f.org.id, viewer.id)).toBe("revoked");
    expect(await revokeKeyUnlessLastAdmin(db, f.org.id, viewer.id)).toBe("not_found");
    const other = await fleet(0);
    expect(await revokeKeyUnlessLastAdmin(db, other.org.id, viewer.id)).toBe("not_found");
  });

  it("device search is a literal substring: % and _ match only themselves", async () => {
    const f = await fleet(0);
    const register = (dsn: string) =>
      upsertRegisteredDevice(db, {
        orgId: f.org.id,
        projectId: f.project.id,
        dsn,
        deviceType: "amr",
        environment: "testing",
        heartbeatIntervalMs: 30_000,
      });
    const percent = await register("ARM_100%");
    await register("ARMX1000");
    const all = { project_id: f.project.id, include_decommissioned: "false" as const };
    expect((await listDevices(db, f.org.id, { ...all, q: "m_100%" }, { limit: 10 })).map((d) => d.id)).toEqual([
      percent.id,
    ]);
    expect(await listDevices(db, f.org.id, { ...all, q: "%" }, { limit: 10 })).toHaveLength(1);
    expect(await listDevices(db, f.org.id, { ...all, q: "arm" }, { limit: 10 })).toHaveLength(2);
  });
});
