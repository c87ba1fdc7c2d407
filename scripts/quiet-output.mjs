// What `npm start` shows of its children's output, so the line to paste stays in sight: the D1
// migrations in one line, and wrangler dev without its start-up tables, its per-request lines
// (the demo fleet makes a few a second) and the dashboard's rebuild chatter. Errors always
// show. VERBOSE=1 npm start shows everything as the tools print it.
import { stripVTControlCharacters as plain } from "node:util";

/** `wrangler d1 migrations apply`'s output in one line: how many it applied, of `total` in all. */
export function migrationsSummary(output, total) {
  // Its table names each migration it is about to apply, one row each: "│ 0003_stats.sql │".
  const applied = [...plain(output).matchAll(/^│\s*\d+_\S+\.sql\s*│$/gm)].length;
  return applied > 0 ? `D1: ${applied} migrations applied (${total} in all)` : `D1: up to date (${total} migrations)`;
}

/** A request wrangler dev logs: `[wrangler:info] POST /api/v1/fleet/heartbeat 200 OK (12ms)`. */
const REQUEST = /^\[wrangler:info\] (?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ (\d{3})\b/;

/** The dashboard's build (`[custom build]`, vite) saying what it did: its errors are not chatter. */
const isBuildChatter = (text) => text.startsWith("[custom build]") && !/error/i.test(text);

/**
 * A filter over wrangler dev's lines, in order: `take(line)` answers the lines to show now.
 * Until the server is ready its banner, bindings table and build output are held back (all of
 * it comes out at once if an error shows first: a start that fails says why). A reload after a
 * file changed is one line, unless it fails. Requests show only when they fail with a 5xx,
 * builds only their errors, and blank lines never twice in a row.
 */
export function wranglerFilter() {
  let ready = false;
  let held = [];
  let lastBlank = true;
  /** The file whose change wrangler is reloading for, while it does. */
  let reloading = null;
  const blankOnce = (line) => {
    const blank = plain(line).trim() === "";
    if (blank && lastBlank) return [];
    lastBlank = blank;
    return [line];
  };
  return {
    take(line) {
      const text = plain(line);
      if (!ready) {
        if (/Ready on https?:\/\//.test(text)) {
          ready = true;
          held = [];
          return [];
        }
        if (!/\[ERROR\]|✘/.test(text)) {
          held.push(line);
          return [];
        }
        ready = true;
        const out = [...held, line];
        held = [];
        return out;
      }
      const changed = /^The file (.+) changed, restarting build/.exec(text);
      if (changed) {
        reloading = changed[1];
        held = [];
        return [];
      }
      if (reloading !== null) {
        if (/\[ERROR\]|✘/.test(text)) {
          const out = [...held.filter((l) => !isBuildChatter(plain(l))), line];
          held = [];
          reloading = null;
          return out;
        }
        if (!/updated and ready/.test(text)) {
          held.push(line);
          return [];
        }
        const file = reloading;
        held = [];
        reloading = null;
        return [`wrangler: reloaded (${file} changed)`];
      }
      const request = REQUEST.exec(text);
      if (request) return Number(request[1]) >= 500 ? [line] : [];
      if (isBuildChatter(text)) return [];
      return blankOnce(line);
    },
    /** What is still held back: wrangler's output, should it stop before it was ready. */
    held: () => held,
  };
}
