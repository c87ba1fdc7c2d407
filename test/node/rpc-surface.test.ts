// A Durable Object class is its RPC surface and nothing more: every public method of DeviceHub
// and ProjectHub is called from outside the class (a route, a use case, a middleware, another
// object), or is a handler the runtime calls. Anything else belongs in a part, or is private.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const HUBS = ["durable-objects/device-hub/hub.ts", "durable-objects/project-hub/hub.ts"];
/** What the runtime calls on a Durable Object. */
const RUNTIME = new Set(["constructor", "fetch", "alarm", "webSocketMessage", "webSocketClose", "webSocketError"]);

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    return statSync(path.join(ROOT, rel)).isDirectory() ? sources(rel) : rel.endsWith(".ts") ? [rel] : [];
  });
}

/** Names of the public methods the Durable Object class declares (members sit two spaces in). */
function publicMethods(file: string): string[] {
  const source = readFileSync(path.join(ROOT, file), "utf8");
  const start = source.search(/^export class \w+ extends DurableObject/m);
  const text = source.slice(start, source.indexOf("\n}\n", start));
  return [...text.matchAll(/^ {2}(?:override\s+)?(?:async\s+)?([A-Za-z_]\w*)\s*\(/gm)]
    .map((m) => m[1]!)
    .filter((name) => !RUNTIME.has(name));
}

describe("the Durable Objects' RPC surface", () => {
  const callers = [...sources("src"), ...sources("durable-objects")].map((f) => ({
    file: f,
    text: readFileSync(path.join(ROOT, f), "utf8"),
  }));

  for (const hub of HUBS) {
    it(`${hub} exposes only methods someone outside it calls`, () => {
      const methods = publicMethods(hub);
      expect(methods.length).toBeGreaterThan(3);
      const uncalled = methods.filter(
        (m) => !callers.some((c) => c.file !== hub && new RegExp(`\\.${m}\\(`).test(c.text)),
      );
      expect(uncalled, "public methods nothing outside the class calls").toEqual([]);
    });
  }
});
