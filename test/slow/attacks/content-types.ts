// Hostile content types, opened in Chromium the way the attack did. A device uploads
// files whose bodies are script (HTML, XHTML, SVG, XSLT-shaped XML, a multipart page) under
// types a browser would run: `image/png, text/html` (browsers take the last type of a list),
// `text/html`, `text/xsl`, `image/svg+xml`, `TEXT/HTML;charset=utf-8`… Each is opened in the tab
// of a signed-in dashboard (its org key in sessionStorage, as web/src/api.ts keeps it) through a
// one-time download link, and through the API with the viewer key as a header. Had any script
// run, it would have set the tab's title, written localStorage, and fetched a marker URL with
// the key it read. A control page (the same script, served by the drill itself without
// fleetbeat's headers) proves the markers work: it must trip all of them.
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { expect } from "vitest";
import { api, newTenant, type Server } from "../support/server.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** What the script sets, and the path of the marker it fetches; nothing of fleetbeat answers that path. */
const PWNED = "fleetbeat-drill-pwned";
const MARKER = "/__fleetbeat_drill_marker";
/** The dashboard's key in sessionStorage (web/src/api.ts). */
const DASHBOARD_KEY = "fleetbeat.key";

/** [stored Content-Type, body kind]. The body is script in the form that type would run. */
const HOSTILE: [string, Body][] = [
  ["image/png, text/html", "html"],
  ["text/plain, text/html", "html"],
  ["image/svg+xml, text/html", "html"],
  ["text/html", "html"],
  ["TEXT/HTML;charset=utf-8", "html"],
  [" text/html ; charset=utf-8", "html"],
  ["text/html;", "html"],
  ["text/xsl", "xhtml"],
  ["text/xml", "xhtml"],
  ["application/xml", "xhtml"],
  ["application/xhtml+xml", "xhtml"],
  ["image/svg+xml", "svg"],
  ["multipart/x-mixed-replace; boundary=drill", "multipart"],
  ["application/octet-stream", "html"],
  ["not a type", "html"],
  // Types shown inline: the body is still script, and must stay text or a broken image.
  ["text/plain", "html"],
  ["text/plain; charset=utf-8", "html"],
  ["image/png", "html"],
  ["image/svg+xml; charset=utf-8", "svg"],
];

type Body = "html" | "xhtml" | "svg" | "multipart";

/** What one opening saw. */
export interface Opening {
  type: string;
  via: "link" | "api";
  /** Chromium rendered the answer in the tab, or took it as a download. */
  outcome: "rendered" | "downloaded";
  /** The tab's title afterwards was the script's. */
  titleSet: boolean;
}

export interface ContentTypeSummary {
  /** Each hostile type, as the API serves it (a plain fetch with the viewer key). */
  served: {
    type: string;
    content_type: string | null;
    disposition: string | null;
    csp: string | null;
    nosniff: boolean;
  }[];
  openings: Opening[];
  /** Marker URLs fetched by files' script (each names the page that ran it); empty when none ran. */
  markers: string[];
  /** localStorage of the app's origin holds the script's mark. */
  localStorageWritten: boolean;
  /** The control page (no fleetbeat headers) ran its script and tripped every marker: the drill can see script run. */
  controlTripped: boolean;
}

/** The marker script: title, localStorage, and a fetch (and an image, which CORS cannot stop) carrying the dashboard's key. */
function script(): string {
  const leak = `'${MARKER}?from='+encodeURIComponent(location.href)+'&key='+encodeURIComponent(String(sessionStorage.getItem('${DASHBOARD_KEY}')))`;
  return [
    `document.title='${PWNED}';`,
    `try{localStorage.setItem('${PWNED}','1')}catch(e){}`,
    `try{fetch(${leak})}catch(e){}`,
    `try{new Image().src=${leak}}catch(e){}`,
  ].join("");
}

function payload(kind: Body): string {
  const js = script();
  switch (kind) {
    case "html":
      return `<!doctype html><html><head><title>file</title><script>${js}</script></head><body><img src="x" onerror="${js.replace(/"/g, "&quot;")}"></body></html>`;
    case "xhtml":
      return `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>file</title></head><body><script>//<![CDATA[\n${js}\n//]]></script></body></html>`;
    case "svg":
      return `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>//<![CDATA[\n${js}\n//]]></script></svg>`;
    case "multipart":
      return `--drill\r\nContent-Type: text/html\r\n\r\n<script>${js}</script>\r\n--drill--\r\n`;
  }
}

/** Navigates the tab to `url`: rendered, or taken as a download (which Chromium reports as a failed navigation). */
async function open(page: Page, url: string): Promise<"rendered" | "downloaded"> {
  const download = page.waitForEvent("download", { timeout: 15_000 }).catch(() => null);
  try {
    await page.goto(url, { waitUntil: "load" });
    return "rendered";
  } catch (err) {
    if (!/Download is starting|net::ERR_ABORTED/.test(String(err))) throw err;
    const d = await download;
    if (!d) throw new Error(`${url}: navigation aborted without a download: ${String(err)}`);
    await d.delete();
    return "downloaded";
  }
}

/** A tab of the dashboard's origin, signed in (its key in sessionStorage), recording marker fetches. */
async function signedInTab(context: BrowserContext, origin: string, key: string, markers: string[]): Promise<Page> {
  await context.route(`**${MARKER}*`, (route) => {
    markers.push(route.request().url());
    return route.fulfill({ status: 204 });
  });
  const page = await context.newPage();
  page.on("dialog", (d) => void d.dismiss());
  await page.goto(`${origin}/api/v1/health`);
  await page.evaluate(([name, value]) => sessionStorage.setItem(name!, value!), [DASHBOARD_KEY, key]);
  return page;
}

/**
 * Runs the drill against `server` in Chromium (`browser`, or one launched from CHROMIUM_PATH,
 * /usr/bin/chromium by default) and asserts that no file's script ran, whatever its type and
 * however it was opened. Answers what it saw.
 */
export async function contentTypeDrill(server: Server, opts: { browser?: Browser } = {}): Promise<ContentTypeSummary> {
  const base = server.api;
  const origin = new URL(base).origin;
  const tenant = await newTenant(server, "Content-type drill");
  const reg = await api(base, "POST", "/fleet/register", {
    body: { dsn: `CT-${Date.now()}`, registration_token: tenant.registrationToken },
  });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.json)}`);
  const deviceKey = reg.json.device_key as string;
  const sessionId = `content-types-${Date.now()}`;
  await api(base, "POST", "/sessions", { token: deviceKey, body: { session_id: sessionId } });

  const files = HOSTILE.map(([type, kind], i) => ({ type, path: `hostile/${i}.html`, body: payload(kind) }));
  for (const f of files) {
    const res = await fetch(`${base}/sessions/${sessionId}/artifacts/${f.path}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${deviceKey}`, "content-type": f.type },
      body: f.body,
    });
    if (res.status !== 201) throw new Error(`upload ${JSON.stringify(f.type)}: ${res.status} ${await res.text()}`);
  }
  const apiUrl = (path: string) => `${base}/sessions/${sessionId}/files/download?path=${encodeURIComponent(path)}`;

  const served: ContentTypeSummary["served"] = [];
  for (const f of files) {
    const res = await fetch(apiUrl(f.path), { headers: { authorization: `Bearer ${tenant.viewerKey}` } });
    await res.arrayBuffer();
    served.push({
      type: f.type,
      content_type: res.headers.get("content-type"),
      disposition: res.headers.get("content-disposition"),
      csp: res.headers.get("content-security-policy"),
      nosniff: res.headers.get("x-content-type-options") === "nosniff",
    });
  }

  const browser = opts.browser ?? (await chromium.launch({ executablePath: CHROMIUM, headless: true }));
  const markers: string[] = [];
  const openings: Opening[] = [];
  let localStorageWritten = false;
  let controlTripped = false;
  try {
    // Through one-time links, in the signed-in tab: the attack.
    const viaLink = await browser.newContext({ acceptDownloads: true });
    const tab = await signedInTab(viaLink, origin, tenant.adminKey, markers);
    for (const f of files) {
      const minted = await api(base, "POST", "/downloads/ticket", {
        token: tenant.viewerKey,
        body: { href: `/sessions/${sessionId}/files/download?path=${encodeURIComponent(f.path)}` },
      });
      if (minted.status !== 200) throw new Error(`ticket: ${minted.status} ${JSON.stringify(minted.json)}`);
      const outcome = await open(tab, minted.json.url);
      openings.push({ type: f.type, via: "link", outcome, titleSet: (await tab.title()) === PWNED });
    }
    // Through the API, the viewer key sent as a header by the browser itself.
    const viaApi = await browser.newContext({
      acceptDownloads: true,
      extraHTTPHeaders: { authorization: `Bearer ${tenant.viewerKey}` },
    });
    const apiTab = await signedInTab(viaApi, origin, tenant.adminKey, markers);
    for (const f of files) {
      const outcome = await open(apiTab, apiUrl(f.path));
      openings.push({ type: f.type, via: "api", outcome, titleSet: (await apiTab.title()) === PWNED });
    }
    // Back on the app's origin in each tab: nothing wrote its storage.
    for (const page of [tab, apiTab]) {
      await page.goto(`${origin}/api/v1/health`);
      if ((await page.evaluate((name) => localStorage.getItem(name), PWNED)) !== null) localStorageWritten = true;
    }

    // The control: the same script from the same origin, without fleetbeat's answer headers.
    const controlMarkers: string[] = [];
    const control = await browser.newContext();
    const controlTab = await signedInTab(control, origin, tenant.adminKey, controlMarkers);
    await control.route(`${origin}/__fleetbeat_drill_control`, (route) =>
      route.fulfill({ status: 200, contentType: "text/html", body: payload("html") }),
    );
    await controlTab.goto(`${origin}/__fleetbeat_drill_control`, { waitUntil: "load" });
    await expect.poll(() => controlMarkers.length, { timeout: 10_000 }).toBeGreaterThan(0);
    const controlStorage = await controlTab.evaluate((name) => localStorage.getItem(name), PWNED);
    controlTripped =
      (await controlTab.title()) === PWNED &&
      controlStorage === "1" &&
      controlMarkers.some((m) => m.includes(encodeURIComponent(tenant.adminKey)));
    await controlTab.evaluate((name) => localStorage.removeItem(name), PWNED);
    await Promise.all([viaLink.close(), viaApi.close(), control.close()]);
  } finally {
    if (!opts.browser) await browser.close();
  }

  const summary: ContentTypeSummary = { served, openings, markers, localStorageWritten, controlTripped };
  const report = JSON.stringify(summary, null, 2);
  expect(
    controlTripped,
    `the control page's script should trip the markers, or the drill sees nothing:\n${report}`,
  ).toBe(true);
  expect(markers, `script of an uploaded file ran:\n${report}`).toEqual([]);
  expect(
    openings.filter((o) => o.titleSet),
    `script of an uploaded file set the title:\n${report}`,
  ).toEqual([]);
  expect(localStorageWritten, `script of an uploaded file wrote the app's localStorage:\n${report}`).toBe(false);
  for (const s of served) {
    expect(s.csp, `${s.type}: every download is sandboxed`).toBe("sandbox");
    expect(s.nosniff, `${s.type}: every download is served with nosniff`).toBe(true);
  }
  return summary;
}
