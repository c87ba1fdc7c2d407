// What answers which path in a real `npm start` (wrangler dev with the [assets] of
// wrangler.toml): the API paths (/api/*, /loki/*, /v1/*) always reach the Worker, even when a
// browser asks for a page, so no asset answers them; /docs is the API reference page and /
// the dashboard, both with the dashboard's CSP. GET /api/v1/metrics is read by a Prometheus
// text-format parser. In Chromium (when there is one), /docs draws every operation of
// openapi.json, its search narrows them, and nothing breaks the CSP.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, newTenant, type Server, startServer } from "./support/server.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = path.join(import.meta.dirname, "screenshots");
/** What a browser sends when it navigates to a URL: the request an HTML fallback would answer. */
const NAVIGATE = {
  accept: "text/html,application/xhtml+xml,*/*;q=0.8",
  "sec-fetch-mode": "navigate",
  "sec-fetch-dest": "document",
};

describe("paths in wrangler dev", () => {
  let server: Server;
  let state: string;
  let origin: string;
  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-routing-"));
    server = await startServer({ state });
    origin = server.api.replace("/api/v1", "");
  }, 200_000);
  afterAll(async () => {
    await server?.stop();
    if (state) rmSync(state, { recursive: true, force: true });
  });

  it("sends /loki/*, /v1/* and /api/* to the Worker, even a browser's navigation", async () => {
    for (const [method, route, status] of [
      ["GET", "/loki/api/v1/labels", 401],
      ["GET", "/loki/api/v1/query_range?query=%7Bdevice_type%3D%22amr%22%7D", 401],
      ["POST", "/v1/logs", 401],
      ["GET", "/v1/logs", 404],
      ["GET", "/api/v1/metrics?project_id=prj_01JEXAMPLE0000000000000000", 401],
      ["GET", "/api/v1/no-such-route", 404],
    ] as const) {
      const res = await fetch(`${origin}${route}`, {
        method,
        headers: { ...NAVIGATE, ...(method === "POST" ? { "content-type": "application/json" } : {}) },
        body: method === "POST" ? "{}" : undefined,
      });
      const text = await res.text();
      expect(res.headers.get("content-type"), `${method} ${route}`).toMatch(/^application\/json/);
      expect(text, `${method} ${route}`).not.toMatch(/<!doctype html>/i);
      expect(res.status, `${method} ${route}: ${text}`).toBe(status);
    }
  });

  it("serves the API reference at /docs and the dashboard at /, as static files with the CSP", async () => {
    const docs = await fetch(`${origin}/docs`, { headers: NAVIGATE, redirect: "manual" });
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await docs.text();
    expect(html).toContain("<title>fleetbeat API reference</title>");
    expect(html).not.toMatch(/https?:\/\//);
    expect(docs.headers.get("content-security-policy")).toContain("script-src 'self'");
    const dashboard = await fetch(`${origin}/`, { headers: NAVIGATE });
    expect(await dashboard.text()).toContain("<title>fleetbeat</title>");
    expect(dashboard.headers.get("content-security-policy")).toContain("default-src 'self'");
  });

  it("answers GET /api/v1/metrics in the Prometheus text format to a viewer key", async () => {
    const t = await newTenant(server, "Metrics org");
    const reg = await api(server.api, "POST", "/fleet/register", {
      body: { dsn: 'AMR-"q"\\1', registration_token: t.registrationToken },
    });
    expect(reg.status).toBe(201);
    await api(server.api, "POST", "/fleet/heartbeat", {
      token: reg.json.device_key,
      body: { metrics: { battery_level: 64, cpu_usage: 7.5 } },
    });
    const res = await fetch(`${server.api}/metrics?project_id=${t.projectId}`, {
      headers: { authorization: `Bearer ${t.viewerKey}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(await res.text());
    const sample = (name: string) => families.find((f) => f.name === name)?.metrics[0];
    expect(sample("fleetbeat_device_up")).toEqual({
      value: "1",
      labels: { device_id: reg.json.device_id, dsn: 'AMR-"q"\\1', device_type: "amr", environment: "testing" },
    });
    expect(sample("fleetbeat_device_battery_level_percent")?.value).toBe("64");
    expect(sample("fleetbeat_device_cpu_usage_percent")?.value).toBe("7.5");
    expect(sample("fleetbeat_project_devices")?.value).toBe("1");
  });

  it.skipIf(!existsSync(CHROMIUM))(
    "draws every operation of openapi.json at /docs, with a search, within the CSP",
    async () => {
      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const errors: string[] = [];
        page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(`${origin}/docs`);
        const doc = (await (await fetch(`${server.api}/openapi.json`)).json()) as { paths: Record<string, object> };
        // A path's keys are its methods, and `servers` where it is not under /api/v1 (OTLP's /v1/logs).
        const total = Object.values(doc.paths).reduce(
          (n, item) => n + Object.keys(item).filter((k) => k !== "servers").length,
          0,
        );
        await page.getByRole("status").getByText(`${total} operations`).waitFor();
        expect(await page.locator("section.operation").count()).toBe(total);
        // The heartbeat's body fields, with types and whether each is required.
        const heartbeat = page.locator("section.operation", {
          has: page.getByRole("heading", { name: "POST /fleet/heartbeat" }),
        });
        expect(await heartbeat.getByRole("table", { name: "JSON body" }).textContent()).toContain(
          'status"online" | "maintenance" | "error"optionaldefault "online"',
        );
        expect(await heartbeat.textContent()).toContain("device key");
        // How it refuses, with the messages a client would read.
        const refusals = await heartbeat.getByRole("table", { name: "Errors" }).textContent();
        expect(refusals).toContain("401");
        expect(refusals).toContain("invalid or decommissioned device key");
        expect(refusals).toContain("400");
        // OTLP's path is at the site's root, and says so.
        const otlp = page.locator("section.operation", { has: page.getByRole("heading", { name: "POST /v1/logs" }) });
        expect(await otlp.textContent()).toContain(`at ${origin}, not under the base URL`);
        // Search narrows to what mentions every word.
        await page.getByLabel("Search").fill("prometheus");
        await page.getByRole("status").getByText(`1 of ${total} operations`).waitFor();
        expect(await page.getByRole("heading", { name: "GET /metrics" }).isVisible()).toBe(true);
        mkdirSync(SHOTS, { recursive: true });
        await page.screenshot({ path: path.join(SHOTS, "docs-search-1280.png"), fullPage: true });
        // A nested body (each log line's fields under logs[].) for the screenshots.
        await page.getByLabel("Search").fill("post ingest");
        await page.getByRole("heading", { name: "POST /logs/ingest" }).waitFor();
        expect(await page.getByRole("table", { name: "JSON body" }).textContent()).toContain("logs[].level");
        await page.screenshot({ path: path.join(SHOTS, "docs-ingest-1280.png"), fullPage: true });
        await page.getByLabel("Search").fill("");
        await page.setViewportSize({ width: 390, height: 900 });
        await page.screenshot({ path: path.join(SHOTS, "docs-390.png") });
        // The way back to the dashboard, and the dashboard's way here.
        await page.getByRole("link", { name: "Dashboard" }).click();
        await page.getByRole("link", { name: "API reference" }).waitFor();
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
});
