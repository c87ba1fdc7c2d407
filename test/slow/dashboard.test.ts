// The dashboard in headless Chromium (Debian's package, driven by playwright-core) against a
// real `npm start`: sign in with an org key, the fleet shows the seeded device, a line a
// device sends appears in the live view within 2 seconds, a level filter narrows it, pause
// holds lines back and resume shows them, export downloads the filtered rows, a session's
// file and its bundle download, an image previews, the usage view shows the counters, and
// nothing is logged to the console as an error. Every view is saved as a screenshot at 1280
// and 390 px wide, and dark at 1280, under test/slow/screenshots/ (git ignores it).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Server, api, newTenant, startServer } from "./support/server.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = path.join(import.meta.dirname, "screenshots");
const WIDTHS = [1280, 390] as const;

describe.skipIf(!existsSync(CHROMIUM))("the dashboard in Chromium", () => {
  let server: Server;
  let state: string;
  let browser: Browser;
  beforeAll(async () => {
    state = mkdtempSync(path.join(tmpdir(), "fleetbeat-dashboard-"));
    server = await startServer({ state });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    mkdirSync(SHOTS, { recursive: true });
  }, 200_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(state, { recursive: true, force: true });
  });

  it("signs in, shows the fleet, tails lines live with filters and pause, lists files and usage", async () => {
    const base = server.api;
    const origin = base.replace("/api/v1", "");
    const tenant = await newTenant(server, "Dashboard org");
    const reg = await api(base, "POST", "/fleet/register", { body: { dsn: "AMR-DASH-1", registration_token: tenant.registrationToken, name: "Picker 1" } });
    const deviceKey = reg.json.device_key as string;
    // newTenant's capsule is for the testing environment.
    await api(base, "POST", "/fleet/heartbeat", { token: deviceKey, body: { metrics: { battery_level: 77 } } });
    await api(base, "POST", "/sessions", { token: deviceKey, body: { session_id: "shift-1" } });
    await fetch(`${base}/sessions/shift-1/artifacts/maps/floor.pgm`, { method: "PUT", headers: { authorization: `Bearer ${deviceKey}` }, body: new Uint8Array(64) });
    // A 2×2 PNG, which the files view previews.
    const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==", "base64");
    await fetch(`${base}/sessions/shift-1/artifacts/camera/snap.png`, { method: "PUT", headers: { authorization: `Bearer ${deviceKey}`, "content-type": "image/png" }, body: png });
    const send = (level: string, message: string) =>
      api(base, "POST", "/logs/ingest", { token: deviceKey, body: { session_id: "shift-1", logs: [{ timestamp: new Date().toISOString(), level, module: "arm", message }] } });

    const errors: string[] = [];
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(e.message));
    const shoot = async (name: string) => {
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: 900 });
        await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
      }
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.emulateMedia({ colorScheme: "dark" });
      await page.screenshot({ path: path.join(SHOTS, `${name}-1280-dark.png`), fullPage: true });
      await page.emulateMedia({ colorScheme: "light" });
    };

    await page.goto(`${origin}/`);
    await shoot("sign-in");
    await page.getByLabel("API key").fill(tenant.adminKey);
    await page.getByLabel("API key").press("Enter");
    await page.getByRole("navigation", { name: "Views" }).waitFor();

    // Fleet: the seeded device, on its environment's tab (the tabs also answer arrow keys).
    await page.getByRole("tab", { name: "production" }).focus();
    await page.keyboard.press("ArrowRight");
    expect(await page.getByRole("tab", { name: "testing" }).getAttribute("aria-selected")).toBe("true");
    await page.getByText("Picker 1").waitFor();
    expect(await page.getByRole("list", { name: "Devices" }).textContent()).toContain("online");
    await shoot("fleet");

    // The device: details, its metrics chart, and (admin) a command that shows in its history.
    await page.getByRole("link", { name: "Picker 1" }).click();
    await page.getByRole("img", { name: "battery_level over the last 24 hours" }).waitFor();
    await page.getByLabel("Command", { exact: true }).fill("reboot");
    await page.getByRole("button", { name: "Send command" }).click();
    await page.getByRole("list", { name: "Command history" }).getByText("reboot").waitFor();
    await shoot("device");

    // Logs: a line appears within 2 seconds of being accepted.
    await page.getByRole("link", { name: "Logs" }).click();
    await page.getByRole("status").getByText("live").waitFor();
    const sent = Date.now();
    await send("ERROR", "gripper stalled at bay 4");
    await page.getByText("gripper stalled at bay 4").waitFor({ timeout: 2_000 });
    const seenMs = Date.now() - sent;

    // A level filter narrows the stream: with INFO unticked, an INFO line does not show; an ERROR does.
    await page.getByRole("checkbox", { name: "INFO" }).uncheck();
    await page.waitForTimeout(300);
    await send("INFO", "routine pose update");
    await send("ERROR", "second fault after filter");
    await page.getByText("second fault after filter").waitFor({ timeout: 2_000 });
    expect(await page.getByText("routine pose update").count()).toBe(0);

    // Pause holds new lines back; resume shows them.
    await page.getByRole("button", { name: "Pause" }).click();
    await send("ERROR", "held while paused");
    await page.getByRole("button", { name: "Resume (1 held)" }).waitFor({ timeout: 2_000 });
    expect(await page.getByText("held while paused").count()).toBe(0);
    await page.getByRole("button", { name: /Resume/ }).click();
    await page.getByText("held while paused").waitFor();
    await shoot("logs");

    // Many lines stay a window of rows in the page: 20,000 ERROR lines arrive, the page holds a few dozen rows.
    for (let b = 0; b < 20; b++) {
      const logs = Array.from({ length: 1000 }, (_, i) => ({ timestamp: new Date().toISOString(), level: "ERROR", module: "bulk", message: `bulk ${b}-${i}` }));
      await api(base, "POST", "/logs/ingest", { token: deviceKey, body: { logs } });
    }
    await page.getByText(/^2\d,\d{3} lines/).waitFor({ timeout: 20_000 });
    expect(await page.locator(".rows-window li").count()).toBeLessThan(200);
    // A module filter starts from that module's last 100 lines; scrolled to the top, older ones are read and put above.
    await page.getByRole("checkbox", { name: "Auto-scroll" }).uncheck();
    await page.getByLabel("Module").fill("bulk");
    await page.getByLabel("Module").press("Enter");
    await page.getByText("100 lines; scroll up for older ones").waitFor();
    await page.locator("div.log").evaluate((el) => (el.scrollTop = 400));
    await page.locator("div.log").evaluate((el) => (el.scrollTop = 0));
    await page.getByText("300 lines; scroll up for older ones").waitFor({ timeout: 5_000 });
    // And by keyboard, with the button beside the count.
    await page.getByRole("button", { name: "Load older lines" }).click();
    await page.getByText("500 lines; scroll up for older ones").waitFor({ timeout: 5_000 });
    await page.getByLabel("Module").fill("");
    await page.getByLabel("Module").press("Enter");
    await page.getByRole("checkbox", { name: "Auto-scroll" }).check();

    // Export downloads the rows of the current filter (INFO is unticked) through a one-time link.
    const [exported] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
    const csv = readFileSync((await exported.path())!, "utf8");
    expect(csv).toMatch(/^id,timestamp,device_id,session_id,level,module,/);
    expect(csv).toContain("gripper stalled at bay 4");
    expect(csv).not.toContain("routine pose update");

    // Sessions, and the session's files.
    await page.getByRole("link", { name: "Sessions" }).click();
    await page.getByRole("link", { name: "shift-1" }).click();
    await page.getByRole("button", { name: "Download maps/floor.pgm" }).waitFor();
    await page.getByRole("img", { name: "camera/snap.png" }).waitFor();
    const [file] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download maps/floor.pgm" }).click()]);
    expect(readFileSync((await file.path())!).byteLength).toBe(64);
    const [bundle] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download the session (zip)" }).click()]);
    expect(readFileSync((await bundle.path())!).subarray(0, 2).toString()).toBe("PK");
    await shoot("files");
    await page.getByRole("link", { name: "All sessions" }).click();
    await page.getByRole("table").waitFor();
    await shoot("sessions");
    // Each session links to its lines.
    await page.getByRole("link", { name: "logs", exact: true }).click();
    await page.getByText("gripper stalled at bay 4").waitFor();
    expect(await page.getByLabel("Session").inputValue()).toBe("shift-1");

    // Usage: the counters, beside their limits.
    await page.getByRole("link", { name: "Usage" }).click();
    const logsRow = page.locator('tr[data-counter="logs"]');
    await logsRow.waitFor();
    expect(Number((await logsRow.locator("td").first().textContent())!.replace(/\D/g, ""))).toBeGreaterThanOrEqual(4);
    await shoot("usage");

    // Reload keeps the view (its URL) and the sign-in (this tab's session storage).
    await page.reload();
    await page.locator('tr[data-counter="logs"]').waitFor();

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").waitFor();

    // A viewer key sees the same device with no control that changes anything.
    await page.getByLabel("API key").fill(tenant.viewerKey);
    await page.getByLabel("API key").press("Enter");
    await page.goto(`${origin}/#/devices/${reg.json.device_id}`);
    await page.getByRole("list", { name: "Command history" }).getByText("reboot").waitFor();
    expect(await page.getByRole("button", { name: "Send command" }).count()).toBe(0);
    expect(await page.getByRole("button", { name: "Decommission" }).count()).toBe(0);
    console.log(`[dashboard] a line reached the live view ${seenMs} ms after the request was sent; screenshots in ${path.relative(process.cwd(), SHOTS)}`);
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it("serves the page with a strict Content-Security-Policy", async () => {
    const res = await fetch(`${server.api.replace("/api/v1", "")}/`);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });
});

