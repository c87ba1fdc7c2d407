// The dashboard's weight: its page (web/dist/index.html) and everything it loads (scripts,
// their imported chunks, stylesheets, the icon) are at most 200 KB gzipped. The API reference
// (/docs, its own page) is not counted. `npm test` builds web/dist first (pretest).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

const DIST = path.join(import.meta.dirname, "../../web/dist");
const BUDGET = 200 * 1024;

/** Same-origin files a page or a script names: src/href in HTML, imports and url() in scripts and styles. */
function referenced(file: string, text: string): string[] {
  const found = new Set<string>();
  const patterns = file.endsWith(".html")
    ? [/(?:src|href)="([^"]+)"/g]
    : file.endsWith(".css")
      ? [/url\(["']?([^"')]+)["']?\)/g]
      : [/(?:from|import)\s*\(?\s*["']([^"']+\.(?:js|css))["']/g, /["'](\/assets\/[^"']+)["']/g];
  for (const pattern of patterns) {
    for (const m of text.matchAll(pattern)) {
      const ref = m[1]!;
      if (/^(https?:|data:|blob:|#|mailto:)/.test(ref) || ref.startsWith("/docs") || ref.startsWith("/api/")) continue;
      found.add(ref.startsWith("/") ? path.join(DIST, ref) : path.resolve(path.dirname(file), ref));
    }
  }
  return [...found].filter((f) => existsSync(f));
}

describe.skipIf(!existsSync(path.join(DIST, "index.html")))("the dashboard's weight", () => {
  it("loads at most 200 KB gzipped, /docs excluded", () => {
    const seen = new Map<string, number>();
    const queue = [path.join(DIST, "index.html")];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      const bytes = readFileSync(file);
      seen.set(file, gzipSync(bytes, { level: 9 }).length);
      if (/\.(html|js|css)$/.test(file)) queue.push(...referenced(file, bytes.toString("utf8")));
    }
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    const files = [...seen].map(([f, n]) => `${path.relative(DIST, f)} ${(n / 1024).toFixed(1)} KB`).join(", ");
    console.log(`dashboard: ${(total / 1024).toFixed(1)} KB gzipped in ${seen.size} files (${files})`);
    // A page that loads nothing would pass too: it must load its script and its styles.
    expect([...seen.keys()].some((f) => f.endsWith(".js"))).toBe(true);
    expect([...seen.keys()].some((f) => f.endsWith(".css"))).toBe(true);
    expect(total).toBeLessThanOrEqual(BUDGET);
  });
});
