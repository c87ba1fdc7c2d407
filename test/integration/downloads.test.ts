// One-time download links: a plain URL serves an export, a session file or a bundle once,
// within 60 s, without an Authorization header, and only for the org and while its key lives.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, ingest, line, readText, tenant } from "./helpers";

const BASE = "http://fleetbeat.test/api/v1";
const plain = (url: string) => exports.default.fetch(url);

describe("download links", () => {
  it("serve an export, a file and a bundle once, without a key", async () => {
    const t = await tenant();
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "dl" } });
    await ingest(t.deviceKey, { session_id: "dl", logs: [line("ERROR", "boom"), line("INFO", "fine")] });
    const body = new TextEncoder().encode("x,y\n");
    await exports.default.fetch(`${BASE}/sessions/dl/artifacts/data.csv`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${t.deviceKey}`,
        "content-length": String(body.byteLength),
        "content-type": "text/csv",
      },
      body,
    });
    const mint = async (href: string) => call("POST", "/downloads/ticket", { token: t.viewerKey, body: { href } });

    const exp = await mint(`/logs/export?session_id=dl&level=ERROR&format=csv`);
    expect(exp.status).toBe(200);
    expect(exp.json.url).toMatch(/^http:\/\/fleetbeat\.test\/api\/v1\/downloads\/fbl_/);
    expect(Date.parse(exp.json.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);
    const csv = await plain(exp.json.url);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-disposition")).toMatch(/^attachment/);
    const text = await readText(csv);
    expect(text).toContain("boom");
    expect(text).not.toContain("fine");
    const again = await plain(exp.json.url);
    expect(again.status).toBe(401);
    await again.arrayBuffer();

    const file = await mint(`/api/v1/sessions/dl/files/download?path=data.csv`);
    const got = await plain(file.json.url);
    expect(got.status).toBe(200);
    expect(await readText(got)).toBe("x,y\n");

    const bundle = await mint(`/sessions/dl/bundle`);
    const zip = await plain(bundle.json.url);
    expect(zip.headers.get("content-type")).toBe("application/zip");
    await zip.arrayBuffer();
  });

  it("serve every file, export and bundle sandboxed and unsniffed, and a hostile type only as an attachment", async () => {
    const t = await tenant();
    await call("POST", "/sessions", { token: t.deviceKey, body: { session_id: "hostile" } });
    await ingest(t.deviceKey, { session_id: "hostile", logs: [line("INFO", "<script>document.title='ran'</script>")] });
    const script = new TextEncoder().encode("<script>document.title='ran'</script>");
    const types = [
      "image/png, text/html",
      "text/html",
      "text/xsl",
      "image/svg+xml",
      "text/plain, text/html",
      "TEXT/HTML;charset=utf-8",
    ];
    for (const [i, type] of types.entries()) {
      await exports.default.fetch(`${BASE}/sessions/hostile/artifacts/page${i}`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${t.deviceKey}`,
          "content-length": String(script.byteLength),
          "content-type": type,
        },
        body: script,
      });
    }
    const link = async (href: string) =>
      plain((await call("POST", "/downloads/ticket", { token: t.viewerKey, body: { href } })).json.url);
    const answers: [string, Response][] = [
      ...(await Promise.all(
        types.map(
          async (type, i): Promise<[string, Response]> => [
            type,
            await link(`/sessions/hostile/files/download?path=page${i}`),
          ],
        ),
      )),
      ["export csv", await link("/logs/export?session_id=hostile&format=csv")],
      ["export json", await link("/logs/export?session_id=hostile&format=json")],
      ["bundle", await link("/sessions/hostile/bundle")],
    ];
    for (const [what, res] of answers) {
      expect(res.status, what).toBe(200);
      expect(res.headers.get("content-security-policy"), what).toBe("sandbox");
      expect(res.headers.get("x-content-type-options"), what).toBe("nosniff");
      expect(res.headers.get("content-disposition"), what).toMatch(/^attachment/);
      expect(res.headers.get("content-type"), what).not.toMatch(/,/);
      await res.arrayBuffer();
    }
    // The API's own export answers likewise.
    const exported = await exports.default.fetch(`${BASE}/logs/export?session_id=hostile&format=ndjson`, {
      headers: { authorization: `Bearer ${t.viewerKey}` },
    });
    expect(exported.headers.get("content-security-policy")).toBe("sandbox");
    expect(exported.headers.get("x-content-type-options")).toBe("nosniff");
    await exported.arrayBuffer();
  });

  it("refuse other paths, other orgs' files, expired links and revoked keys", async () => {
    const t = await tenant();
    const stranger = await tenant();
    await call("POST", "/sessions", { token: stranger.deviceKey, body: { session_id: "theirs" } });
    for (const href of [
      "/keys",
      "/logs?project_id=x",
      "https://evil.example/logs/export",
      "//evil.example/api/v1/logs/export",
    ]) {
      const res = await call("POST", "/downloads/ticket", { token: t.viewerKey, body: { href } });
      expect(res.status, href).toBe(400);
      expect(res.json.error.details[0].path).toBe("href");
    }
    expect(
      (await call("POST", "/downloads/ticket", { token: t.viewerKey, body: { href: "/sessions/theirs/bundle" } }))
        .status,
    ).toBe(404);
    expect(
      (await call("POST", "/downloads/ticket", { token: t.deviceKey, body: { href: "/logs/export?device_id=x" } }))
        .status,
    ).toBe(403);

    const expiring = await call("POST", "/downloads/ticket", {
      token: t.viewerKey,
      body: { href: `/logs/export?project_id=${t.projectId}` },
    });
    await env.DB.prepare("UPDATE download_tickets SET expires_at = ?")
      .bind(Date.now() - 1)
      .run();
    expect((await plain(expiring.json.url)).status).toBe(401);

    const key = await call("POST", "/keys", { token: t.adminKey, body: { role: "viewer", name: "short-lived" } });
    const link = await call("POST", "/downloads/ticket", {
      token: key.json.key,
      body: { href: `/logs/export?project_id=${t.projectId}` },
    });
    expect((await call("DELETE", `/keys/${key.json.id}`, { token: t.adminKey })).status).toBeLessThan(300);
    expect((await plain(link.json.url)).status).toBe(401);
  });
});
